"""Fault-injection figures: the fault suite's loops (tests/integration/faults/) at full size.

    python benchmarks/bench_faults.py [--seed 1] [--rate 0.1] [--publishes 200] [--runs 100]
                                      [--registry-ops 50] [--kills 10] [--only publish,run,...]

Against the real servers (`scripts/test-infra up`; `eval "$(scripts/test-infra env)"` points
here at them): the S3 server and the registry each behind the suite's fault proxy (a seeded
share `--rate` of requests reset mid-request or mid-response, truncated, stalled past the
client's network_timeout of `--timeout` s, or answered by a burst of 503s), and the Docker
engine for the build kills.

- publish: bundle publishes (every 10th a multipart upload) through the S3 proxy;
- run: `pack run`s (local backend, s3:// store) whose bundle, inputs, File input, outputs and
  File output cross the S3 proxy, from the client and from the task's process;
- registry: image pushes (chunked), streamed copies between two proxied "registries", mounts;
- kill: `pack package` (file://, s3://), `pack run` (s3://) and `pack build` (docker) killed
  with SIGKILL at seeded points of their measured duration, each followed by a run to the end.

After each loop the store or registry is read directly (no proxy) and every object checked
against its digest. One line per loop; exit status 1 if anything was lost, corrupt, partial
or failed with more than a one-line error. Not a test: the same loops, bounded, run in CI.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.integration.faults.kill_loops import (  # noqa: E402
    build_case,
    kill_loop,
    package_case,
    run_case,
)
from tests.integration.faults.proxy import Rates  # noqa: E402
from tests.integration.faults.registry_loops import registry_loop  # noqa: E402
from tests.integration.faults.s3_loops import new_bucket, publish_loop, roundtrip_loop  # noqa: E402
from tests.integration.faults.tally import Tally  # noqa: E402

LOOPS = ("publish", "run", "registry", "kill")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rate", type=float, default=0.1, help="share of requests faulted")
    parser.add_argument("--timeout", type=float, default=2.0, help="pack's network_timeout")
    parser.add_argument("--publishes", type=int, default=200)
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--registry-ops", type=int, default=50)
    parser.add_argument("--kills", type=int, default=10, help="per command")
    parser.add_argument("--only", default=",".join(LOOPS))
    args = parser.parse_args()
    only = set(args.only.split(","))
    s3 = os.environ.get("PACK_TEST_S3_ENDPOINT", "http://127.0.0.1:9000")
    registry = os.environ.get("PACK_TEST_REGISTRY", "127.0.0.1:5000")
    base = os.environ.get("PACK_TEST_BASE_IMAGE", f"{registry}/pack/debian-python:bookworm")
    creds = {
        "AWS_ACCESS_KEY_ID": os.environ.get("AWS_ACCESS_KEY_ID", "testing"),
        "AWS_SECRET_ACCESS_KEY": os.environ.get("AWS_SECRET_ACCESS_KEY", "testing"),
        "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
    }
    os.environ.update(creds)
    os.environ.pop("AWS_ENDPOINT_URL_S3", None)  # pack's own setting names the proxy
    rates = Rates.uniform(args.rate)
    common = {"seed": args.seed, "rates": rates, "timeout": args.timeout}
    print(
        f"seed {args.seed}, {args.rate:.0%} of requests faulted (each kind {args.rate / 5:.0%}), "
        f"network_timeout {args.timeout:g} s"
    )
    tallies: list[Tally] = []

    def show(tally: Tally, kill: bool = False) -> None:
        tallies.append(tally)
        print(tally.kill_row() if kill else tally.row(), flush=True)
        for problem in tally.problems():
            print("  PROBLEM", problem)
        for error in tally.errors:
            print("  one-line error:", error)

    with tempfile.TemporaryDirectory(prefix="bench-faults-") as tmp:
        work = Path(tmp)
        if "publish" in only:
            show(publish_loop(s3, work / "publish", count=args.publishes, **common))
        if "run" in only:
            show(roundtrip_loop(s3, work / "run", count=args.runs, **common))
        if "registry" in only:
            show(registry_loop(registry, work / "registry", count=args.registry_ops, **common))
        if "kill" in only:
            s3_env = {**creds, "PACK_S3_ENDPOINT_URL": s3}
            docker = {
                "PACK_DOCKER_HOST": os.environ.get("DOCKER_HOST", ""),
                "PACK_DOCKER_CLI": os.environ.get("PACK_DOCKER_CLI", "/usr/bin/docker"),
                "DOCKER_CONFIG": str(work / "no-docker-config"),
            }
            cases = [
                package_case(
                    work / "k1", (work / "k1" / "store").as_uri(), seed=args.seed, extra_env={}
                ),
                package_case(
                    work / "k2", f"s3://{new_bucket(s3)}/code", seed=args.seed, extra_env=s3_env
                ),
                run_case(
                    work / "k3", f"s3://{new_bucket(s3)}/runs", seed=args.seed, extra_env=s3_env
                ),
                build_case(work / "k4", registry, base, extra_env=docker),
            ]
            for n, case in enumerate(cases, 1):
                marker = str(work / f"k{n}")
                show(kill_loop(case, count=args.kills, seed=args.seed, marker=marker), kill=True)
    bad = [p for t in tallies for p in t.problems()]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
