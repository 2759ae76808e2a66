"""Loops through the fault proxy in front of the S3 server: bundle publishes, and
`pack run`s whose inputs, bundle, outputs and File values all travel through it.

Each loop works in a bucket of its own, then checks the bucket directly (not through
the proxy): every object a loop reported written is there, and every object there is
whole and matches its digest.
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .kill_loops import pack_argv, pass_env
from .proxy import FaultProxy, Rates, stall_for
from .tally import Tally

MiB = 1024 * 1024


def new_bucket(endpoint: str) -> str:
    name = f"pack-faults-{uuid.uuid4().hex[:12]}"
    direct_client(endpoint).create_bucket(Bucket=name)
    return name


def direct_client(endpoint: str) -> Any:
    import boto3

    return boto3.client("s3", endpoint_url=endpoint)


def _upstream(endpoint: str) -> tuple[str, int]:
    parts = urlsplit(endpoint)
    return parts.hostname or "127.0.0.1", parts.port or 80


def _keys(client: Any, bucket: str, prefix: str) -> list[str]:
    keys: list[str] = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys += [item["Key"] for item in page.get("Contents", [])]
    return keys


def _unfinished_uploads(client: Any, bucket: str) -> list[str]:
    answer = client.list_multipart_uploads(Bucket=bucket)
    return [f"{u['Key']} (upload {u['UploadId']})" for u in answer.get("Uploads", [])]


def _tree(root: Path, i: int, rng: random.Random, big: bool) -> Path:
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "__init__.py").write_text("")
    (root / "pkg" / "mod.py").write_text(f"N = {i}\nSALT = {rng.getrandbits(64)}\n")
    (root / "wf.py").write_text("import pkg.mod\n")
    size = 6 * MiB if big else rng.randrange(1, 200_000)
    # Random bytes do not compress: a big tree makes a bundle over the multipart threshold.
    (root / "data.bin").write_bytes(rng.randbytes(size))
    return root


def publish_loop(
    endpoint: str,
    work: Path,
    *,
    count: int,
    seed: int,
    rates: Rates,
    timeout: float,
    multipart_every: int = 10,
) -> Tally:
    """`count` bundle publishes (every `multipart_every`-th a multipart upload) through the
    proxy, then every bundle in the bucket extracted and checked against its tree digest."""
    from pack.packager.publish import bundle_key, plan_package, publish
    from pack.packager.s3 import S3Store
    from pack.packager.store import (
        network_timeout,
        s3_endpoint,
        use_network_timeout,
        use_s3_endpoint,
    )

    tally = Tally("s3 publish")
    bucket, prefix = new_bucket(endpoint), "code"
    rng = random.Random(seed)
    tmp_dir = work / "tmp"
    tmp_dir.mkdir(parents=True)
    reported: dict[str, bool] = {}  # key -> did publish report success
    before = s3_endpoint(), network_timeout()
    started = time.monotonic()
    with FaultProxy(
        *_upstream(endpoint), seed=seed, rates=rates, stall_seconds=stall_for(timeout)
    ) as proxy:
        # What the settings s3_endpoint_url and network_timeout (PACK_*) set in a CLI command.
        use_s3_endpoint(proxy.url)
        use_network_timeout(timeout)
        try:
            for i in range(count):
                big = multipart_every > 0 and i % multipart_every == multipart_every - 1
                src = _tree(work / f"src{i}", i, rng, big)
                plan = plan_package(src, "all", None, cache_dir=work / "cache")
                store = S3Store(
                    bucket,
                    prefix,
                    endpoint_url=proxy.url,
                    multipart_threshold=5 * MiB if big else 64 * MiB,
                    part_size=5 * MiB,
                )
                key = f"{prefix}/{bundle_key(plan.digest)}"
                tally.operations += 1
                try:
                    publish(plan, store, tmp_dir=tmp_dir)
                    tally.succeeded += 1
                    reported[key] = True
                except Exception as exc:  # noqa: BLE001 - every kind is counted
                    tally.error(exc)
                    reported.setdefault(key, False)
                shutil.rmtree(src)
        finally:
            use_s3_endpoint(before[0])
            use_network_timeout(before[1])
            tally.add_proxy(proxy.counters)
    tally.seconds = time.monotonic() - started
    if list(tmp_dir.iterdir()):
        tally.partial.append(f"temp files left in {tmp_dir}: {sorted(tmp_dir.iterdir())[:3]}")
    _verify_bundles(tally, endpoint, bucket, prefix, reported, work / "verify")
    return tally


def _verify_bundles(
    tally: Tally,
    endpoint: str,
    bucket: str,
    prefix: str,
    reported: dict[str, bool],
    work: Path,
) -> None:
    client = direct_client(endpoint)
    present = set(_keys(client, bucket, prefix + "/"))
    tally.lost += [k for k, ok in reported.items() if ok and k not in present]
    tally.partial += [k for k in present if k not in reported]  # nothing else was written
    tally.orphan_uploads += _unfinished_uploads(client, bucket)
    _verify_bundle_keys(tally, client, bucket, sorted(present), work)


# ---------------------------------------------------------------- pack run round trips

TASK_FILE = '''\
import hashlib
from pathlib import Path

from pack import File, task


@task
def echo(text: str, blob: File) -> tuple[str, File]:
    """The digest of text + the file's bytes, and the file reversed."""
    data = Path(blob).read_bytes()
    out = Path("reversed.bin")
    out.write_bytes(data[::-1])
    return hashlib.sha256(text.encode() + data).hexdigest(), File(str(out.resolve()))
'''


def run_env(endpoint: str, cache: Path, timeout: float) -> dict[str, str]:
    """The environment a user's shell would have: S3 credentials, no AWS endpoint (pack's
    own settings name it and the network timeout), a private cache and temp dir."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PACK_"))}
    env.update(
        AWS_ACCESS_KEY_ID=os.environ.get("AWS_ACCESS_KEY_ID", "testing"),
        AWS_SECRET_ACCESS_KEY=os.environ.get("AWS_SECRET_ACCESS_KEY", "testing"),
        AWS_DEFAULT_REGION=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
        PACK_CACHE_DIR=str(cache),
        PACK_S3_ENDPOINT_URL=endpoint,
        PACK_NETWORK_TIMEOUT=str(timeout),
        TMPDIR=str(cache.parent / "tmp"),
    )
    (cache.parent / "tmp").mkdir(parents=True, exist_ok=True)
    return env


def roundtrip_loop(
    endpoint: str,
    work: Path,
    *,
    count: int,
    seed: int,
    rates: Rates,
    timeout: float,
    run_timeout: float = 300,
) -> Tally:
    """`count` `pack run`s (local backend, an s3:// store, the endpoint through the proxy)
    of a task taking a str and a File and returning a str and a File: bundle, inputs.pb,
    the input File, outputs.pb, the output File and the run record all cross the proxy,
    from the client and from the task's process. Each success's outputs are checked
    against what the task computes; after the loop every object is read directly and
    every bundle checked against its digest."""
    tally = Tally("pack run round trip")
    bucket = new_bucket(endpoint)
    store = f"s3://{bucket}/runs"
    project = work / "project"
    project.mkdir(parents=True)
    (project / "pyproject.toml").write_text("")
    (project / "wf.py").write_text(TASK_FILE)
    rng = random.Random(seed)
    outcomes: list[tuple[str, bytes, dict[str, Any] | None]] = []
    started = time.monotonic()
    with FaultProxy(
        *_upstream(endpoint), seed=seed, rates=rates, stall_seconds=stall_for(timeout)
    ) as proxy:
        env = run_env(proxy.url, work / "cache", timeout)
        for i in range(count):
            text = f"run-{i}-{rng.getrandbits(32)}"
            data = rng.randbytes(rng.randrange(1, 300_000))
            blob = work / "in.bin"
            blob.write_bytes(data)
            argv = pack_argv("run", "-o", "json", "--store", store, "--copy", "all")
            argv += pass_env(env)
            argv += ["wf.py", "echo", "--text", text, "--blob", str(blob)]
            tally.operations += 1
            try:
                proc = subprocess.run(
                    argv, cwd=project, env=env, capture_output=True, text=True, timeout=run_timeout
                )
            except subprocess.TimeoutExpired as exc:
                tally.raw.append(
                    f"run {i} still running after {run_timeout:g}s: {exc.stderr!r}"[-2000:]
                )
                continue
            if proc.returncode == 0:
                import json

                tally.succeeded += 1
                outcomes.append((text, data, json.loads(proc.stdout)))
            else:
                tally.cli_error(proc.returncode, proc.stderr)
                outcomes.append((text, data, None))
        tally.add_proxy(proxy.counters)
    tally.seconds = time.monotonic() - started
    _verify_runs(tally, endpoint, bucket, outcomes, work / "verify")
    leftovers = list((work / "tmp").iterdir())
    if leftovers:
        tally.partial.append(f"temp folders left: {[p.name for p in leftovers][:5]}")
    return tally


def _verify_runs(
    tally: Tally,
    endpoint: str,
    bucket: str,
    outcomes: list[tuple[str, bytes, dict[str, Any] | None]],
    work: Path,
) -> None:
    from flyteidl.core.literals_pb2 import LiteralMap

    client = direct_client(endpoint)
    present = set(_keys(client, bucket, ""))

    def get(url: str) -> bytes | None:
        key = urlsplit(url).path.lstrip("/")
        if key not in present:
            return None
        return client.get_object(Bucket=bucket, Key=key)["Body"].read()  # type: ignore[no-any-return]

    for text, data, result in outcomes:
        if result is None:
            continue
        digest, out_url = result["outputs"]["o0"], result["outputs"]["o1"]
        if digest != hashlib.sha256(text.encode() + data).hexdigest():
            tally.corrupt.append(f"{result['execution_id']}: o0 {digest}")
        reversed_ = get(out_url)
        if reversed_ is None:
            tally.lost.append(out_url)
        elif reversed_ != data[::-1]:
            tally.corrupt.append(out_url)
        else:
            tally.checked += 1
        attempt = result["attempts"][-1]["attempt"]
        outputs = get(f"{result['artifacts']}/attempts/{attempt}/outputs.pb")
        if outputs is None:
            tally.lost.append(f"{result['execution_id']} outputs.pb")
        else:
            literals = LiteralMap.FromString(outputs).literals
            if literals["o0"].scalar.primitive.string_value != digest:
                tally.corrupt.append(f"{result['execution_id']} outputs.pb")
            else:
                tally.checked += 1
    tally.orphan_uploads += _unfinished_uploads(client, bucket)
    _verify_bundle_keys(tally, client, bucket, sorted(k for k in present if "/bundles/" in k), work)


def _verify_bundle_keys(
    tally: Tally, client: Any, bucket: str, keys: list[str], work: Path
) -> None:
    from pack.errors import ArchiveError
    from pack.packager.extract import digest_from_url, safe_extract

    work.mkdir(parents=True, exist_ok=True)
    for n, key in enumerate(keys):
        archive = work / f"{n}.tar.zst"
        client.download_file(bucket, key, str(archive))
        try:
            safe_extract(archive, work / f"x{n}", expected=digest_from_url(key))
            tally.checked += 1
        except ArchiveError as exc:
            tally.corrupt.append(f"{key}: {exc.message}")
        shutil.rmtree(work / f"x{n}", ignore_errors=True)
        archive.unlink()
