"""Credentials go only to the host they were issued for (issue 15.2).

Two loopback listeners of the test's own stand for two hosts: the registry (which asks
for Basic auth) and another host its upload Location points at. Each records the
Authorization header of every request it got.
"""

from __future__ import annotations

import base64
import hashlib
import http.server
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from pack.errors import RegistryError
from pack.imagespec.dockercreds import DockerCredentials
from pack.imagespec.registry import Blob, RegistryClient, Response


@dataclass
class Host:
    server: http.server.ThreadingHTTPServer
    got: list[tuple[str, str, str | None]] = field(default_factory=list)  # method, path, auth
    location: str = ""  # what a POST to /v2/*/blobs/uploads/ answers with
    need_auth: bool = False
    stored: bytearray = field(default_factory=bytearray)

    @property
    def netloc(self) -> str:
        return f"127.0.0.1:{self.server.server_address[1]}"


def _handler(host: Host) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def _reply(self, status: int, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def _any(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            auth = self.headers.get("Authorization")
            host.got.append((self.command, self.path, auth))
            if host.need_auth and auth is None:
                self._reply(401, {"WWW-Authenticate": 'Basic realm="registry"'})
            elif self.command == "HEAD":
                self._reply(404)
            elif self.command == "POST":
                self._reply(202, {"Location": host.location})
            elif self.command == "PATCH":
                host.stored += body
                self._reply(202, {"Location": self.path.split("?")[0]})
            elif self.command == "PUT":
                host.stored += body
                digest = "sha256:" + hashlib.sha256(bytes(host.stored)).hexdigest()
                self._reply(201, {"Docker-Content-Digest": digest})
            else:
                self._reply(405)

        do_GET = do_HEAD = do_POST = do_PATCH = do_PUT = do_DELETE = _any

    return Handler


@pytest.fixture()
def hosts() -> Iterator[tuple[Host, Host]]:
    made: list[Host] = []
    for _ in range(2):
        server = http.server.ThreadingHTTPServer(
            ("127.0.0.1", 0), http.server.BaseHTTPRequestHandler
        )
        host = Host(server)
        server.RequestHandlerClass = _handler(host)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        made.append(host)
    yield made[0], made[1]
    for h in made:
        h.server.shutdown()
        h.server.server_close()


def creds_for(tmp_path: Path, netloc: str) -> DockerCredentials:
    path = tmp_path / "config.json"
    auth = base64.b64encode(b"pack:registry-password").decode()
    path.write_text(json.dumps({"auths": {netloc: {"auth": auth}}}))
    return DockerCredentials(path)


BASIC = "Basic " + base64.b64encode(b"pack:registry-password").decode()


@pytest.mark.parametrize("chunk", [1 << 20, 64])  # one committing PUT; PATCHes then a PUT
def test_upload_location_on_another_host_gets_no_credentials(
    hosts: tuple[Host, Host], tmp_path: Path, chunk: int
) -> None:
    registry, other = hosts
    registry.need_auth = True
    registry.location = f"http://{other.netloc}/upload/1"
    c = RegistryClient(credentials=creds_for(tmp_path, registry.netloc), chunk_size=chunk)
    assert c.upload_blob(registry.netloc, "app", Blob.from_bytes(b"q" * 200)) == "uploaded"
    # The registry got the password (after its challenge), the other host never did.
    assert [a for _, _, a in registry.got] == [None, BASIC, BASIC]
    assert other.got and all(auth is None for _, _, auth in other.got)
    assert {m for m, _, _ in other.got} == ({"PUT"} if chunk > 200 else {"PATCH", "PUT"})
    assert bytes(other.stored) == b"q" * 200


def test_upload_location_on_the_same_host_keeps_credentials(
    hosts: tuple[Host, Host], tmp_path: Path
) -> None:
    registry, _ = hosts
    registry.need_auth = True
    registry.location = f"http://{registry.netloc}/upload/1"
    c = RegistryClient(credentials=creds_for(tmp_path, registry.netloc))
    c.upload_blob(registry.netloc, "app", Blob.from_bytes(b"q"))
    assert registry.got[-1][0] == "PUT" and registry.got[-1][2] == BASIC


def script(*answers: Response):  # type: ignore[no-untyped-def]
    seen: list[tuple[str, str, dict[str, str]]] = []
    queue = list(answers)

    def transport(method, url, headers, body, *, stream=False):  # type: ignore[no-untyped-def]
        seen.append((method, url, dict(headers)))
        return queue.pop(0)

    return transport, seen


def test_https_registry_location_to_plain_http_is_refused(tmp_path: Path) -> None:
    transport, seen = script(
        Response(404, {}),
        Response(202, {"location": "http://reg.example.com/upload/1"}),
    )
    c = RegistryClient(transport=transport, credentials=creds_for(tmp_path, "reg.example.com"))
    with pytest.raises(RegistryError, match="refusing the upload Location over plain http"):
        c.upload_blob("reg.example.com", "app", Blob.from_bytes(b"q"))
    assert [u for _, u, _ in seen] == [
        f"https://reg.example.com/v2/app/blobs/{Blob.from_bytes(b'q').digest}",
        "https://reg.example.com/v2/app/blobs/uploads/",
    ]


def test_https_registry_may_hand_an_upload_to_another_https_host_without_credentials(
    tmp_path: Path,
) -> None:
    transport, seen = script(
        Response(401, {"www-authenticate": 'Basic realm="r"'}),
        Response(404, {}),
        Response(202, {"location": "https://storage.example.net/upload/1?sig=x"}),
        Response(201, {}),
    )
    c = RegistryClient(transport=transport, credentials=creds_for(tmp_path, "reg.example.com"))
    c.upload_blob("reg.example.com", "app", Blob.from_bytes(b"q"))
    assert seen[-1][1].startswith("https://storage.example.net/upload/1?sig=x&digest=")
    assert "Authorization" not in seen[-1][2] and seen[-2][2]["Authorization"] == BASIC


def test_blob_redirect_to_plain_http_is_refused() -> None:
    transport, _ = script(Response(307, {"location": "http://cdn.example.net/blob"}))
    c = RegistryClient(transport=transport)
    with pytest.raises(RegistryError, match="refusing a blob redirect over plain http"):
        with c._open_blob("reg.example.com", "app", Blob.from_bytes(b"q").digest):
            pass


@pytest.mark.parametrize(
    ("registry", "insecure", "refused"),
    [
        ("reg.example.com", (), True),
        ("127.0.0.1:5000", (), False),
        ("reg.lan:5000", ("reg.lan:5000",), False),
    ],
)
def test_http_token_realm_only_for_loopback_or_insecure_registries(
    tmp_path: Path, registry: str, insecure: tuple[str, ...], refused: bool
) -> None:
    transport, seen = script(
        Response(401, {"www-authenticate": 'Bearer realm="http://auth.example.com/token"'}),
        Response(200, {}, b'{"token": "t"}'),
        Response(200, {}),
    )
    c = RegistryClient(
        transport=transport, credentials=creds_for(tmp_path, registry), insecure=insecure
    )
    ref = type("R", (), {"registry": registry, "repository": "app", "tag": "v1", "digest": None})
    if refused:
        with pytest.raises(RegistryError, match="refusing the token realm over plain http"):
            c.exists(ref)
        assert len(seen) == 1  # the password never left
    else:
        assert c.exists(ref) is True
        assert seen[1][1].startswith("http://auth.example.com/token")
