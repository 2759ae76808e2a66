"""Run `pack ...` with the oci builder's phases timed; bench_oci.py's wrapper for oci builds.

    python benchmarks/oci_phases.py OUT.json build --builder oci ...

Wraps the builder's stage functions (nothing in pack changes) and writes, per phase, the
wall time it covered (the union of its intervals: layers run in parallel) and the time
summed over threads, in seconds; and the CPU seconds of the whole command (its process
and its children: uv, the bytecode compilers), where `summed` counts waiting too.
"""

from __future__ import annotations

import functools
import json
import sys
import time
from collections.abc import Callable
from typing import Any

Spans = dict[str, list[tuple[float, float]]]


def _wrap(owner: Any, name: str, phase: str, spans: Spans) -> None:
    original: Callable[..., Any] = getattr(owner, name)

    @functools.wraps(original)
    def timed(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            spans.setdefault(phase, []).append((start, time.perf_counter()))

    setattr(owner, name, timed)


def instrument() -> Spans:
    from pack.imagespec import registry
    from pack.imagespec.builders.oci import builder, bytecode, fetch, layers, resolve, tar

    spans: Spans = {}
    _wrap(resolve.PackageResolver, "resolve", "resolve (uv)", spans)
    _wrap(fetch.Fetcher, "fetch_all", "download wheels", spans)
    _wrap(layers, "install", "install (unzip, hash)", spans)
    _wrap(bytecode.Compiler, "compile", "compile bytecode", spans)
    _wrap(tar, "write_tar", "tar + gzip", spans)  # the gzip pieces run as tar writes them
    _wrap(registry.RegistryClient, "upload_blob", "upload", spans)
    _wrap(registry.RegistryClient, "copy_blob", "base layers (mount)", spans)
    _wrap(builder.OciBuilder, "build", "whole build", spans)
    return spans


def union(intervals: list[tuple[float, float]]) -> float:
    total, end = 0.0, float("-inf")
    for a, b in sorted(intervals):
        if b > end:
            total += b - max(a, end)
            end = b
    return total


def summary(spans: Spans) -> dict[str, dict[str, float]]:
    return {
        phase: {"wall": union(iv), "summed": sum(b - a for a, b in iv)}
        for phase, iv in spans.items()
    }


def main() -> int:
    out, argv = sys.argv[1], sys.argv[2:]
    spans = instrument()
    from pack.cli import main as pack_main

    try:
        return pack_main(argv)
    finally:
        import resource

        cpu = sum(
            r.ru_utime + r.ru_stime
            for r in map(resource.getrusage, (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
        )
        with open(out, "w") as f:
            json.dump({**summary(spans), "CPU, whole command": {"wall": cpu, "summed": cpu}}, f)


if __name__ == "__main__":
    sys.exit(main())
