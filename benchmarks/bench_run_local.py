"""Wall time of `pack run` for a trivial task on the local backend, and entrypoint overhead.

    python benchmarks/bench_run_local.py [--runs N]

1. `pack run -o json` as a user runs it (a subprocess, fresh cache dir): the first run
   (bundle uploaded) and warm runs (bundle reused), split with the `timings` object
   into package / publish / inputs / render / spawn / task / exit / read_back.
2. The in-container entrypoints run directly, as the local backend runs them:
   `pack-execute` alone (code already extracted) and `pack-fast-execute -- pack-execute`
   (bundle fetched and extracted into a fresh dir), each against `python -c pass`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TASK = """
from pack import task


@task
def noop(x: int = 1) -> int:
    return x
"""


def clean_env(cache: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PACK_CACHE_DIR"] = str(cache)
    return env


def timed(argv: list[str], *, cwd: Path, env: dict[str, str]) -> tuple[float, str]:
    start = time.perf_counter()
    proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{argv[:3]} failed ({proc.returncode}):\n{proc.stderr}")
    return elapsed, proc.stdout


def med(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:7.1f} ms"


def bench_pack_run(work: Path, runs: int) -> None:
    cache = work / "cache"
    env = clean_env(cache)
    argv = [
        sys.executable,
        "-m",
        "pack.cli",
        "run",
        "-o",
        "json",
        str(work / "proj" / "bench_wf.py"),
        "noop",
        "--x",
        "2",
    ]
    # `python -m pack.cli` needs a __main__; fall back to the console script beside python.
    script = Path(sys.executable).parent / "pack"
    if script.is_file():
        argv = [str(script), *argv[3:]]
    walls: list[float] = []
    phases: dict[str, list[float]] = {}
    first: dict[str, float] = {}
    for i in range(runs + 1):
        wall, out = timed(argv, cwd=work, env=env)
        doc = json.loads(out)
        assert doc["outputs"]["o0"] == 2
        if i == 0:
            first = doc["timings"] | {"wall": wall}
            continue
        walls.append(wall)
        for k, v in doc["timings"].items():
            phases.setdefault(k, []).append(v)
    print(f"pack run (trivial task, local backend, {runs} warm runs; medians)")
    print(
        f"  wall time of the `pack` process   {med(walls)}   (first run, bundle uploaded: {first['wall'] * 1000:.1f} ms)"
    )
    order = [
        "package",
        "publish",
        "image",
        "inputs",
        "render",
        "spawn",
        "spawn.fetch_bundle",
        "task",
        "exit",
        "read_back",
        "total",
    ]
    for k in order:
        if k in phases:
            print(f"  {k:<32} {med(phases[k])}   (first: {first.get(k, 0) * 1000:.1f} ms)")
    print("  (wall - total = interpreter start, CLI imports, loading the task file)")


def bench_entrypoints(work: Path, runs: int) -> None:
    from pack.config import Config
    from pack.launcher.entrypoint import program_for
    from pack.launcher.execution import Execution, new_execution_id
    from pack.launcher.load import load_task
    from pack.launcher.podspec import BundleInfo, container_args, execute_args
    from pack.launcher.types.engine import TypeContext, default_engine
    from pack.packager.publish import plan_package, publish
    from pack.packager.store import open_store, write_url

    cache = work / "cache-ep"
    config = Config(cache_dir=cache)
    env = clean_env(cache)
    task, source = load_task(work / "proj" / "bench_wf.py", "noop")
    plan = plan_package(source.root, "auto", source.file, cache_dir=cache)
    tmp = cache / "tmp"
    tmp.mkdir(parents=True)
    bundle = publish(plan, open_store(config.store_url), tmp_dir=tmp)
    execution = Execution(new_execution_id(), "bench", "dev", config.store_url)
    lm = default_engine().to_literal_map({"x": 5}, task.interface.inputs, TypeContext())
    write_url(execution.inputs_url, lm.SerializeToString())
    code_dir = work / "proj"

    base, exe, fast = [], [], []
    for i in range(runs):
        base.append(timed([sys.executable, "-c", "pass"], cwd=work, env=env)[0])
        ex = execution.with_attempt(2 * i + 1)
        argv = program_for(execute_args(task.module, task.name, ex))
        exe.append(timed(argv, cwd=code_dir, env=env)[0])
        ex = execution.with_attempt(2 * i + 2)
        argv = program_for(container_args(task.module, task.name, ex, BundleInfo(bundle.url)))
        fresh = Path(tempfile.mkdtemp(dir=work))
        fast.append(timed(argv, cwd=fresh, env=env)[0])
    b = statistics.median(base)
    print(f"\nentrypoints ({runs} runs each; medians; trivial task, file:// store)")
    print(f"  python -c pass                      {med(base)}")
    print(
        f"  pack-execute                        {med(exe)}   overhead {(statistics.median(exe) - b) * 1000:6.1f} ms"
    )
    print(
        f"  pack-fast-execute -- pack-execute   {med(fast)}   overhead {(statistics.median(fast) - b) * 1000:6.1f} ms  (target <= 500 ms)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pack-bench-") as tmp:
        work = Path(tmp)
        (work / "proj").mkdir()
        (work / "proj" / "bench_wf.py").write_text(TASK)
        bench_pack_run(work, args.runs)
        bench_entrypoints(work, args.runs)


if __name__ == "__main__":
    main()
