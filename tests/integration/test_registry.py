"""The registry client against the real registries (127.0.0.1:5000 and the basic-auth one)."""

from __future__ import annotations

import base64
import http.client
import http.server
import json
import os
import threading
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pack.digest import Digest
from pack.errors import RegistryError
from pack.imagespec.dockercreds import DockerCredentials
from pack.imagespec.registry import RegistryClient

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class Ref:
    registry: str | None
    repository: str
    tag: str | None = None
    digest: str | None = None


def split(ref: str) -> Ref:
    repo, _, tag = ref.rpartition(":")
    host, _, name = repo.partition("/")
    return Ref(host, name, tag)


class FlakyProxy(http.server.ThreadingHTTPServer):
    """Forwards to a real registry; can fail the first N requests or play Harbor on 404."""

    def __init__(self, upstream: str, fail_first: int = 0, harbor_404: bool = False) -> None:
        super().__init__(("127.0.0.1", 0), _ProxyHandler)
        self.upstream = upstream
        self.fail_left = fail_first
        self.harbor_404 = harbor_404
        self.requests: list[tuple[str, str, int]] = []
        self.lock = threading.Lock()

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.server_address[1]}"


class _ProxyHandler(http.server.BaseHTTPRequestHandler):
    server: FlakyProxy
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def _answer(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.send_response(status)
        for k, v in headers.items():
            if k.lower() not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        with self.server.lock:
            fail = self.server.fail_left > 0
            self.server.fail_left -= 1 if fail else 0
        if fail:
            self.server.requests.append((self.command, self.path, 500))
            self._answer(500, {}, b'{"errors":[{"code":"UNKNOWN","message":"upstream busy"}]}')
            return
        conn = http.client.HTTPConnection(self.server.upstream, timeout=30)
        headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
        conn.request(self.command, self.path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        status, out = resp.status, dict(resp.getheaders())
        conn.close()
        if self.server.harbor_404 and status == 404:
            status, data = (
                500,
                b'{"errors":[{"code":"NOT_FOUND","message":"repository not found"}]}',
            )
        self.server.requests.append((self.command, self.path, status))
        self._answer(status, out, data)

    do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = _handle


@pytest.fixture()
def proxy_factory(registry) -> Iterator:  # type: ignore[no-untyped-def]
    servers: list[FlakyProxy] = []

    def make(**kw: object) -> FlakyProxy:
        server = FlakyProxy(registry.host, **kw)  # type: ignore[arg-type]
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server

    yield make
    for s in servers:
        s.shutdown()
        s.server_close()


def docker_config(tmp_path: Path, host: str, user: str, password: str) -> DockerCredentials:
    path = tmp_path / "docker" / "config.json"
    path.parent.mkdir()
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    path.write_text(json.dumps({"auths": {host: {"auth": auth}}}))
    return DockerCredentials(path)


def test_exists_digest_and_missing(registry, base_image: str) -> None:  # type: ignore[no-untyped-def]
    client = RegistryClient()
    ref = split(base_image)
    assert client.exists(ref) is True
    assert client.exists(ref, ["linux/amd64"]) is True
    digest = client.manifest_digest(ref)
    assert digest is not None
    assert client.exists(Ref(ref.registry, ref.repository, digest=str(digest))) is True
    assert client.exists(Ref(ref.registry, ref.repository, "no-such-tag")) is False
    assert client.exists(Ref(ref.registry, f"nope/{uuid.uuid4().hex}", "x")) is False
    assert client.manifest_digest(Ref(ref.registry, ref.repository, "no-such-tag")) is None


def test_copy_to_another_repository_mounts_blobs(registry, base_image: str) -> None:  # type: ignore[no-untyped-def]
    client = RegistryClient()
    src = split(base_image)
    dst = Ref(registry.host, f"test/copy-{uuid.uuid4().hex[:8]}", "moved")
    assert client.exists(dst) is False
    digest = client.copy_image(src, dst)
    assert client.exists(dst) is True
    assert client.manifest_digest(dst) == digest == client.manifest_digest(src)


def test_500_then_200_is_retried(proxy_factory, base_image: str) -> None:  # type: ignore[no-untyped-def]
    proxy = proxy_factory(fail_first=1)
    ref = split(base_image)
    flaky = Ref(proxy.host, ref.repository, ref.tag)
    assert RegistryClient(backoff=0.01).exists(flaky) is True
    assert proxy.requests[0][2] == 500
    assert any(status == 200 for _, _, status in proxy.requests[1:])


def test_always_500_is_an_error_naming_the_registry(proxy_factory, base_image: str) -> None:  # type: ignore[no-untyped-def]
    proxy = proxy_factory(fail_first=100)
    ref = split(base_image)
    with pytest.raises(RegistryError, match=rf"registry {proxy.host}: .*500 after 3 attempts"):
        RegistryClient(backoff=0.01, retries=2).exists(Ref(proxy.host, ref.repository, ref.tag))


def test_harbor_style_500_not_found_means_missing(proxy_factory, base_image: str) -> None:  # type: ignore[no-untyped-def]
    proxy = proxy_factory(harbor_404=True)
    client = RegistryClient(backoff=0.01)
    assert client.exists(Ref(proxy.host, f"missing/{uuid.uuid4().hex}", "x")) is False
    ref = split(base_image)
    assert client.exists(Ref(proxy.host, ref.repository, ref.tag)) is True


def test_basic_auth_registry_with_docker_config(
    auth_registry, registry, base_image: str, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    creds = docker_config(
        tmp_path, auth_registry.host, auth_registry.username, auth_registry.password
    )
    client = RegistryClient(credentials=creds)
    repo = f"test/auth-{uuid.uuid4().hex[:8]}"
    dst = Ref(auth_registry.host, repo, "v1")
    assert client.exists(dst) is False
    # Copy across registries: blobs are downloaded and uploaded, not mounted.
    digest = client.copy_image(split(base_image), dst)
    assert client.exists(dst) is True
    assert client.manifest_digest(dst) == digest


def test_basic_auth_registry_fails_clearly_without_creds(auth_registry, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    client = RegistryClient(credentials=DockerCredentials(tmp_path / "none" / "config.json"))
    with pytest.raises(RegistryError, match=rf"registry {auth_registry.host}: 401 Unauthorized"):
        client.exists(Ref(auth_registry.host, "x/y", "z"))


def test_wrong_password_names_registry_and_status_not_password(
    auth_registry, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    creds = docker_config(tmp_path, auth_registry.host, auth_registry.username, "wrong-pw-123")
    with pytest.raises(RegistryError) as info:
        RegistryClient(credentials=creds).exists(Ref(auth_registry.host, "x/y", "z"))
    assert auth_registry.host in str(info.value) and "401" in str(info.value)
    assert "wrong-pw-123" not in str(info.value)


class Recording:
    """The real HTTP transport, with every (method, url, body size) written down."""

    def __init__(self) -> None:
        from pack.imagespec.registry import HttpTransport

        self.inner = HttpTransport()
        self.seen: list[tuple[str, str, int]] = []
        self.lock = threading.Lock()

    def __call__(self, method, url, headers, body, **kw):  # type: ignore[no-untyped-def]
        with self.lock:
            self.seen.append(
                (method, url, len(body) if isinstance(body, (bytes, bytearray)) else 0)
            )
        return self.inner(method, url, headers, body, **kw)


def test_upload_blob_in_chunks_then_mount_then_present(registry) -> None:  # type: ignore[no-untyped-def]
    from pack.imagespec.registry import Blob

    data = os.urandom(5 << 20)
    blob = Blob.from_bytes(data)
    rec = Recording()
    client = RegistryClient(transport=rec, chunk_size=1 << 20)
    repo = f"test/upload-{uuid.uuid4().hex[:8]}"
    assert client.upload_blob(registry.host, repo, blob) == "uploaded"
    patches = [size for method, _, size in rec.seen if method == "PATCH"]
    assert patches == [1 << 20] * 5
    assert [m for m, _, _ in rec.seen][-1] == "PUT"
    with urllib.request.urlopen(f"http://{registry.host}/v2/{repo}/blobs/{blob.digest}") as r:  # noqa: S310
        assert r.read() == data
    other = f"test/upload-{uuid.uuid4().hex[:8]}"
    assert client.upload_blob(registry.host, other, blob, mount_from=repo) == "mounted"
    assert client.upload_blob(registry.host, other, blob) == "present"


def test_copy_across_registries_streams_in_bounded_memory(
    registry, auth_registry, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    import tracemalloc

    from pack.imagespec.registry import DOCKER_MANIFEST, Blob, Manifest

    layer = tmp_path / "layer"
    with open(layer, "wb") as f:
        for _ in range(24):
            f.write(os.urandom(1 << 20))
    config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {}}).encode()
    repo = f"test/big-{uuid.uuid4().hex[:8]}"
    push = RegistryClient()
    blobs = [Blob.from_bytes(config), Blob.from_path(layer)]
    for blob in blobs:
        push.upload_blob(registry.host, repo, blob)
    body = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": DOCKER_MANIFEST,
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "digest": str(blobs[0].digest),
                "size": blobs[0].size,
            },
            "layers": [
                {
                    "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                    "digest": str(blobs[1].digest),
                    "size": blobs[1].size,
                }
            ],
        }
    ).encode()
    manifest = Manifest(DOCKER_MANIFEST, body, Digest.of_bytes(body))
    push.put_manifest(registry.host, repo, "v1", manifest)

    creds = docker_config(
        tmp_path, auth_registry.host, auth_registry.username, auth_registry.password
    )
    rec = Recording()
    client = RegistryClient(credentials=creds, transport=rec, chunk_size=1 << 20)
    dst = Ref(auth_registry.host, repo, "copied")
    tracemalloc.start()
    try:
        digest = client.copy_image(Ref(registry.host, repo, "v1"), dst)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert digest == manifest.digest == client.manifest_digest(dst)
    # 24 MiB went through in 1 MiB chunks: memory held one chunk at a time, never the layer.
    assert peak < 2 << 20, f"peak {peak / 2**20:.2f} MiB"
    patches = [size for m, url, size in rec.seen if m == "PATCH" and auth_registry.host in url]
    assert patches == [1 << 20] * 24
    assert client.blob_exists(auth_registry.host, repo, blobs[1].digest)
