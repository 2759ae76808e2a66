"""The one blob upload path (upload_blob) and registry copies, against an in-memory registry."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import BinaryIO

import pytest

from pack.digest import Digest
from pack.errors import RegistryError
from pack.imagespec.registry import DOCKER_MANIFEST, Blob, RegistryClient
from tests.unit.build.fake_registry import FakeRegistry
from tests.unit.build.test_registry_client import Ref


def client(reg: FakeRegistry, **kw: object) -> RegistryClient:
    return RegistryClient(transport=reg, sleep=lambda _: None, retries=2, **kw)  # type: ignore[arg-type]


def methods(reg: FakeRegistry) -> list[str]:
    return [s.method for s in reg.seen]


def test_small_blob_is_one_post_and_one_committing_put() -> None:
    reg = FakeRegistry()
    blob = Blob.from_bytes(b"config")
    assert client(reg).upload_blob(reg.host, "a/b", blob) == "uploaded"
    assert methods(reg) == ["HEAD", "POST", "PUT"]
    assert reg.blobs["a/b"][str(blob.digest)] == b"config"
    assert f"digest=sha256%3A{blob.digest.hex}" in reg.seen[-1].url
    # Present now: one HEAD, nothing sent.
    assert client(reg).upload_blob(reg.host, "a/b", blob) == "present"


def test_big_blob_is_patched_in_chunks_then_committed() -> None:
    reg = FakeRegistry()
    data = bytes(range(256)) * 40  # 10240 bytes
    c = client(reg, chunk_size=4096)
    assert c.upload_blob(reg.host, "a", Blob.from_bytes(data)) == "uploaded"
    patches = [s for s in reg.seen if s.method == "PATCH"]
    assert [p.headers["Content-Range"] for p in patches] == ["0-4095", "4096-8191", "8192-10239"]
    assert [p.size for p in patches] == [4096, 4096, 2048]
    assert reg.seen[-1].method == "PUT" and reg.seen[-1].size == 0
    assert reg.blobs["a"][str(Digest.of_bytes(data))] == data


def test_registry_minimum_chunk_length_is_honoured() -> None:
    reg = FakeRegistry()
    real = reg._answer

    def answer(method, path, query, headers, data):  # type: ignore[no-untyped-def]
        resp = real(method, path, query, headers, data)
        if method == "POST":
            return type(resp)(resp.status, {**resp.headers, "oci-chunk-min-length": "6000"})
        return resp

    reg._answer = answer  # type: ignore[method-assign]
    client(reg, chunk_size=4096).upload_blob(reg.host, "a", Blob.from_bytes(b"x" * 10000))
    assert [s.size for s in reg.seen if s.method == "PATCH"] == [6000, 4000]


@contextmanager
def chunks_of(data: bytes, n: int) -> Iterator[BinaryIO]:
    """A stream that returns short reads, as a socket does."""

    class Short(io.RawIOBase):
        pos = 0

        def readable(self) -> bool:
            return True

        def readinto(self, b):  # type: ignore[no-untyped-def]
            piece = data[self.pos : self.pos + min(n, len(b))]
            b[: len(piece)] = piece
            self.pos += len(piece)
            return len(piece)

    yield Short()  # type: ignore[misc]


def test_short_reads_still_fill_whole_chunks() -> None:
    reg = FakeRegistry()
    data = b"abcdefghij" * 1000
    blob = Blob(Digest.of_bytes(data), len(data), lambda: chunks_of(data, 7))
    client(reg, chunk_size=4096).upload_blob(reg.host, "a", blob)
    assert [s.size for s in reg.seen if s.method == "PATCH"] == [4096, 4096, 1808]


@pytest.mark.parametrize(
    ("given", "why"),
    [(b"x" * 9999, "9999 bytes"), (b"y" * 10000, "10000 bytes"), (b"x" * 10001, "more than")],
)
def test_source_that_differs_from_digest_or_size_is_never_committed(given: bytes, why: str) -> None:
    reg = FakeRegistry()
    promised = Blob(Digest.of_bytes(b"x" * 10000), 10000, lambda: io.BytesIO(given))
    with pytest.raises(RegistryError, match=f"source gave {why}.*nothing was committed"):
        client(reg, chunk_size=4096).upload_blob(reg.host, "a", promised)
    assert reg.blobs.get("a", {}) == {}
    assert reg.uploads == {}  # cancelled (DELETE), not left open
    assert "PUT" not in methods(reg)


def test_lost_patch_answer_resumes_from_the_registry_offset() -> None:
    reg = FakeRegistry()
    dropped = []

    def hook(method: str, url: str) -> None:
        # The second PATCH reaches the registry, but its answer is lost.
        if method == "PATCH" and sum(s.method == "PATCH" for s in reg.seen) == 2 and not dropped:
            dropped.append(url)
            with reg.lock:
                reg._answer(
                    "PATCH", "/" + url.split("/", 3)[3], {}, reg.seen[-1].headers, DATA[4096:8192]
                )
            raise ConnectionResetError("answer lost")

    DATA = bytes(range(250)) * 48
    reg.hook = hook
    client(reg, chunk_size=4096).upload_blob(reg.host, "a", Blob.from_bytes(DATA))
    assert dropped
    assert reg.blobs["a"][str(Digest.of_bytes(DATA))] == DATA
    ranges = [s.headers["Content-Range"] for s in reg.seen if s.method == "PATCH"]
    # The retry of 4096-8191 is refused (416), the status says 8192 bytes are there: go on.
    assert ranges == ["0-4095", "4096-8191", "4096-8191", "8192-11999"]


def test_broken_source_stream_starts_the_upload_again() -> None:
    reg = FakeRegistry()
    data = b"z" * 10000
    opened = []

    class Breaks(io.BytesIO):
        def readinto(self, b):  # type: ignore[no-untyped-def]
            if self.tell() >= 4096:
                raise ConnectionResetError("source dropped")
            return super().readinto(b)

    def open_() -> io.BytesIO:
        opened.append(1)
        return Breaks(data) if len(opened) == 1 else io.BytesIO(data)

    blob = Blob(Digest.of_bytes(data), len(data), open_)
    assert client(reg, chunk_size=4096).upload_blob(reg.host, "a", blob) == "uploaded"
    assert len(opened) == 2 and reg.uploads == {}  # the broken upload was cancelled
    assert reg.blobs["a"][str(blob.digest)] == data


def test_mount_is_tried_first_and_reads_nothing() -> None:
    reg = FakeRegistry()
    digest = reg.add_blob("src", b"layer")

    def never() -> BinaryIO:
        raise AssertionError("a mounted blob is not read")

    blob = Blob(Digest.parse(digest), 5, never)
    assert client(reg).upload_blob(reg.host, "dst", blob, mount_from="src") == "mounted"
    assert methods(reg) == ["HEAD", "POST"] and "mount=" in reg.seen[1].url
    assert reg.has_blob("dst", digest)


def test_declined_mount_uploads_into_the_session_it_opened() -> None:
    reg = FakeRegistry(mount=False)
    digest = reg.add_blob("src", b"layer")
    blob = Blob(Digest.parse(digest), 5, lambda: io.BytesIO(b"layer"))
    assert client(reg).upload_blob(reg.host, "dst", blob, mount_from="src") == "uploaded"
    assert methods(reg) == ["HEAD", "POST", "PUT"]


# ---------------------------------------------------------------- copies


def image(reg: FakeRegistry, repo: str, layers: list[bytes], tag: str = "v1") -> bytes:
    config = json.dumps({"architecture": "amd64", "os": "linux"}).encode()
    manifest = {
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST,
        "config": {"digest": reg.add_blob(repo, config), "size": len(config)},
        "layers": [{"digest": reg.add_blob(repo, data), "size": len(data)} for data in layers],
    }
    body = json.dumps(manifest).encode()
    reg.manifests[(repo, tag)] = (DOCKER_MANIFEST, body)
    return body


def test_copy_to_another_host_streams_each_blob_in_chunks() -> None:
    src, dst = FakeRegistry(host="127.0.0.1:5000"), FakeRegistry(host="127.0.0.1:5001")

    def route(method, url, headers, body, *, stream=False):  # type: ignore[no-untyped-def]
        reg = dst if ":5001" in url else src
        return reg(method, url, headers, body, stream=stream)

    body = image(src, "app", [b"a" * 10000, b"b" * 300])
    c = RegistryClient(transport=route, sleep=lambda _: None, chunk_size=4096)
    digest = c.copy_image(Ref(src.host, "app"), Ref(dst.host, "copy", "moved"))
    assert digest == Digest.of_bytes(body)
    assert dst.manifests[("copy", "moved")][1] == body
    assert set(dst.blobs["copy"]) == set(src.blobs["app"])
    assert sum(s.method == "PATCH" for s in dst.seen) == 3  # the 10000-byte layer only


def test_blobs_are_copied_in_parallel() -> None:
    reg = FakeRegistry(mount=False)
    image(reg, "app", [b"1" * 10, b"2" * 10, b"3" * 10])
    together = threading.Barrier(4, timeout=5)  # config + 3 layers, all reading at once

    def hook(method: str, url: str) -> None:
        if method == "GET" and "/blobs/sha256:" in url:
            together.wait()

    reg.hook = hook
    c = RegistryClient(transport=reg, sleep=lambda _: None, jobs=4)
    c.copy_image(Ref(reg.host, "app"), Ref(reg.host, "other"))
    assert len(reg.blobs["other"]) == 4 and not together.broken


@pytest.mark.parametrize(
    "bad",
    ["../../victim/manifests/latest", "sha256:" + "0" * 63, "sha512:" + "0" * 128, None, 7],
)
def test_a_source_manifest_digest_never_reaches_a_request_path(bad: object) -> None:
    reg = FakeRegistry()
    body = json.dumps(
        {"schemaVersion": 2, "config": {"digest": bad, "size": 2}, "layers": []}
    ).encode()
    reg.manifests[("app", "v1")] = (DOCKER_MANIFEST, body)
    with pytest.raises(RegistryError, match="invalid digest"):
        client(reg).copy_image(Ref(reg.host, "app"), Ref(reg.host, "other"))
    assert [s.method for s in reg.seen] == ["GET"]  # nothing after reading the manifest


def test_an_index_child_with_a_path_for_a_digest_is_refused() -> None:
    reg = FakeRegistry()
    index = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{"digest": "sha256:../../victim/manifests/latest", "size": 10}],
    }
    reg.manifests[("app", "v1")] = (index["mediaType"], json.dumps(index).encode())
    with pytest.raises(RegistryError, match="invalid digest"):
        client(reg).copy_image(Ref(reg.host, "app"), Ref(reg.host, "other"))
    assert not any("victim" in s.url for s in reg.seen)


def test_a_manifest_that_does_not_match_its_digest_is_refused() -> None:
    reg = FakeRegistry()
    body = image(reg, "app", [b"l"])
    pinned = Ref(reg.host, "app", tag=None, digest=str(Digest.of_bytes(body)))
    reg.manifests[("app", pinned.digest)] = (DOCKER_MANIFEST, body + b" ")  # type: ignore[index]
    with pytest.raises(RegistryError, match="arrived with other content"):
        client(reg).get_manifest(pinned)


def test_a_tagged_manifest_must_match_the_digest_header() -> None:
    reg = FakeRegistry()
    image(reg, "app", [b"l"])
    real = reg._answer

    def answer(method, path, query, headers, data):  # type: ignore[no-untyped-def]
        resp = real(method, path, query, headers, data)
        if "/manifests/" in path and method == "GET":
            return type(resp)(
                resp.status,
                {**resp.headers, "docker-content-digest": "sha256:" + "1" * 64},
                resp.body,
            )
        return resp

    reg._answer = answer  # type: ignore[method-assign]
    with pytest.raises(RegistryError, match="arrived with other content"):
        client(reg).copy_image(Ref(reg.host, "app"), Ref(reg.host, "other"))
    assert ("other", "v1") not in reg.manifests


def test_a_blob_with_other_content_is_not_committed_on_copy() -> None:
    src, dst = FakeRegistry(host="127.0.0.1:5000"), FakeRegistry(host="127.0.0.1:5001")
    image(src, "app", [b"good layer"])
    layer = next(d for d, v in src.blobs["app"].items() if v == b"good layer")
    src.blobs["app"][layer] = b"evil layer"  # same length, other bytes

    def route(method, url, headers, body, *, stream=False):  # type: ignore[no-untyped-def]
        return (dst if ":5001" in url else src)(method, url, headers, body, stream=stream)

    c = RegistryClient(transport=route, sleep=lambda _: None)
    with pytest.raises(RegistryError, match="nothing was committed"):
        c.copy_image(Ref(src.host, "app"), Ref(dst.host, "copy"))
    assert layer not in dst.blobs.get("copy", {})
    assert ("copy", "v1") not in dst.manifests
