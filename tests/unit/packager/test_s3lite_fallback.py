"""The light S3 client is never worse than boto3: it follows a bucket's region as
botocore does, addresses bucket names a certificate cannot cover by path, leaves to boto3
the settings it cannot honour, and hands to boto3 any answer it does not understand.

A tiny S3 of the tests' own answers here (redirects and odd answers are what the real
S3 server of the suite never gives); tests/integration/test_s3_store.py covers the
normal paths against the real one."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from pack.packager import s3lite, store
from pack.packager.s3 import S3Store, _light_client
from pack.packager.s3lite import LiteClient, LiteFallback, unsupported

CREDS = ("AKIDEXAMPLE", "secret", None)
# (method, path, headers) -> (status, headers, body)
Answer = Callable[[str, str, dict[str, str]], tuple[int, dict[str, str], bytes]]


class TinyS3:
    """Records every request; `answer` decides the reply."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.seen: list[tuple[str, str, dict[str, str]]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # answers boto3's Expect: 100-continue at once

            def _reply(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}
                owner.seen.append((self.command, self.path, headers))
                status, extra, body = owner.answer(self.command, self.path, headers)
                if self.command == "PUT" and status == 200:
                    body = b""  # as S3: botocore reads a PUT's 200 with a body as an error
                self.send_response(status)
                extra = dict(extra)
                cut = extra.pop("X-Test-Cut", None)  # send this many bytes, then hang up
                for k, v in extra.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body if cut is None else body[: int(cut)])
                if cut is not None:
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)

            do_GET = do_PUT = do_HEAD = _reply

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def boto3_calls(self) -> int:
        return sum("boto3" in h.get("user-agent", "").lower() for _, _, h in self.seen)


@pytest.fixture()
def tiny(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[Answer], TinyS3]]:
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_CONFIG_FILE", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    for name in ("AWS_SESSION_TOKEN", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "AWS_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "http_proxy", "HTTP_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", CREDS[0])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", CREDS[1])
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setattr(store, "_light_s3", True)
    servers: list[TinyS3] = []

    def start(answer: Answer) -> TinyS3:
        servers.append(TinyS3(answer))
        return servers[-1]

    yield start
    for server in servers:
        server.server.shutdown()
        server.server.server_close()


def scope_region(headers: dict[str, str]) -> str:
    """The region a request was signed for (its Authorization's credential scope)."""
    return headers["authorization"].split("Credential=")[1].split("/")[2]


OK = (200, {"ETag": '"e"', "Last-Modified": "Wed, 01 May 2024 12:00:00 GMT"}, b"hello")


def test_a_bucket_in_another_region_is_followed_once_then_asked_there(
    tiny: Callable[[Answer], TinyS3],
) -> None:
    def answer(
        method: str, path: str, headers: dict[str, str]
    ) -> tuple[int, dict[str, str], bytes]:
        if scope_region(headers) == "eu-central-1":
            return OK
        if method == "HEAD":  # a HEAD has no body: the region comes in a header
            return 301, {"x-amz-bucket-region": "eu-central-1"}, b""
        if method == "PUT":
            xml = b"<Error><Code>PermanentRedirect</Code><Message>m</Message></Error>"
            return 301, {"x-amz-bucket-region": "eu-central-1"}, xml
        xml = (
            b"<Error><Code>AuthorizationHeaderMalformed</Code><Message>the region"
            b" 'us-east-1' is wrong; expecting 'eu-central-1'</Message>"
            b"<Region>eu-central-1</Region></Error>"
        )
        return 400, {}, xml

    for first in ("HEAD", "GET", "PUT"):
        server = tiny(answer)
        s3 = S3Store("bkt", "p", endpoint_url=server.url)
        calls = {
            "HEAD": lambda s3=s3: s3.exists("k"),
            "GET": lambda s3=s3: s3.get_bytes("k"),
            "PUT": lambda s3=s3: s3.put_bytes("k", b"v"),
        }
        assert calls[first]() in (True, b"hello")
        assert [scope_region(h) for _, _, h in server.seen] == ["us-east-1", "eu-central-1"]
        # The bucket's region is remembered: the other calls go there at once.
        for method, call in calls.items():
            if method != first:
                assert call() in (True, b"hello")
        assert [scope_region(h) for _, _, h in server.seen[2:]] == ["eu-central-1"] * 2
        assert server.boto3_calls() == 0 and getattr(s3.client, "light", False)


@pytest.mark.parametrize(
    ("status", "headers", "body"),
    [
        (301, {}, b""),  # a redirect without the region to follow
        (307, {"Location": "http://elsewhere/"}, b""),
        (400, {"Content-Type": "text/html"}, b"<html>proxy says no</html>"),  # no S3 error
        (403, {}, b"Forbidden"),
    ],
)
def test_an_answer_it_does_not_understand_is_left_to_boto3(
    tiny: Callable[[Answer], TinyS3], status: int, headers: dict[str, str], body: bytes
) -> None:
    def answer(method: str, path: str, h: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        return OK if "boto3" in h.get("user-agent", "").lower() else (status, headers, body)

    server = tiny(answer)
    s3 = S3Store("bkt", "p", endpoint_url=server.url)
    assert s3.get_bytes("k") == b"hello"
    assert len(server.seen) == 2 and server.boto3_calls() == 1
    assert s3.put_bytes("k", b"v") is True and s3.exists("k")
    assert server.boto3_calls() == 3  # this store keeps boto3
    # ... and so does the process: a new store of that endpoint starts with boto3.
    assert _light_client(server.url, None) is None
    assert not getattr(S3Store("bkt", "q", endpoint_url=server.url).client, "light", False)


def test_an_s3_error_it_understands_is_the_stores_error_without_boto3(
    tiny: Callable[[Answer], TinyS3],
) -> None:
    from pack.errors import ObjectNotFound, StoreError

    def answer(method: str, path: str, h: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        if method == "HEAD":
            return 404, {}, b""
        if method == "PUT":
            return 412, {}, b"<Error><Code>PreconditionFailed</Code></Error>"
        return 403, {}, b"<Error><Code>AccessDenied</Code><Message>no</Message></Error>"

    server = tiny(answer)
    s3 = S3Store("bkt", "p", endpoint_url=server.url)
    assert s3.exists("k") is False
    assert s3.put_bytes("k", b"v", if_absent=True) is False
    with pytest.raises(StoreError, match="AccessDenied: no") as info:
        s3.get_bytes("k")
    assert not isinstance(info.value, ObjectNotFound)
    assert server.boto3_calls() == 0 and getattr(s3.client, "light", False)


def test_an_endpoint_with_a_path_and_a_session_token(
    tiny: Callable[[Answer], TinyS3], monkeypatch: pytest.MonkeyPatch
) -> None:
    server = tiny(lambda *_: OK)
    monkeypatch.setenv("AWS_SESSION_TOKEN", "the-token")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", server.url + "/s3/")
    s3 = S3Store("bkt", "p")  # the endpoint from boto3's variable, as boto3 takes it
    assert s3.get_bytes("a b.txt") == b"hello"
    method, path, headers = server.seen[0]
    assert (method, path) == ("GET", "/s3/bkt/p/a%20b.txt")
    assert headers["x-amz-security-token"] == "the-token"
    assert "x-amz-security-token" in headers["authorization"]  # signed, not just sent
    # boto3 is told to ignore the endpoint variables: so is the light client.
    monkeypatch.setenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true")
    assert (
        s3lite.endpoint_from(
            dict(AWS_ENDPOINT_URL_S3="http://x", AWS_IGNORE_CONFIGURED_ENDPOINT_URLS="true"), None
        )
        is None
    )
    assert s3lite.endpoint_from(dict(AWS_ENDPOINT_URL="http://x"), None) == "http://x"


def test_bucket_names_with_dots_go_path_style_on_aws_and_the_learnt_region_is_used() -> None:
    client = LiteClient(CREDS, region="eu-west-1", endpoint_url=None)
    # A wildcard certificate *.s3.eu-west-1.amazonaws.com covers one label: no dots.
    assert client.address("my.data.bucket", "k") == (
        "https",
        "s3.eu-west-1.amazonaws.com",
        "/my.data.bucket/k",
    )
    assert client.address("Legacy_Bucket", "k")[1:] == (
        "s3.eu-west-1.amazonaws.com",
        "/Legacy_Bucket/k",
    )
    assert client.address("plain-bucket", "k")[1] == "plain-bucket.s3.eu-west-1.amazonaws.com"
    client.regions["plain-bucket"] = "ap-south-1"
    assert client.address("plain-bucket", "k")[1] == "plain-bucket.s3.ap-south-1.amazonaws.com"
    for odd in ("arn:aws:s3:us-east-1:123456789012:accesspoint/ap", "data--use1-az4--x-s3"):
        with pytest.raises(LiteFallback):
            client.address(odd, "k")


@pytest.mark.parametrize(
    ("env", "reason"),
    [
        ({}, None),
        ({"AWS_USE_FIPS_ENDPOINT": "false", "AWS_USE_DUALSTACK_ENDPOINT": "0"}, None),
        ({"AWS_USE_FIPS_ENDPOINT": "true"}, "AWS_USE_FIPS_ENDPOINT is set"),
        ({"AWS_USE_DUALSTACK_ENDPOINT": "True"}, "AWS_USE_DUALSTACK_ENDPOINT is set"),
        ({"AWS_PROFILE": "dev"}, "AWS_PROFILE is set"),
        ({"AWS_DEFAULT_PROFILE": "dev"}, "AWS_DEFAULT_PROFILE is set"),
        ({"AWS_CONFIG_FILE": "/etc/aws.cfg"}, "AWS_CONFIG_FILE is set"),
        ({"HTTPS_PROXY": "http://proxy:3128"}, "HTTPS_PROXY is set"),  # AWS is https
        (
            {"http_proxy": "http://proxy:3128", "AWS_ENDPOINT_URL": "http://minio:9000"},
            "http_proxy is set",
        ),
        ({"HTTPS_PROXY": "http://proxy:3128", "AWS_ENDPOINT_URL": "http://minio:9000"}, None),
    ],
)
def test_settings_it_cannot_honour_leave_the_process_to_boto3(
    env: dict[str, str], reason: str | None, tmp_path: Path
) -> None:
    assert unsupported(env, None, home=str(tmp_path)) == reason


def test_a_config_file_at_home_leaves_the_process_to_boto3(
    tiny: Callable[[Answer], TinyS3], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert unsupported({}, None, home=str(tmp_path)) is None
    (tmp_path / ".aws").mkdir()
    (tmp_path / ".aws" / "config").write_text("[default]\nregion = eu-west-1\n")
    assert unsupported({}, None, home=str(tmp_path)) == "~/.aws/config exists"
    monkeypatch.setenv("HOME", str(tmp_path))
    assert _light_client("http://127.0.0.1:9", None) is None
    monkeypatch.setenv("HOME", str(tmp_path / "elsewhere"))
    assert _light_client("http://127.0.0.1:9", None) is not None


def test_the_ca_bundle_boto3_would_trust_is_the_one_it_trusts(
    tiny: Callable[[Answer], TinyS3], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_text("not a certificate\n")
    monkeypatch.setenv("AWS_CA_BUNDLE", str(bundle))
    client = _light_client("https://127.0.0.1:9", None)
    assert client is not None and client.ca_bundle == str(bundle)
    import ssl

    with pytest.raises(ssl.SSLError):  # it was loaded, not ignored
        client._connection("https", "127.0.0.1:9")


@pytest.mark.parametrize("light", [True, False], ids=["light", "boto3"])
def test_a_resumed_read_the_server_answers_whole_is_not_spliced(
    tiny: Callable[[Answer], TinyS3], monkeypatch: pytest.MonkeyPatch, light: bool
) -> None:
    # The body breaks off after 4 bytes; the resumed GET (Range: bytes=4-) is answered
    # 200 with the whole object, as by a server or proxy that ignores Range. Spliced,
    # the reader got b"0123" + b"0123456789".
    whole = b"0123456789"

    def answer(method: str, path: str, h: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        headers = {"ETag": '"e"'}
        return (200, headers if "range" in h else {**headers, "X-Test-Cut": "4"}, whole)

    monkeypatch.setattr(store, "_light_s3", light)
    server = tiny(answer)
    s3 = S3Store("bkt", "p", endpoint_url=server.url)
    assert s3.get_bytes("k") == whole
    assert [h.get("range") for _, _, h in server.seen] == [None, "bytes=4-"]


def test_the_session_token_is_taken_from_where_botocore_takes_it() -> None:
    from botocore.credentials import EnvProvider

    for env in (
        {"AWS_SESSION_TOKEN": "new"},
        {"AWS_SECURITY_TOKEN": "legacy"},
        {"AWS_SECURITY_TOKEN": "legacy", "AWS_SESSION_TOKEN": "new"},
        {},
    ):
        env = {"AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s", **env}
        theirs = EnvProvider(env).load()
        assert theirs is not None
        assert s3lite.credentials_from(env) == ("k", "s", theirs.token)
