"""What run records cost, side by side with the bare store operations, in one run.

1. `pack runs --limit 20` (RunStore.recent: a prefix listing of the time-ordered index,
   20 summaries read) against listing the store's whole `runs/` prefix, on a store
   holding N runs (each run: record, index entry, inputs, outputs, log).
2. What one run's records add: the writes a one-attempt run makes (record twice, index
   entry twice, log) against the one write of its inputs.pb it makes anyway.

On file:// (a temp folder) and, when an S3 endpoint is given (or the test infra's
moto answers on 127.0.0.1:9000), on S3.

    python benchmarks/bench_runs.py [--runs 2000] [--s3-endpoint http://127.0.0.1:9000]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from pack.packager.store import FileStore, Store
from pack.runs import keys
from pack.runs.runstore import RunStore, new_record

T0 = 1_760_000_000.0


def populate(store: Store, n: int) -> RunStore:
    runs = RunStore(store, "bench")

    def one(i: int) -> None:
        run_id = f"rbench{i:06d}"
        record = new_record(run_id, task="wf.main", backend="local", now=T0 + i, inputs={"x": i})
        record = record.attempt_started(1, name=f"main-{run_id}-1", now=T0 + i)
        runs.put(
            record.attempt_ended(1, succeeded=True, now=T0 + i).finished("succeeded", now=T0 + i)
        )
        store.put_bytes(keys.inputs_key(run_id), b"\x0a\x00")
        store.put_bytes(keys.attempt_key(run_id, 1, "outputs.pb"), b"\x0a\x00")
        runs.put_log(run_id, 1, f"line of run {i}\n")

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(one, range(n)))
    return runs


def median_time(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def report(name: str, store: Store, n: int, repeat: int) -> None:
    runs = populate(store, n)
    newest = runs.recent(limit=20)
    assert [r.id for r in newest][:2] == [f"rbench{n - 1:06d}", f"rbench{n - 2:06d}"]
    t_recent = median_time(lambda: runs.recent(limit=20), repeat)
    t_all = median_time(lambda: sum(1 for _ in store.list_keys("runs/")), repeat)
    all_keys = sum(1 for _ in store.list_keys("runs/"))
    print(f"{name}: {n} runs, {all_keys} objects under runs/")
    print(
        f"  pack runs --limit 20 (index)    {t_recent * 1000:8.1f} ms\n"
        f"  list the whole runs/ prefix     {t_all * 1000:8.1f} ms   "
        f"(index / full listing = {t_recent / t_all:.3f})"
    )

    def one_run_records() -> None:
        run_id = f"rextra{uuid.uuid4().hex[:8]}"
        record = new_record(run_id, task="wf.main", backend="local", now=time.time())
        runs.put(record := record.attempt_started(1, name=f"m-{run_id}-1", now=time.time()))
        runs.put_log(run_id, 1, "a log line\n")
        runs.put(
            record.attempt_ended(1, succeeded=True, now=time.time()).finished(
                "succeeded", now=time.time()
            )
        )

    def inputs_write() -> None:
        store.put_bytes(f"runs/rextra{uuid.uuid4().hex[:8]}/inputs.pb", b"\x0a\x00")

    t_records = median_time(one_run_records, repeat * 3)
    t_inputs = median_time(inputs_write, repeat * 3)
    print(
        f"  one run's record writes (5)     {t_records * 1000:8.1f} ms\n"
        f"  one inputs.pb write (bare)      {t_inputs * 1000:8.1f} ms   "
        f"(records / bare write = {t_records / t_inputs:.1f})"
    )


def s3_store(endpoint: str) -> Store | None:
    try:
        urllib.request.urlopen(endpoint + "/", timeout=2)  # noqa: S310 - a local test server
    except OSError:
        return None
    import boto3

    from pack.packager.s3 import S3Store

    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    bucket = f"pack-bench-runs-{uuid.uuid4().hex[:8]}"
    boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=bucket)
    return S3Store(bucket, "bench", endpoint_url=endpoint)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--s3-endpoint", default=os.environ.get("PACK_TEST_S3_ENDPOINT", "http://127.0.0.1:9000")
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pack-bench-runs-") as tmp:
        report("file://", FileStore(Path(tmp)), args.runs, args.repeat)
    s3 = s3_store(args.s3_endpoint)
    if s3 is None:
        print(f"s3: skipped (no S3 server at {args.s3_endpoint})")
    else:
        report(f"s3 ({args.s3_endpoint})", s3, args.runs, args.repeat)


if __name__ == "__main__":
    main()
