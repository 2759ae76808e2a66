"""How long `pack hash examples/ml/spec.py` takes, wall clock, interpreter start included.

Target: < 0.3 s for a spec file with three specs. Prints the median (and min/max) over N
runs of a fresh `python -m`-style process, the way a user or CI runs it.

    python benchmarks/bench_hash.py [--runs 15] [SPEC_FILE]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CODE = "import sys; from pack.cli import main; main(sys.argv[1:])"


def run_once(spec: Path) -> float:
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", CODE, "hash", str(spec)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("spec", nargs="?", type=Path, default=ROOT / "examples/ml/spec.py")
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    run_once(args.spec)  # warm the OS file cache and __pycache__
    times = sorted(run_once(args.spec) for _ in range(args.runs))
    baseline = sorted(_time([sys.executable, "-c", "pass"]) for _ in range(max(3, args.runs // 3)))
    print(
        f"pack hash {args.spec.relative_to(ROOT) if args.spec.is_relative_to(ROOT) else args.spec}"
    )
    print(
        f"  median {statistics.median(times):.3f} s  min {times[0]:.3f} s  max {times[-1]:.3f} s"
        f"  over {args.runs} runs (target < 0.300 s)"
    )
    print(f"  bare interpreter start: median {statistics.median(baseline):.3f} s")


def _time(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True)
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
