"""pack's registry client behind the fault proxy, against the real registry: uploads whose
session the registry drops, a HEAD answered 5xx, and the bounded push/copy loop."""

from __future__ import annotations

import os
import tracemalloc
import urllib.request
import uuid
from pathlib import Path

import pytest

from pack.imagespec.registry import Blob, HttpTransport, RegistryClient

from .proxy import FaultProxy, Rates, stall_for
from .registry_loops import registry_loop
from .test_s3_faults import SEED, TIMEOUT, _assert_sound

pytestmark = pytest.mark.integration


def _proxy(registry, kind: str, match, limit: int = 1) -> FaultProxy:  # type: ignore[no-untyped-def]
    host, _, port = registry.host.rpartition(":")
    return FaultProxy(
        host,
        int(port),
        seed=SEED,
        rates=Rates(**{kind: 1.0}, burst_max=1),  # type: ignore[arg-type]
        stall_seconds=stall_for(TIMEOUT),
        flavor="registry",
        match=match,
        limit=limit,
    )


@pytest.mark.parametrize("kind", ["reset_request", "reset_response", "stall"])
def test_an_upload_whose_chunk_broke_starts_again(registry, kind: str) -> None:  # type: ignore[no-untyped-def]
    # The registry holds the offset in the upload URL's _state: after a chunk reached it
    # in part, or arrived while its answer was lost, every call on that upload answers
    # 404 BLOB_UPLOAD_INVALID. The client starts a new upload instead of failing.
    data = os.urandom(300_000)
    blob = Blob.from_bytes(data)
    repo = f"pack-faults/upload-{uuid.uuid4().hex[:8]}"
    with _proxy(registry, kind, lambda method, _: method == "PATCH") as proxy:
        client = RegistryClient(
            transport=HttpTransport(timeout=TIMEOUT), chunk_size=64 * 1024, backoff=0.01
        )
        assert client.upload_blob(proxy.host, repo, blob) == "uploaded"
    assert proxy.counters.faults[kind] == 1
    posts = [m for _, m, target, _ in proxy.counters.log if m == "POST"]
    assert len(posts) == 2  # the first upload was given up, a second one made it
    url = f"http://{registry.host}/v2/{repo}/blobs/{blob.digest}"
    with urllib.request.urlopen(url) as resp:  # noqa: S310 - loopback
        assert resp.read() == data


def test_a_commit_whose_body_broke_starts_again(registry) -> None:  # type: ignore[no-untyped-def]
    data = os.urandom(20_000)  # one chunk: it travels in the committing PUT
    blob = Blob.from_bytes(data)
    repo = f"pack-faults/commit-{uuid.uuid4().hex[:8]}"
    with _proxy(registry, "reset_request", lambda m, t: m == "PUT" and "uploads" in t) as proxy:
        client = RegistryClient(transport=HttpTransport(timeout=TIMEOUT), backoff=0.01)
        assert client.upload_blob(proxy.host, repo, blob) == "uploaded"
    assert proxy.counters.faults["reset_request"] == 1
    assert client.blob_exists(registry.host, repo, blob.digest)


@pytest.mark.parametrize("kind", ["truncate", "reset_response"])
def test_a_blob_read_whose_body_breaks_is_read_again(registry, kind: str) -> None:  # type: ignore[no-untyped-def]
    # read_blob (image configs, for the oci builder) got a short body as "other content"
    # (http.client's read(n) ends quietly at a short body) and a reset as a raw OSError.
    data = os.urandom(200_000)
    blob = Blob.from_bytes(data)
    repo = f"pack-faults/read-{uuid.uuid4().hex[:8]}"
    RegistryClient().upload_blob(registry.host, repo, blob)
    is_blob_get = lambda m, t: m == "GET" and "/blobs/" in t  # noqa: E731
    with _proxy(registry, kind, is_blob_get) as proxy:
        client = RegistryClient(backoff=0.01)
        assert client.read_blob(proxy.host, repo, blob.digest, limit=1 << 20) == data
    assert proxy.counters.faults[kind] == 1


def test_a_copy_whose_source_breaks_midway_starts_the_blob_again(registry) -> None:  # type: ignore[no-untyped-def]
    # Across two hosts a blob streams from one to the other: a source that ends short
    # is read again (a new upload), not a failed copy.
    from pack.imagespec.registry import Descriptor

    data = os.urandom(300_000)
    blob = Blob.from_bytes(data)
    src, dst = (
        f"pack-faults/src-{uuid.uuid4().hex[:8]}",
        f"pack-faults/dst-{uuid.uuid4().hex[:8]}",
    )
    RegistryClient().upload_blob(registry.host, src, blob)
    is_blob_get = lambda m, t: m == "GET" and "/blobs/" in t  # noqa: E731
    host, _, port = registry.host.rpartition(":")
    with (
        _proxy(registry, "truncate", is_blob_get) as source,
        FaultProxy(host, int(port), seed=SEED, rates=Rates(), flavor="registry") as target,
    ):
        client = RegistryClient(backoff=0.01, chunk_size=64 * 1024)
        status = client.copy_blob(
            (source.host, src), (target.host, dst), Descriptor(blob.digest, blob.size)
        )
    assert status == "uploaded" and source.counters.faults["truncate"] == 1
    url = f"http://{registry.host}/v2/{dst}/blobs/{blob.digest}"
    with urllib.request.urlopen(url) as resp:  # noqa: S310 - loopback
        assert resp.read() == data


def test_a_head_answered_503_does_not_download_the_blob(registry) -> None:  # type: ignore[no-untyped-def]
    # A 5xx to a HEAD is looked at again with a GET (Harbor/ECR say "not found" that way);
    # that GET must not read a blob that is there into memory. (The proxy buffers whole
    # answers in this process, so the 503 comes from a transport of the test's own.)
    from pack.imagespec.registry import Response

    repo = f"pack-faults/head-{uuid.uuid4().hex[:8]}"
    blob = Blob.from_bytes(os.urandom(32 << 20))
    RegistryClient().upload_blob(registry.host, repo, blob)
    real = HttpTransport()
    heads = []

    def head_503(method, url, headers, body, **kw):  # type: ignore[no-untyped-def]
        if method == "HEAD":
            heads.append(url)
            return Response(503, {}, b"")
        return real(method, url, headers, body, **kw)

    client = RegistryClient(transport=head_503, retries=0)
    tracemalloc.start()
    try:
        assert client.blob_exists(registry.host, repo, blob.digest) is True
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(heads) == 1
    assert peak < 4 << 20, f"peak {peak} bytes for a blob of 32 MiB"


def test_registry_loop(registry, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    tally = registry_loop(
        registry.host,
        tmp_path,
        count=int(os.environ.get("PACK_FAULTS_REGISTRY_OPS", "18")),
        seed=SEED,
        rates=Rates.uniform(0.1),
        timeout=TIMEOUT,
    )
    _assert_sound(tally)
