"""Wall time of a warm `pack run` on the remote backends, split by phase, next to bare runs.

    python benchmarks/bench_run_remote.py [--runs N] [--backends docker,kubernetes]

Needs the test servers (scripts/test-infra up; scripts/test-cluster up for kubernetes).
A warm run is one whose image is in the registry and whose bundle is in the store:
a first, untimed run builds/pushes and uploads. Then, per backend, N runs of
`pack run -o json` (a subprocess, interpreter start included) split with the
run's `timings` into
  resolve    image ref for the ImageSpec (record/registry HEAD; nothing built)
  package    file list + tree digest
  publish    store HEAD for the bundle (nothing uploaded)
  inputs     inputs.pb written to S3
  pod start  docker: pull check + create + start until the entrypoint runs;
             kubernetes: create + schedule + container start (as seen by the watch)
  task       the task function itself (pack-execute's marks)
  read-back  outputs.pb read and decoded
and, beside them, with the same image:
  bare docker run     `docker run --rm --network host IMAGE` with the pod's exact args
                      (fetch bundle, run task, write outputs) and with `python3 -c WORK`
  bare pod            the client's create + watch-until-Succeeded + delete, same two commands
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
import uuid
from pathlib import Path
from typing import Any

REGISTRY = os.environ.get("PACK_TEST_REGISTRY", "127.0.0.1:5000")
BASE = os.environ.get("PACK_TEST_BASE_IMAGE", f"{REGISTRY}/pack/debian-python:bookworm")
DOCKER_HOST = os.environ.get("PACK_DOCKER_HOST", "unix:///run/pack-infra/docker.sock")
DOCKER_CLI = os.environ.get("PACK_DOCKER_CLI", "/usr/bin/docker")
S3 = os.environ.get("PACK_TEST_S3_ENDPOINT", "http://127.0.0.1:9000")
KUBECONFIG = os.environ.get("PACK_TEST_KUBECONFIG", "/run/pack-infra/kubeconfig")
BUCKET = "pack-bench"
AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ENDPOINT_URL_S3": S3,
}
WORK = "import six, idna; print(sum(range(1000)), six.__name__, idna.__name__)"

WORKFLOW = f"""
from pack import ImageSpec, task

image = ImageSpec(name="bench/remote", registry={REGISTRY!r}, base_image={BASE!r},
                  packages=["six", "idna"])


@task(image=image)
def work(x: int = 1) -> int:
    import idna, six
    return sum(range(1000)) + x + len(six.__name__) + len(idna.__name__)
"""

TEMPLATE = "apiVersion: v1\nkind: Pod\nspec:\n  hostNetwork: true\n"

PHASES = [
    ("resolve", ("image",)),
    ("package", ("package",)),
    ("publish", ("publish",)),
    ("inputs", ("inputs",)),
    ("pod start", ("backend.pull", "backend.pod_create", "backend.pod_start", "spawn")),
    ("task", ("task",)),
    ("read-back", ("read_back",)),
]


def ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:8.1f} ms" if values else "       -   "


def compile_pack() -> None:
    """pack's bytecode, as `pip install` leaves it: a shell with PYTHONDONTWRITEBYTECODE
    set would otherwise have every timed run compile pack's modules from source."""
    import compileall

    import pack

    compileall.compile_dir(os.path.dirname(pack.__file__), quiet=1)


def pack_env(work: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(AWS)
    env.update(
        {
            "PACK_CACHE_DIR": str(work.parent / "cache"),
            "PACK_DOCKER_HOST": DOCKER_HOST,
            "PACK_DOCKER_CLI": DOCKER_CLI,
            "PACK_BUILD_CA_BUNDLE": "/etc/ssl/certs/ca-certificates.crt",
            "PACK_KUBECONFIG": KUBECONFIG,
            "PACK_POD_TEMPLATE": str(work.parent / "template.yaml"),
        }
    )
    return env


def timed_pack_run(
    work: Path,
    backend: str,
    store: str,
    task_argv: list[str],
    *options: str,
    pass_env: bool = True,
) -> tuple[float, dict[str, Any]]:
    """`pack run -o json wf.py TASK ARGS` in a fresh interpreter: its wall and its document."""
    argv = [sys.executable, "-m", "pack"]  # as the console script runs it
    argv += ["run", "--copy", "all", "--backend", backend, "--store", store, "-o", "json"]
    argv += options
    if pass_env:
        for name in AWS:
            argv += ["--pass-env", name]
    argv += ["wf.py", *task_argv]
    start = time.perf_counter()
    proc = subprocess.run(argv, cwd=work, env=pack_env(work), capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        what = " ".join(task_argv[:1])
        raise SystemExit(f"pack run --backend {backend} {what} failed:\n{proc.stderr[-3000:]}")
    return elapsed, json.loads(proc.stdout)


def pack_run(work: Path, backend: str, store: str, *extra: str) -> tuple[float, dict[str, Any]]:
    return timed_pack_run(work, backend, store, ["work", "--x", "1"], *extra)


def split(timings: dict[str, float], backend: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for label, keys in PHASES:
        if label == "pod start" and backend == "kubernetes":
            # The watch's "container started" vs the task's own start mark: take the
            # finer of create+start as the watch saw it.
            keys = ("backend.pod_create", "backend.pod_start")
        if label == "pod start" and backend == "docker":
            keys = ("backend.pull", "backend.pod_create", "spawn")
        out[label] = sum(timings.get(k, 0.0) for k in keys)
    return out


def docker(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [DOCKER_CLI, "-H", DOCKER_HOST, *args], capture_output=True, text=True, env=env, check=True
    )


def bench_s3() -> Any:
    """A boto3 client of the test S3 server, with the benchmarks' bucket in place."""
    import boto3

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
    return s3


def kept_pod(work: Path, store: str, task_argv: list[str] | None = None) -> Any:
    """The exact pod pack submits for `task_argv` (default: `work --x 1`), kept with
    --keep, read back from the API and deleted."""
    from kubernetes import client, config

    argv = task_argv or ["work", "--x", "1"]
    _, out = timed_pack_run(work, "kubernetes", store, argv, "--keep")
    api = client.CoreV1Api(config.new_client_from_config(config_file=KUBECONFIG))
    (pod,) = api.list_namespaced_pod(
        "default", label_selector=f"pack.dev/execution-id={out['execution_id']}"
    ).items
    api.delete_namespaced_pod(pod.metadata.name, "default", grace_period_seconds=0)
    return pod


def bare_docker(image: str, args: list[str], env: dict[str, str], workdir: str | None) -> float:
    flags = ["run", "--rm", "--network", "host"]
    for name in env:
        flags += ["-e", name]
    if workdir:
        flags += ["-w", workdir]
    start = time.perf_counter()
    docker(*flags, image, *args, env={**os.environ, **env})
    return time.perf_counter() - start


def bench_pod(
    name: str,
    image: str,
    command: list[str] | None,
    args: list[str] | None,
    env: dict[str, str],
    workdir: str | None,
) -> Any:
    """A one-container pod on the host network (the test cluster reaches S3 so)."""
    from kubernetes import client

    return client.V1Pod(
        metadata=client.V1ObjectMeta(name=name),
        spec=client.V1PodSpec(
            restart_policy="Never",
            host_network=True,
            containers=[
                client.V1Container(
                    name="main",
                    image=image,
                    command=command,
                    args=args,
                    working_dir=workdir,
                    env=[client.V1EnvVar(name=k, value=v) for k, v in env.items()],
                )
            ],
        ),
    )


def bare_pod(
    api: Any,
    image: str,
    command: list[str] | None,
    args: list[str],
    env: dict[str, str],
    workdir: str | None,
) -> float:
    from kubernetes import watch

    name = f"bench-{uuid.uuid4().hex[:10]}"
    pod = bench_pod(name, image, command, args, env, workdir)
    start = time.perf_counter()
    created = api.create_namespaced_pod("default", pod)
    phase = created.status.phase if created.status else None
    while phase not in ("Succeeded", "Failed"):
        w = watch.Watch()
        for event in w.stream(
            api.list_namespaced_pod,
            "default",
            field_selector=f"metadata.name={name}",
            resource_version=created.metadata.resource_version,
            timeout_seconds=60,
        ):
            phase = event["object"].status.phase
            if phase in ("Succeeded", "Failed"):
                w.stop()
                break
    elapsed = time.perf_counter() - start
    api.delete_namespaced_pod(name, "default", grace_period_seconds=0)
    if phase != "Succeeded":
        raise SystemExit(f"bare pod {name} ended {phase}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--backends", default="docker,kubernetes")
    opts = parser.parse_args()
    backends = [b for b in opts.backends.split(",") if b]
    compile_pack()
    bench_s3()

    with tempfile.TemporaryDirectory(prefix="pack-bench-remote-") as tmp:
        work = Path(tmp) / "project"  # the cache dir beside it, not inside the bundle
        work.mkdir()
        (work / "wf.py").write_text(WORKFLOW)
        (work.parent / "template.yaml").write_text(TEMPLATE)
        store = f"s3://{BUCKET}/{uuid.uuid4().hex[:8]}"
        print(f"warming up (image build or reuse, bundle upload) into {store} ...", flush=True)
        _, first = pack_run(work, backends[0], store)
        image = first["image"]
        print(
            f"image {image} ({first['image_status']}); bundle uploaded={first['bundle']['uploaded']}"
        )

        rows: dict[str, dict[str, list[float]]] = {}
        for backend in backends:
            pack_run(work, backend, store)  # first run on this backend: pulls, caches
            walls, parts = [], {label: [] for label, _ in PHASES}
            for _ in range(opts.runs):
                wall, out = pack_run(work, backend, store)
                assert out["bundle"]["uploaded"] is False and out["image_status"] == "reused"
                walls.append(wall)
                for label, value in split(out["timings"], backend).items():
                    parts[label].append(value)
            rows[backend] = {"wall": walls, **parts}

        bare: dict[str, list[float]] = {}
        if "kubernetes" in backends:
            from kubernetes import client, config

            pod = kept_pod(work, store)
            container = pod.spec.containers[0]
            # The credentials travel in a per-pod Secret (secretKeyRef): the bare pod gets
            # the same values directly.
            env = {e.name: e.value for e in container.env if e.value is not None} | AWS
            api = client.CoreV1Api(config.new_client_from_config(config_file=KUBECONFIG))
            for _ in range(opts.runs):
                bare.setdefault("bare pod, pod args", []).append(
                    bare_pod(
                        api, image, container.command, container.args, env, container.working_dir
                    )
                )
                bare.setdefault("bare pod, python -c", []).append(
                    bare_pod(api, image, ["python3", "-c"], [WORK], {}, None)
                )
        if "docker" in backends:
            args: list[str] = []
            env, workdir = {}, None
            if "kubernetes" in backends:
                args, workdir = list(container.args), container.working_dir
                env = {e.name: e.value for e in container.env if e.value is not None} | AWS
            for _ in range(opts.runs):
                if args:
                    bare.setdefault("bare docker run, pod args", []).append(
                        bare_docker(image, args, env, workdir)
                    )
                bare.setdefault("bare docker run, python -c", []).append(
                    bare_docker(image, ["python3", "-c", WORK], {}, None)
                )

    print(f"\nmedian of {opts.runs} warm runs (image and bundle present)")
    header = f"{'':22}" + "".join(f"{b:>14}" for b in backends)
    print(header)
    for label in ["wall", *[p for p, _ in PHASES]]:
        name = "pack run (wall)" if label == "wall" else f"  {label}"
        print(f"{name:22}" + "".join(f"{ms(rows[b][label]):>14}" for b in backends))
    print()
    for label, values in bare.items():
        print(f"{label:30}{ms(values)}")


if __name__ == "__main__":
    main()
