"""One-task `pack run`s of two (or more) packs and a bare pod, interleaved, in one run.

    python benchmarks/bench_onetask_ab.py [--rounds 40] [--seed 5] PYTHON [PYTHON ...]

Each PYTHON is an interpreter whose `pack` is the one to measure (a venv with another
checkout installed: `git worktree add /tmp/old REV` and `pip install -e /tmp/old` into a
venv). Every round runs `pack run --backend kubernetes wf.py one` once with each (the code
changed before every run, so its bundle is uploaded again) and creates one bare pod of the
first pack's task image doing `python3 -c ...`, in a shuffled order, each after a random
part of a second: the kubelet reports pod status on a one-second clock, so one figure
needs many runs at random phases (see bench_workflow.py), and interleaving puts every side
under the same machine at the same time. Prints, per pack, the median and the mean wall
and their differences to the bare pod's.

Needs the test servers (scripts/test-infra up; scripts/test-cluster up); each pack's first
run builds or reuses its task image (its runtime is that pack).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from bench_run_remote import AWS, BUCKET, KUBECONFIG, bench_s3, pack_env
from bench_workflow import TEMPLATE, WORKFLOW, bare_pods, touch


def one_task(python: str, work: Path, store: str) -> tuple[float, dict[str, Any]]:
    argv = [python, "-m", "pack", "run", "--copy", "all", "--backend", "kubernetes"]
    argv += ["--store", store, "-o", "json"]
    for name in AWS:
        argv += ["--pass-env", name]
    argv += ["wf.py", "one"]
    start = time.perf_counter()
    proc = subprocess.run(argv, cwd=work, env=pack_env(work), capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{python} -m pack run failed:\n{proc.stderr[-3000:]}")
    return elapsed, json.loads(proc.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("pythons", nargs="+", metavar="PYTHON")
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--seed", type=int, default=5)
    opts = parser.parse_args()
    from kubernetes import client, config

    for python in opts.pythons:  # each compiled as an install would (see bench_workflow)
        subprocess.run(
            [
                python,
                "-c",
                "import compileall, os, pack; compileall.compile_dir("
                "os.path.dirname(pack.__file__), quiet=1)",
            ],
            check=True,
        )
    bench_s3()  # the bucket in place
    store = f"s3://{BUCKET}/{uuid.uuid4().hex[:8]}"
    works = []
    for _ in opts.pythons:
        work = Path(tempfile.mkdtemp()) / "k8s" / "project"
        work.mkdir(parents=True)
        (work / "wf.py").write_text(WORKFLOW)
        (work.parent / "template.yaml").write_text(TEMPLATE)
        works.append(work)
    print("warming up (each pack's task image built or reused) ...", flush=True)
    images = [one_task(p, w, store)[1]["image"] for p, w in zip(opts.pythons, works, strict=True)]
    api = client.CoreV1Api(config.new_client_from_config(config_file=KUBECONFIG))
    bare_pods(api, images[0], 1)
    rng = random.Random(opts.seed)
    walls: list[list[float]] = [[] for _ in opts.pythons]
    bare: list[float] = []
    sides: list[int | None] = [*range(len(opts.pythons)), None]
    for _ in range(opts.rounds):
        rng.shuffle(sides)
        for side in sides:
            time.sleep(rng.random())
            if side is None:
                bare.append(bare_pods(api, images[0], 1))
            else:
                touch(works[side])
                walls[side].append(one_task(opts.pythons[side], works[side], store)[0])
    mb, ab = statistics.median(bare), statistics.mean(bare)
    print(f"\none task, {opts.rounds} rounds, random phases, interleaved")
    print(f"  bare pod   median {mb:.2f} s   mean {ab:.2f} s")
    for python, values in zip(opts.pythons, walls, strict=True):
        m, a = statistics.median(values), statistics.mean(values)
        print(f"  {python}: median {m:.2f} s ({m - mb:+.2f})   mean {a:.2f} s ({a - ab:+.2f})")


if __name__ == "__main__":
    sys.exit(main())
