"""Where a task pod's own time goes, in the task image on the cluster, beside bare Python.

    python benchmarks/bench_inpod.py [--rounds 15] [--pods 1] [--imports MS] [--image OTHER]...

Needs the test servers (scripts/test-infra up; scripts/test-cluster up). One warm
`pack run --keep` of bench_workflow's task `one` (its image, built or reused, and a
bundle and inputs in the store) gives the exact pod pack submits; then ONE pod of that
image and env (hostNetwork, the test credentials as plain env) runs, --rounds times in
turn:
  bare      `python3 -c WORK`
  pack      the pod's own command (pack-fast-execute ... -- pack-execute ...), each
            round with a new --dest-dir (the bundle fetched and extracted again) and a
            new --output-prefix
timed by the pod's shell ($EPOCHREALTIME), then once with PYTHONPROFILEIMPORTTIME=1.
Container start, the kubelet and the client are the same for a pack pod and a bare
pod and are left out: what is printed is what pack adds inside the container, split
with the run's timings.json marks (same clock):
  python start      exec -> fast_execute_start (interpreter, site, `pack`, the entrypoint)
  store setup       -> fetch_start
  bundle fetch      fetch_start -> fetch_end (GET, verify, extract)
  hand-over         fetch_end -> execute_start (in process, or exec of pack-execute)
  inputs            execute_start -> inputs_read (store and protobuf imports, inputs.pb
                    GET, waiting for it if it is not there yet)
  task load         inputs_read -> task_start (the task's module, type engine, decoding)
  task              task_start -> task_end
  outputs           task_end -> outputs_written
  timings + exit    outputs_written -> process gone (timings.json PUT, exit handlers)
Medians of the rounds (the first round, which warms the page cache, is dropped), and the
in-pod imports over --imports ms (cumulative, top level and the heaviest nested ones).
With --image, the same rounds run next in a pod of each image named (the task image of
another pack, e.g. main's before a change: same pod args, its own pack inside); with
--pods N, N pods of each image in turn, their rounds pooled.
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from bench_run_remote import AWS, BUCKET, KUBECONFIG, bench_pod, bench_s3, compile_pack, kept_pod
from bench_workflow import TEMPLATE, WORK, WORKFLOW

PHASES = [
    ("python start", "start", "fast_execute_start"),
    ("store setup", "fast_execute_start", "fetch_start"),
    ("bundle fetch", "fetch_start", "fetch_end"),
    ("hand-over", "fetch_end", "execute_start"),
    ("inputs", "execute_start", "inputs_read"),
    ("task load", "inputs_read", "task_start"),
    ("task", "task_start", "task_end"),
    ("outputs", "task_end", "outputs_written"),
    ("timings + exit", "outputs_written", "end"),
]


def _with(args: list[str], flag: str, value: str) -> list[str]:
    out = list(args)
    out[out.index(flag) + 1] = value
    return out


def pod_script(args: list[str], rounds: int, tag: str) -> str:
    """The shell loop a bench pod runs: bare and pack in turn, each timed; every pack
    round writes under `<output prefix>/bench-<tag>-<round>`."""
    prefix = args[args.index("--output-prefix") + 1]
    lines = ["set -e"]
    for i in range(rounds):
        run = _with(args, "--dest-dir", f"/tmp/inpod-code-{i}")
        run = _with(run, "--output-prefix", f"{prefix}/bench-{tag}-{i}")
        lines += [
            f"t0=$EPOCHREALTIME; python3 -c {shlex.quote(WORK)} >/dev/null; t1=$EPOCHREALTIME",
            f'echo "BARE {i} $t0 $t1"',
            f"t0=$EPOCHREALTIME; {shlex.join(run)} >/dev/null; t1=$EPOCHREALTIME",
            f'echo "PACK {i} $t0 $t1"',
        ]
    run = _with(args, "--dest-dir", "/tmp/inpod-code-imports")
    run = _with(run, "--output-prefix", f"{prefix}/bench-{tag}-imports")
    lines.append(
        f"PYTHONPROFILEIMPORTTIME=1 {shlex.join(run)} 2>&1 >/dev/null"
        " | grep '^import time:' | sed 's/^/IMPORT /'"
    )
    return "\n".join(lines)


def run_pod(api: Any, image: str, script: str, env: dict[str, str], workdir: str | None) -> str:
    """Run `script` in a pod of `image`; its log once it Succeeded (then deleted)."""
    name = f"bench-inpod-{uuid.uuid4().hex[:10]}"
    api.create_namespaced_pod(
        "default", bench_pod(name, image, ["bash", "-c", script], None, env, workdir)
    )
    try:
        deadline = time.monotonic() + 600
        phase = None
        while time.monotonic() < deadline:
            phase = api.read_namespaced_pod(name, "default").status.phase
            if phase in ("Succeeded", "Failed"):
                break
            time.sleep(1)
        log: str = api.read_namespaced_pod_log(name, "default")
        if phase != "Succeeded":
            raise SystemExit(f"bench pod {name} ended {phase}:\n{log[-3000:]}")
        return log
    finally:
        api.delete_namespaced_pod(name, "default", grace_period_seconds=0)


def import_rows(lines: list[str], over_ms: float) -> list[tuple[float, str]]:
    """(cumulative ms, indented name) of the imports over `over_ms`, in import order."""
    rows = []
    for line in lines:
        _, _, rest = line.partition("import time:")
        fields = rest.split("|")
        if len(fields) != 3 or not fields[1].strip().isdigit():
            continue
        cumulative = int(fields[1]) / 1000
        if cumulative >= over_ms:
            rows.append((cumulative, fields[2].rstrip()))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--imports", type=float, default=3.0, help="show imports over this (ms)")
    parser.add_argument("--pods", type=int, default=1, help="pods per image, in turn")
    parser.add_argument(
        "--image",
        action="append",
        default=[],
        help="also run the rounds in this image (a task image of another pack, for a "
        "before/after in one run; its pack-execute must take the same arguments)",
    )
    opts = parser.parse_args()
    compile_pack()
    s3 = bench_s3()

    from kubernetes import client, config

    api = client.CoreV1Api(config.new_client_from_config(config_file=KUBECONFIG))

    with tempfile.TemporaryDirectory(prefix="pack-bench-inpod-") as tmp:
        work = Path(tmp) / "project"
        work.mkdir()
        (work / "wf.py").write_text(WORKFLOW)
        (work.parent / "template.yaml").write_text(TEMPLATE)
        store = f"s3://{BUCKET}/{uuid.uuid4().hex[:8]}"
        print(f"warm run (image build or reuse, bundle upload) into {store} ...", flush=True)
        container = kept_pod(work, store, ["one", "--x", "1"]).spec.containers[0]
    # The credentials travel in a per-pod Secret (secretKeyRef): the test values here.
    env = {e.name: e.value for e in container.env if e.value is not None} | AWS
    env.pop("PACK_SAY_DONE", None)
    args = list(container.args)
    prefix = args[args.index("--output-prefix") + 1]
    images = [container.image, *opts.image]
    logs: dict[str, list[tuple[str, str]]] = {image: [] for image in images}
    for pod in range(opts.pods):  # the images in turn, so that load on the machine hits both
        for n, image in enumerate(images):
            print(f"image {image}: {opts.rounds} rounds in pod {pod + 1} ...", flush=True)
            tag = f"{pod}-{n}"
            log = run_pod(
                api, image, pod_script(args, opts.rounds, tag), env, container.working_dir
            )
            logs[image].append((log, f"{prefix}/bench-{tag}"))
    for image, pods in logs.items():
        report(s3, image, pods, opts.imports)


def report(s3: Any, image: str, pods: list[tuple[str, str]], imports_over: float) -> None:
    """The figures of the bench pods of one image: (log, prefix its rounds wrote under
    as `<prefix>-<round>`) each."""
    bare: list[float] = []
    phases: dict[str, list[float]] = {label: [] for label, _, _ in PHASES}
    packs: list[float] = []
    for log, prefix in pods:
        bucket, _, key_prefix = prefix.removeprefix("s3://").partition("/")
        for line in log.splitlines():
            kind, _, rest = line.partition(" ")
            if kind not in ("BARE", "PACK"):
                continue
            i, t0, t1 = rest.split()
            if i == "0":
                continue  # the page cache's round
            start, end = float(t0), float(t1)
            if kind == "BARE":
                bare.append(end - start)
                continue
            packs.append(end - start)
            key = f"{key_prefix}-{i}/timings.json"
            marks = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
            marks |= {"start": start, "end": end}
            for label, a, b in PHASES:
                if a in marks and b in marks:
                    phases[label].append(marks[b] - marks[a])
    log = pods[-1][0]

    def ms(values: list[float]) -> str:
        return f"{statistics.median(values) * 1000:7.1f} ms" if values else "      -   "

    print(f"\nin the pod, medians of {len(packs)} rounds (image {image})")
    print(f"{'bare python3 -c WORK':24}{ms(bare)}")
    print(f"{'pack pod command':24}{ms(packs)}")
    if bare and packs:
        extra = statistics.median(packs) - statistics.median(bare)
        print(f"{'pack over bare':24}{extra * 1000:7.1f} ms")
    for label, values in phases.items():
        print(f"  {label:22}{ms(values)}")
    imports = [line for line in log.splitlines() if line.startswith("IMPORT ")]
    print(f"\nimports over {imports_over:g} ms in the pod (cumulative, in import order)")
    for cumulative, name in import_rows(imports, imports_over):
        print(f"{cumulative:7.1f} ms {name}")


if __name__ == "__main__":
    main()
