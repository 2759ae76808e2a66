"""Daemonless (`--builder oci`) vs BuildKit (`--builder docker`), side by side, from empty caches.

Cases, each built once by each builder into new repositories of the test registry:
1. small: the pack runtime + six + iniconfig;
2. numpy+pandas: the same plus numpy and pandas;
3. one package: case 2's spec plus one small package, on top of case 2 (both builders warm).
"Empty caches": BuildKit runs in a private engine started here (empty data root, so no
BuildKit cache and no base image: it pulls the base from the registry; the shared test
engine and other people's caches are never touched), and pack gets an empty cache folder
and an empty uv cache. Both get the same prebuilt pack runtime wheel (building it is the
same work for both and not what is compared). The ratio is oci / BuildKit wall time.

Each oci build runs through benchmarks/oci_phases.py, which times the builder's phases
(resolve, download, install, compile, tar + gzip, upload; wall and summed over threads):
the table after the ratios says where the oci wall goes, median per case.

It then measures task start in the case 1 images of both builders (fresh interpreters in
a container; median of 5): what a task imports (the pack runtime, boto3, yaml) and what a
driver pod imports (the kubernetes backend and client), and in the oci image the task
imports again without its .pyc files (what the shipped bytecode buys).

    python benchmarks/bench_oci.py [--runs 1]

Needs scripts/test-infra up (registry, base image, the runc wrapper) and root (dockerd).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

CODE = "import sys; from pack.cli import main; sys.exit(main(sys.argv[1:]))"
PHASES = Path(__file__).resolve().parent / "oci_phases.py"
TASK_START = "import pack.launcher.entrypoint, boto3, yaml"
DRIVER_START = "import pack.launcher.backends.kubernetes, kubernetes.client as c; c.CoreV1Api"
REGISTRY = os.environ.get("PACK_TEST_REGISTRY", "127.0.0.1:5000")
BASE = os.environ.get("PACK_TEST_BASE_IMAGE", f"{REGISTRY}/pack/debian-python:bookworm")
DOCKER_CLI = os.environ.get("PACK_DOCKER_CLI", "/usr/bin/docker")
CA = os.environ.get("PACK_BUILD_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
RUNC_WRAPPER = "/var/lib/pack-infra/bin/runc-no-negative-oom"

CASES = {
    "small": ["six", "iniconfig"],
    "numpy+pandas": ["six", "iniconfig", "numpy", "pandas"],
    "one package": ["six", "iniconfig", "numpy", "pandas", "tomli-w"],
}
# Each chain starts from empty caches; a case after the first builds on the one before.
CHAINS = (("small",), ("numpy+pandas", "one package"))


class PrivateEngine:
    """A dockerd of our own with an empty data root; stopped by its pid when done."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.sock = root / "docker.sock"
        self.host = f"unix://{self.sock}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        argv = [
            "dockerd", "--iptables=false", "--ip6tables=false", "--bridge=none",
            "--data-root", str(self.root / "data"), "--exec-root", str(self.root / "exec"),
            "-H", self.host, "-p", str(self.root / "dockerd.pid"),
            "--exec-opt", "native.cgroupdriver=cgroupfs",
        ]  # fmt: skip
        if Path(RUNC_WRAPPER).exists():
            argv += ["--add-runtime", f"packrunc={RUNC_WRAPPER}", "--default-runtime", "packrunc"]
        log = open(self.root / "dockerd.log", "wb")  # noqa: SIM115 - lives as long as dockerd
        self.proc = subprocess.Popen(argv, stdout=log, stderr=log, start_new_session=True)
        for _ in range(300):
            if self.docker("version", check=False).returncode == 0:
                return
            time.sleep(0.1)
        raise SystemExit(f"private dockerd did not start; see {self.root / 'dockerd.log'}")

    def docker(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "DOCKER_HOST": self.host}
        return subprocess.run([DOCKER_CLI, *args], env=env, capture_output=True, text=True,
                              check=check)  # fmt: skip

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        # dockerd leaves its default netns (exec root) and overlay mounts (data) behind.
        for mount in sorted(self._mounts(), reverse=True):
            subprocess.run(["umount", "-l", mount], capture_output=True)
        shutil.rmtree(self.root, ignore_errors=True)

    def _mounts(self) -> list[str]:
        with open("/proc/mounts") as f:
            points = [line.split()[1] for line in f]
        return [p for p in points if p == str(self.root) or p.startswith(f"{self.root}/")]


def spec_text(name: str, packages: list[str], marker: str) -> str:
    return (
        "from pack import ImageSpec\n\n"
        f"app = ImageSpec(name={name!r}, registry={REGISTRY!r}, base_image={BASE!r}, "
        f"python_version='3.11', packages={packages!r}, env={{'BENCH': {marker!r}}})\n"
    )


Phases = dict[str, dict[str, float]]


def build(builder: str, spec: Path, env: dict[str, str]) -> tuple[float, dict[str, object], Phases]:
    phases_file = spec.with_suffix(".phases.json")
    head = [str(PHASES), str(phases_file)] if builder == "oci" else ["-c", CODE]
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, *head, "build", "--builder", builder, "-o", "json", str(spec)],
        env=env,
        cwd=spec.parent,
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{builder} build of {spec.name} failed:\n{proc.stderr[-3000:]}")
    [out] = json.loads(proc.stdout)
    assert out["status"] == "built", out
    phases = json.loads(phases_file.read_text()) if builder == "oci" else {}
    return seconds, out, phases


def prebuilt_runtime(into: Path) -> None:
    """The runtime wheel both builders get, made once (not part of what is compared)."""
    from pack.runtime import build_runtime_wheel

    build_runtime_wheel(into / "wheel", cache_dir=into)


# Runs in the image's venv Python: median seconds of fresh interpreters running each
# statement (argv: runs, then statements; "--nopyc" first drops the venv's bytecode).
_TIMER = r"""
import os, shutil, statistics, subprocess, sys, time
runs, args = int(sys.argv[1]), sys.argv[2:]
env = dict(os.environ)
if args[0] == "--nopyc":
    args = args[1:]
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    for root, dirs, _ in os.walk(sys.prefix):
        if "__pycache__" in dirs:
            shutil.rmtree(os.path.join(root, "__pycache__"))
            dirs.remove("__pycache__")
for stmt in args:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", stmt], env=env, check=True)
        times.append(time.perf_counter() - start)
    print(statistics.median(times))
"""


def import_times(
    engine: PrivateEngine, image: str, statements: list[str], runs: int = 5
) -> list[float]:
    """Median seconds a fresh interpreter in a container of `image` takes per statement."""
    out = engine.docker(
        "run", "--rm", "--network", "host", image, "python", "-c", _TIMER, str(runs), *statements
    ).stdout
    return [float(x) for x in out.split()]


def run_chain(
    builder: str,
    chain: tuple[str, ...],
    cache: Path,
    runtime: Path,
    rows: dict[str, dict[str, list[float]]],
    phases: dict[str, list[Phases]],
) -> str:
    """Build the chain's cases in one new repository from empty caches; the last digest."""
    mark = uuid.uuid4().hex[:8]
    shutil.copytree(runtime, cache / "pack")
    env = {
        **os.environ,
        "PACK_CACHE_DIR": str(cache / "pack"),
        "UV_CACHE_DIR": str(cache / "uv"),
        "PACK_BUILD_CA_BUNDLE": CA,
        "PACK_DOCKER_CLI": DOCKER_CLI,
        "PACK_DOCKER_HOST": "unix:///nonexistent/docker.sock",
    }
    engine = None
    if builder == "docker":
        engine = PrivateEngine(Path(tempfile.mkdtemp(prefix="pack-bench-dockerd-")))
        engine.start()
        env["PACK_DOCKER_HOST"] = engine.host
    digest = ""
    try:
        for case in chain:
            repo = f"bench/oci-{builder}-{mark}"
            spec = cache / "project" / f"{case.replace(' ', '_').replace('+', '_')}.py"
            spec.parent.mkdir(parents=True, exist_ok=True)
            spec.write_text(spec_text(repo, CASES[case], mark))
            seconds, out, spent = build(builder, spec, env)
            rows[case][builder].append(seconds)
            if spent:
                phases[case].append(spent)
            digest = str(out["digest"])
            print(f"{case:14} {builder:6} {seconds:7.1f} s  {digest}", flush=True)
    finally:
        if engine is not None:
            engine.stop()
    return digest


def print_phases(phases: dict[str, list[Phases]]) -> None:
    """Median wall and thread-summed seconds of each oci phase, per case."""
    for case, runs in phases.items():
        if not runs:
            continue
        print(f"\noci phases, {case} (median of {len(runs)}): {'wall s':>8} {'summed s':>9}")
        for phase in runs[0]:
            wall = statistics.median(r[phase]["wall"] for r in runs if phase in r)
            summed = statistics.median(r[phase]["summed"] for r in runs if phase in r)
            print(f"  {phase:28} {wall:8.2f} {summed:9.2f}")


def print_starts(images: dict[str, str], runs: int) -> None:
    """Task and driver start in the small image of each builder, and oci's without .pyc."""
    engine = PrivateEngine(Path(tempfile.mkdtemp(prefix="pack-bench-dockerd-")))
    engine.start()
    try:
        got: dict[str, list[float]] = {}
        for builder, image in sorted(images.items()):
            engine.docker("pull", image)
            got[builder] = import_times(engine, image, [TASK_START, DRIVER_START], runs)
        [bare] = import_times(engine, images["oci"], ["--nopyc", TASK_START], runs)
    finally:
        engine.stop()
    print(f"\nstart in the small image, median of {runs} interpreters: BuildKit s   oci s  ratio")
    for i, what in enumerate(("task (runtime, boto3, yaml)", "driver (kubernetes client)")):
        d, o = got["docker"][i], got["oci"][i]
        print(f"  {what:32} {d:10.2f} {o:7.2f} {o / d:6.2f}")
    print(f"  task in the oci image without its .pyc: {bare:.2f} s ({bare / got['oci'][0]:.1f}x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1, help="rounds of the three cases")
    parser.add_argument("--runs-start", type=int, default=5, help="interpreters per figure")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="pack-bench-oci-"))
    runtime = work / "runtime"
    prebuilt_runtime(runtime)
    rows: dict[str, dict[str, list[float]]] = {c: {"docker": [], "oci": []} for c in CASES}
    phases: dict[str, list[Phases]] = {c: [] for c in CASES}
    small_images: dict[str, str] = {}
    try:
        for round_ in range(args.runs):
            for builder in ("docker", "oci"):
                for chain in CHAINS:
                    digest = run_chain(builder, chain, work / f"{builder}-{round_}-{chain[0]}",
                                       runtime, rows, phases)  # fmt: skip
                    if chain[0] == "small":
                        small_images[builder] = digest
        print()
        print(f"{'case':14} {'BuildKit s':>11} {'oci s':>8} {'oci/BuildKit':>13}")
        for case, by in rows.items():
            d, o = statistics.median(by["docker"]), statistics.median(by["oci"])
            print(f"{case:14} {d:11.1f} {o:8.1f} {o / d:13.2f}")
        print_phases(phases)
        if len(small_images) == 2:
            print_starts(small_images, args.runs_start)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
