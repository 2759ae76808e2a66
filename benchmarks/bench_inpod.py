"""Where a task pod's own time goes, in the task image on the cluster, beside bare Python.

    python benchmarks/bench_inpod.py [--rounds 15] [--imports 25]

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
  load+inputs       execute_start -> task_start (imports, task module, inputs.pb)
  task              task_start -> task_end
  outputs           task_end -> outputs_written
  timings + exit    outputs_written -> process gone (timings.json PUT, exit handlers)
Medians of the rounds (the first round, which warms the page cache, is dropped), and the
in-pod imports over --imports ms (cumulative, top level and the heaviest nested ones).
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

from bench_run_remote import AWS, BUCKET, KUBECONFIG, S3, compile_pack, timed_pack_run
from bench_workflow import TEMPLATE, WORK, WORKFLOW

PHASES = [
    ("python start", "start", "fast_execute_start"),
    ("store setup", "fast_execute_start", "fetch_start"),
    ("bundle fetch", "fetch_start", "fetch_end"),
    ("hand-over", "fetch_end", "execute_start"),
    ("load+inputs", "execute_start", "task_start"),
    ("task", "task_start", "task_end"),
    ("outputs", "task_end", "outputs_written"),
    ("timings + exit", "outputs_written", "end"),
]


def _with(args: list[str], flag: str, value: str) -> list[str]:
    out = list(args)
    out[out.index(flag) + 1] = value
    return out


def pod_script(args: list[str], rounds: int) -> str:
    """The shell loop the bench pod runs: bare and pack in turn, each timed."""
    prefix = args[args.index("--output-prefix") + 1]
    lines = ["set -e"]
    for i in range(rounds):
        run = _with(args, "--dest-dir", f"/tmp/inpod-code-{i}")
        run = _with(run, "--output-prefix", f"{prefix}/bench-{i}")
        lines += [
            f"t0=$EPOCHREALTIME; python3 -c {shlex.quote(WORK)} >/dev/null; t1=$EPOCHREALTIME",
            f'echo "BARE {i} $t0 $t1"',
            f"t0=$EPOCHREALTIME; {shlex.join(run)} >/dev/null; t1=$EPOCHREALTIME",
            f'echo "PACK {i} $t0 $t1"',
        ]
    run = _with(args, "--dest-dir", "/tmp/inpod-code-imports")
    run = _with(run, "--output-prefix", f"{prefix}/bench-imports")
    lines.append(
        f"PYTHONPROFILEIMPORTTIME=1 {shlex.join(run)} 2>&1 >/dev/null"
        " | grep '^import time:' | sed 's/^/IMPORT /'"
    )
    return "\n".join(lines)


def run_pod(api: Any, image: str, script: str, env: dict[str, str], workdir: str | None) -> str:
    """Run `script` in a pod of `image`; its log once it Succeeded (then deleted)."""
    from kubernetes import client

    name = f"bench-inpod-{uuid.uuid4().hex[:10]}"
    pod = client.V1Pod(
        metadata=client.V1ObjectMeta(name=name),
        spec=client.V1PodSpec(
            restart_policy="Never",
            host_network=True,
            containers=[
                client.V1Container(
                    name="main",
                    image=image,
                    command=["bash", "-c", script],
                    working_dir=workdir,
                    env=[client.V1EnvVar(name=k, value=v) for k, v in env.items()],
                )
            ],
        ),
    )
    api.create_namespaced_pod("default", pod)
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
    opts = parser.parse_args()
    compile_pack()

    import boto3
    from kubernetes import client, config

    s3 = boto3.client(
        "s3",
        endpoint_url=S3,
        region_name="us-east-1",
        aws_access_key_id=AWS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=AWS["AWS_SECRET_ACCESS_KEY"],
    )
    try:
        s3.create_bucket(Bucket=BUCKET)
    except s3.exceptions.BucketAlreadyOwnedByYou:
        pass
    api = client.CoreV1Api(config.new_client_from_config(config_file=KUBECONFIG))

    with tempfile.TemporaryDirectory(prefix="pack-bench-inpod-") as tmp:
        work = Path(tmp) / "project"
        work.mkdir()
        (work / "wf.py").write_text(WORKFLOW)
        (work.parent / "template.yaml").write_text(TEMPLATE)
        store = f"s3://{BUCKET}/{uuid.uuid4().hex[:8]}"
        print(f"warm run (image build or reuse, bundle upload) into {store} ...", flush=True)
        _, out = timed_pack_run(work, "kubernetes", store, ["one", "--x", "1"], "--keep")
        image = out["image"]
        (pod,) = api.list_namespaced_pod(
            "default", label_selector=f"pack.dev/execution-id={out['execution_id']}"
        ).items
        api.delete_namespaced_pod(pod.metadata.name, "default", grace_period_seconds=0)
        container = pod.spec.containers[0]
        # The credentials travel in a per-pod Secret (secretKeyRef): the test values here.
        env = {e.name: e.value for e in container.env if e.value is not None} | AWS
        env.pop("PACK_SAY_DONE", None)
        print(f"image {image}; {opts.rounds} rounds in one pod ...", flush=True)
        log = run_pod(
            api, image, pod_script(list(container.args), opts.rounds), env, container.working_dir
        )

    prefix = container.args[container.args.index("--output-prefix") + 1]
    bucket, _, key_prefix = prefix.removeprefix("s3://").partition("/")
    bare: list[float] = []
    phases: dict[str, list[float]] = {label: [] for label, _, _ in PHASES}
    packs: list[float] = []
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
        key = f"{key_prefix}/bench-{i}/timings.json"
        marks = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        marks |= {"start": start, "end": end}
        for label, a, b in PHASES:
            if a in marks and b in marks:
                phases[label].append(marks[b] - marks[a])

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
    print(f"\nimports over {opts.imports:g} ms in the pod (cumulative, in import order)")
    for cumulative, name in import_rows(imports, opts.imports):
        print(f"{cumulative:7.1f} ms {name}")


if __name__ == "__main__":
    main()
