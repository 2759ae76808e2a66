"""`pack build` figures against the real engine and registry (scripts/test-infra up).

1. Cached path, a spec file with three images that exist: median wall time of
   `pack build` (fresh interpreter each run) with the local record warm (no request),
   and with no record (three registry HEADs), next to the raw registry HEADs alone and
   a bare `python -c pass`. Target: <= 0.3 s including interpreter start.
2. One cold build: `pack build` (hash, HEAD, render, build, push) next to a raw
   `docker build` + `docker push` of the same rendered Dockerfile. Each run uses a new
   marker so neither side reuses the other's layers; they alternate. Target: within 10%.

    python benchmarks/bench_build.py [--runs 15] [--cold-runs 3]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

CODE = "import sys; from pack.cli import main; sys.exit(main(sys.argv[1:]))"
REGISTRY = os.environ.get("PACK_TEST_REGISTRY", "127.0.0.1:5000")
BASE = os.environ.get("PACK_TEST_BASE_IMAGE", f"{REGISTRY}/pack/debian-python:bookworm")
DOCKER_HOST = os.environ.get("DOCKER_HOST", "unix:///run/pack-infra/docker.sock")
DOCKER_CLI = os.environ.get("PACK_DOCKER_CLI", "/usr/bin/docker")
CA = os.environ.get("PACK_BUILD_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")


def timed(argv: list[str], env: dict[str, str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(
        argv, env=env, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    return time.perf_counter() - start


def pack(args: list[str], env: dict[str, str], cwd: Path) -> list[str]:
    return [sys.executable, "-c", CODE, *args]


def raw_heads(refs: list[str]) -> float:
    """Three HEADs on one keep-alive connection, as a minimal client would do them."""
    host = refs[0].split("/", 1)[0]
    start = time.perf_counter()
    conn = http.client.HTTPConnection(host, timeout=10)
    for ref in refs:
        name, _, tag = ref.split("/", 1)[1].rpartition(":")
        conn.request(
            "HEAD",
            f"/v2/{name}/manifests/{tag}",
            headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"},
        )
        resp = conn.getresponse()
        resp.read()
        assert resp.status == 200, (ref, resp.status)
    conn.close()
    return time.perf_counter() - start


def fmt(values: list[float]) -> str:
    return (
        f"median {statistics.median(values) * 1000:7.1f} ms  "
        f"(min {min(values) * 1000:.1f}, max {max(values) * 1000:.1f}, n={len(values)})"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--cold-runs", type=int, default=3)
    parser.add_argument(
        "--packages",
        default="six,idna,numpy",
        help="comma-separated packages of the cold-build spec (numpy makes it a realistic size)",
    )
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="pack-bench-build-"))
    env = {
        **os.environ,
        "PACK_CACHE_DIR": str(work / "cache"),
        "PACK_DOCKER_HOST": DOCKER_HOST,
        "PACK_DOCKER_CLI": DOCKER_CLI,
        "PACK_BUILD_CA_BUNDLE": CA,
        "DOCKER_HOST": DOCKER_HOST,
        "DOCKER_BUILDKIT": "1",
    }
    mark = uuid.uuid4().hex[:8]
    specs = "\n".join(
        f"{v} = ImageSpec(name='bench/{v}-{mark}', registry={REGISTRY!r}, base_image={BASE!r}, "
        f"runtime=False, env={{'BENCH': {mark!r}}}, commands=['echo {v} > /{v}'])"
        for v in ("one", "two", "three")
    )
    spec = work / "spec.py"
    spec.write_text("from pack import ImageSpec\n\n" + specs + "\n")
    out = subprocess.run(
        pack(["build", "-o", "json", str(spec)], env, work),
        env=env,
        cwd=work,
        capture_output=True,
        text=True,
        check=True,
    )
    refs = [row["ref"] for row in json.loads(out.stdout)]
    record = work / "cache" / "image-record.json"

    print("== cached path: spec file with three existing images ==")
    warm = [timed(pack(["build", str(spec)], env, work), env, work) for _ in range(args.runs)]
    print(f"pack build (record warm, no request)   {fmt(warm)}")
    cold_record = []
    for _ in range(args.runs):
        record.unlink(missing_ok=True)
        cold_record.append(timed(pack(["build", str(spec)], env, work), env, work))
    print(f"pack build (no record: 3 HEADs)         {fmt(cold_record)}")
    print(
        f"raw registry HEADs x3 (in-process)      {fmt([raw_heads(refs) for _ in range(args.runs)])}"
    )
    bare = [timed([sys.executable, "-c", "pass"], env, work) for _ in range(args.runs)]
    print(f"python -c pass (interpreter start)      {fmt(bare)}")

    print("\n== one cold build: pack build vs raw docker build + push of the same Dockerfile ==")
    packages = [p for p in args.packages.split(",") if p]
    imports = ", ".join(p.replace("-", "_") for p in packages)
    print(f"spec: base {BASE}, packages {packages}, one RUN importing them")
    pack_times: list[float] = []
    raw_times: list[float] = []
    for i in range(args.cold_runs):
        for side in ("pack", "raw"):
            m = uuid.uuid4().hex[:8]
            one = work / f"cold-{side}-{i}.py"
            one.write_text(
                "from pack import ImageSpec\n\n"
                f"app = ImageSpec(name='bench/cold-{m}', registry={REGISTRY!r}, base_image={BASE!r}, "
                f"runtime=False, packages={packages!r}, env={{'BENCH': {m!r}}}, "
                f"commands=['python -c \"import {imports}\"'])\n"
            )
            if side == "pack":
                pack_times.append(timed(pack(["build", str(one)], env, work), env, work))
                continue
            dry = subprocess.run(
                pack(["build", "--dry-run", "-o", "json", str(one)], env, work),
                env=env,
                cwd=work,
                capture_output=True,
                text=True,
                check=True,
            )
            [row] = json.loads(dry.stdout)
            assert not row["context"], row["context"]
            ctx = work / f"ctx-{m}"
            ctx.mkdir()
            dockerfile = work / f"Dockerfile-{m}"
            dockerfile.write_text(row["dockerfile"])
            start = time.perf_counter()
            subprocess.run(
                [
                    DOCKER_CLI,
                    "build",
                    "--progress",
                    "plain",
                    "--network",
                    "host",
                    "--secret",
                    f"id=pack-ca,src={CA}",
                    "-f",
                    str(dockerfile),
                    "-t",
                    row["ref"],
                    str(ctx),
                ],
                env=env,
                check=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            subprocess.run(
                [DOCKER_CLI, "push", row["ref"]],
                env=env,
                check=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            raw_times.append(time.perf_counter() - start)
    p, r = statistics.median(pack_times), statistics.median(raw_times)
    print(
        f"pack build (hash+HEAD+render+build+push) median {p:6.2f} s  runs {' '.join(f'{t:.2f}' for t in pack_times)}"
    )
    print(
        f"raw docker build + push                  median {r:6.2f} s  runs {' '.join(f'{t:.2f}' for t in raw_times)}"
    )
    print(f"pack overhead: {(p / r - 1) * 100:+.1f}% (target within 10%)")


if __name__ == "__main__":
    main()
