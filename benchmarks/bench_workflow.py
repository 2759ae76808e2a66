"""Workflows side by side with the bare operation, in one run.

    python benchmarks/bench_workflow.py [--sizes 12,100] [--calls 5] [--runs 3] [--task-runs 9] [--local 100]
                                        [--skip-kubernetes]

Needs the test servers (scripts/test-infra up; scripts/test-cluster up). Prints:

kubernetes, one task per `pack run` (image present, code changed before every run):
  pack run (wall)       `pack run --backend kubernetes wf.py one` as a subprocess
  bare pod              the client's create + watch until Succeeded of a pod of the same image
                        doing `python3 -c ...` (this script's warm client; the delete after)
  bare pod, new process the same from a fresh interpreter, as a CLI starts: python start,
                        `kubernetes` import and client, create, watch, delete
kubernetes, per task call inside a workflow (sequential calls, driver in the client):
  workflow call         (the workflow's body time) / calls
  bare pod, sequential  the same number of bare pods one after the other, per pod
kubernetes, fan-out: map_task over N elements vs N bare pods created at once (a pool of the same
  client) and awaited with one watch on their label, then deleted; ratio = map / bare until the
  last Succeeded, and map / bare including the deletes (pack deletes each child in its window);
  each run's figures, and the CPU the whole machine spent per element on either side
local: map_task over N trivial elements; per-element overhead = wall / N, next to N bare
  `python3 -c pass` processes run with the same concurrency

Each figure is the median of --runs (the one-task ones of --task-runs); every pack figure
comes from `pack run -o json` (the `task` timing of a workflow is its body, the driver's own
work included).

The kubelet reports pod status on a one-second clock (its relist), so a pod's
create -> Succeeded moves in steps of a second with the phase its container exits at.
Started one right after the other, each measured operation would start just after the
tick that ended the one before, always at the same phase: a bare pod (exit ~0.5 s after
its create) would always catch the next tick and one that starts a few tenths later
(after `pack run`'s client work) would always miss it. Before every timed one-task
operation, on either side, the benchmark sleeps a random part of a second (--seed), as
runs started by people do; `tick phase` prints the figures without that sleep too.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

# The servers, credentials and pack environment of the remote-run benchmark (same folder).
from bench_run_remote import (  # noqa: E402
    AWS,
    BASE,
    BUCKET,
    KUBECONFIG,
    REGISTRY,
    S3,
    compile_pack,
    timed_pack_run,
)

WORK = "print(sum(range(1000)))"

WORKFLOW = f"""
from pack import ImageSpec, map_task, task, workflow

image = ImageSpec(name="bench/workflow", registry={REGISTRY!r}, base_image={BASE!r})


@task(image=image)
def one(x: int = 1) -> int:
    return sum(range(1000)) + x


@workflow
def calls(n: int = 5) -> int:
    return sum(one(x=i) for i in range(n))


@workflow
def fan(n: int = 12) -> int:
    return sum(map_task(one)(x=list(range(n))))
"""

LOCAL_WORKFLOW = """
from pack import map_task, task, workflow


@task
def noop(x: int) -> int:
    return x


@workflow
def fan(n: int = 100, concurrency: int = 4) -> int:
    return sum(map_task(noop, concurrency=concurrency)(x=list(range(n))))
"""

TEMPLATE = "apiVersion: v1\nkind: Pod\nspec:\n  hostNetwork: true\n"


def med(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def median_difference_interval(
    a: list[float], b: list[float], *, rounds: int = 4000, seed: int = 1
) -> tuple[float, float]:
    """A 90% bootstrap interval of median(a) - median(b): how far the one-second steps of
    the kubelet's reports leave the measured difference from the true one."""
    import random

    rng = random.Random(seed)
    diffs = sorted(
        med(rng.choices(a, k=len(a))) - med(rng.choices(b, k=len(b))) for _ in range(rounds)
    )
    return diffs[int(0.05 * rounds)], diffs[int(0.95 * rounds) - 1]


def runs_of(values: list[float], digits: int = 1) -> str:
    return " ".join(f"{v:.{digits}f}" for v in values)


def machine_cpu() -> float:
    """CPU seconds the whole machine has spent working (every process: the cluster,
    the engine, S3, the pods, the client), from /proc/stat."""
    with open("/proc/stat") as fh:
        fields = fh.readline().split()[1:]
    busy = sum(int(v) for i, v in enumerate(fields[:8]) if i not in (3, 4))  # not idle, iowait
    return busy / os.sysconf("SC_CLK_TCK")


def run_task(
    work: Path, backend: str, store: str, task: str, *args: str, pass_env: bool = True
) -> tuple[float, dict[str, Any]]:
    return timed_pack_run(work, backend, store, [task, *args], pass_env=pass_env)


def random_phase(rng: random.Random) -> None:
    """A start at a random phase of the kubelet's one-second status clock (see above)."""
    time.sleep(rng.random())


def touch(work: Path) -> None:
    """A code change: the bundle's digest moves, so it is uploaded again."""
    with open(work / "wf.py", "a") as f:
        f.write(f"# {uuid.uuid4().hex}\n")


def bare_pod_spec(name: str, image: str, label: str) -> Any:
    from kubernetes import client

    return client.V1Pod(
        metadata=client.V1ObjectMeta(name=name, labels={"bench": label}),
        spec=client.V1PodSpec(
            restart_policy="Never",
            host_network=True,
            containers=[
                client.V1Container(name="main", image=image, command=["python3", "-c", WORK])
            ],
        ),
    )


def bare_pods(api: Any, image: str, count: int) -> float:
    """`count` pods created at once (a pool of the same client), awaited with one watch
    on their label, deleted; the wall from the first create to the last Succeeded."""
    return bare_pods_timed(api, image, count)[0]


def bare_pods_timed(api: Any, image: str, count: int) -> tuple[float, float]:
    """bare_pods' wall, and the wall with the deletes (pack deletes its pods inside
    its own timed window)."""
    from kubernetes import watch

    label = uuid.uuid4().hex[:10]
    names = [f"bench-{label}-{i}" for i in range(count)]
    start = time.perf_counter()
    with ThreadPoolExecutor(min(count, 32)) as pool:
        list(
            pool.map(
                lambda n: api.create_namespaced_pod("default", bare_pod_spec(n, image, label)),
                names,
            )
        )
    done: set[str] = set()
    while len(done) < count:
        w = watch.Watch()
        for event in w.stream(
            api.list_namespaced_pod, "default", label_selector=f"bench={label}", timeout_seconds=60
        ):
            pod = event["object"]
            if pod.status.phase == "Failed":
                raise SystemExit(f"bare pod {pod.metadata.name} failed")
            if pod.status.phase == "Succeeded":
                done.add(pod.metadata.name)
            if len(done) == count:
                w.stop()
                break
    elapsed = time.perf_counter() - start
    with ThreadPoolExecutor(8) as pool:
        list(
            pool.map(
                lambda n: api.delete_namespaced_pod(n, "default", grace_period_seconds=0), names
            )
        )
    return elapsed, time.perf_counter() - start


BARE_PROCESS = """
import sys, time
start = time.perf_counter()
sys.path.insert(0, {here!r})
from kubernetes import client, config
from bench_workflow import bare_pods_timed
api = client.CoreV1Api(config.new_client_from_config(config_file={kubeconfig!r}))
bare_pods_timed(api, {image!r}, 1)
print(time.perf_counter() - start)
"""


def bare_pod_process(image: str) -> float:
    """A bare pod from a fresh interpreter, as a CLI starts: python + `kubernetes` import +
    client + create, watch until Succeeded, delete (the wall of the subprocess)."""
    code = BARE_PROCESS.format(here=str(Path(__file__).parent), kubeconfig=KUBECONFIG, image=image)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
    return time.perf_counter() - start


def kubernetes(opts: argparse.Namespace, tmp: Path) -> None:
    import boto3
    from kubernetes import client, config

    s3 = boto3.client("s3", endpoint_url=S3, region_name="us-east-1", **_keys())
    try:
        s3.create_bucket(Bucket=BUCKET)
    except s3.exceptions.BucketAlreadyOwnedByYou:
        pass
    work = tmp / "k8s" / "project"
    work.mkdir(parents=True)
    (work / "wf.py").write_text(WORKFLOW)
    (work.parent / "template.yaml").write_text(TEMPLATE)
    store = f"s3://{BUCKET}/{uuid.uuid4().hex[:8]}"
    print(f"kubernetes: warming up (image build or reuse) into {store} ...", flush=True)
    _, first = run_task(work, "kubernetes", store, "one")
    image = first["image"]
    api = client.CoreV1Api(config.new_client_from_config(config_file=KUBECONFIG))
    bare_pods(api, image, 1)  # the node has the image and a warm client

    rng = random.Random(opts.seed)
    walls, bare, fresh = [], [], []
    for _ in range(opts.task_runs):
        touch(work)
        random_phase(rng)
        walls.append(run_task(work, "kubernetes", store, "one")[0])
        random_phase(rng)
        bare.append(bare_pods(api, image, 1))
        random_phase(rng)
        fresh.append(bare_pod_process(image))
    locked_walls, locked_bare = [], []
    for _ in range(opts.task_runs):
        touch(work)
        locked_walls.append(run_task(work, "kubernetes", store, "one")[0])
        locked_bare.append(bare_pods(api, image, 1))
    print(f"\nkubernetes, one task per run (code changed, median of {opts.task_runs})")
    print(f"  pack run (wall)        {med(walls):7.2f} s")
    print(
        f"  bare pod               {med(bare):7.2f} s   difference {med(walls) - med(bare):+.2f} s"
        "   (warm client, until Succeeded)"
    )
    print(
        f"  bare pod, new process  {med(fresh):7.2f} s   difference {med(walls) - med(fresh):+.2f} s"
        "   (python + kubernetes import + create/watch/delete)"
    )
    low, high = median_difference_interval(walls, bare)
    print(
        f"  difference of the medians, 90% bootstrap interval {low:+.2f} to {high:+.2f} s;"
        f" of the means {statistics.mean(walls) - statistics.mean(bare):+.2f} s"
    )
    print(f"  each run: pack run {runs_of(walls, 2)}, bare pod {runs_of(bare, 2)}")
    print(
        f"  tick phase: started one right after the other, pack run {med(locked_walls):.2f} s,"
        f" bare pod {med(locked_bare):.2f} s, difference"
        f" {med(locked_walls) - med(locked_bare):+.2f} s"
    )

    per_call, bare_seq = [], []
    for _ in range(opts.runs):
        random_phase(rng)
        _, doc = run_task(work, "kubernetes", store, "calls", "--n", str(opts.calls))
        per_call.append(doc["timings"]["task"] / opts.calls)
        random_phase(rng)
        start = time.perf_counter()
        for _ in range(opts.calls):
            bare_pods(api, image, 1)
        bare_seq.append((time.perf_counter() - start) / opts.calls)
    print(f"\nkubernetes, per call of {opts.calls} sequential calls in a workflow")
    print(f"  workflow call          {med(per_call):7.2f} s")
    print(
        f"  bare pod, sequential   {med(bare_seq):7.2f} s   "
        f"difference {med(per_call) - med(bare_seq):+.2f} s"
    )

    print("\nkubernetes, map_task vs the same number of bare pods at once")
    for size in opts.sizes:
        maps, bares, deleted, map_cpu, bare_cpu = [], [], [], [], []
        for _ in range(opts.runs):
            cpu = machine_cpu()
            _, doc = run_task(work, "kubernetes", store, "fan", "--n", str(size))
            map_cpu.append(machine_cpu() - cpu)
            maps.append(doc["timings"]["task"])
            cpu = machine_cpu()
            until, with_delete = bare_pods_timed(api, image, size)
            bare_cpu.append(machine_cpu() - cpu)
            bares.append(until)
            deleted.append(with_delete)
        print(
            f"  {size:4d} elements   map_task {med(maps):7.2f} s   bare pods {med(bares):7.2f} s"
            f"   ratio {med(maps) / med(bares):.2f}   (bare incl. deletes {med(deleted):.2f} s:"
            f" ratio {med(maps) / med(deleted):.2f})"
        )
        print(f"                   each run: map_task {runs_of(maps)}, bare pods {runs_of(bares)}")
        print(
            f"                   machine CPU per element: map_task {med(map_cpu) / size:.2f} s"
            f" (whole pack run), bare pods {med(bare_cpu) / size:.2f} s (with their deletes)"
        )


def local(opts: argparse.Namespace, tmp: Path) -> None:
    work = tmp / "local" / "project"
    work.mkdir(parents=True)
    (work / "wf.py").write_text(LOCAL_WORKFLOW)
    (work.parent / "template.yaml").write_text(TEMPLATE)
    store = (tmp / "local" / "store").as_uri()
    n, conc = opts.local, opts.local_concurrency
    run_task(work, "local", store, "fan", "--n", "4", pass_env=False)  # warm: the bundle
    maps, bares = [], []
    for _ in range(opts.runs):
        _, doc = run_task(
            work, "local", store, "fan", "--n", str(n), "--concurrency", str(conc), pass_env=False
        )
        maps.append(doc["timings"]["task"])
        start = time.perf_counter()
        with ThreadPoolExecutor(conc) as pool:
            list(
                pool.map(
                    lambda _: subprocess.run([sys.executable, "-c", "pass"], check=True), range(n)
                )
            )
        bares.append(time.perf_counter() - start)
    print(f"\nlocal, map_task over {n} trivial elements, concurrency {conc}")
    print(f"  map_task        {med(maps):7.2f} s   {med(maps) / n * 1000:7.1f} ms per element")
    print(
        f"  bare processes  {med(bares):7.2f} s   {med(bares) / n * 1000:7.1f} ms per element"
        f"   (python -c pass)"
    )


def _keys() -> dict[str, str]:
    return {
        "aws_access_key_id": AWS["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": AWS["AWS_SECRET_ACCESS_KEY"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="12,100")
    parser.add_argument("--calls", type=int, default=5)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--task-runs", type=int, default=9, help="of the one-task figures (they move in 1 s steps)"
    )
    parser.add_argument("--local", type=int, default=100)
    parser.add_argument("--local-concurrency", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--skip-kubernetes", action="store_true")
    parser.add_argument("--skip-local", action="store_true")
    parser.add_argument("--seed", type=int, default=1, help="of the random start phases")
    opts = parser.parse_args()
    compile_pack()
    opts.sizes = [int(s) for s in opts.sizes.split(",") if s]
    with tempfile.TemporaryDirectory(prefix="pack-bench-wf-") as tmp:
        if not opts.skip_kubernetes:
            kubernetes(opts, Path(tmp))
        if not opts.skip_local:
            local(opts, Path(tmp))


if __name__ == "__main__":
    main()
