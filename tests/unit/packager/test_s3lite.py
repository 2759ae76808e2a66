"""The boto3-free S3 client of pods: its SigV4 signatures are botocore's, byte for byte;
its addressing and errors are what S3Store expects. (Against the real S3 server:
tests/integration/test_s3_store.py.)"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from pack.packager import s3lite
from pack.packager.s3lite import LiteClient, LiteClientError, sign

NOW = dt.datetime(2024, 5, 1, 12, 30, 45, tzinfo=dt.timezone.utc)
CREDS = ("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", None)


def botocore_headers(
    method: str, url: str, headers: dict[str, str], body: bytes, token: str | None
) -> dict[str, str]:
    from botocore import auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    request = AWSRequest(method=method, url=url, headers=dict(headers), data=body)
    signer = auth.S3SigV4Auth(Credentials(CREDS[0], CREDS[1], token), "s3", "eu-west-1")
    original = auth.get_current_datetime
    auth.get_current_datetime = lambda: NOW.replace(tzinfo=None)  # type: ignore[assignment]
    try:
        signer.add_auth(request)
    finally:
        auth.get_current_datetime = original  # type: ignore[assignment]
    return {k.lower(): v for k, v in request.headers.items()}


@pytest.mark.parametrize(
    ("method", "endpoint", "key", "headers", "token"),
    [
        ("GET", "http://127.0.0.1:9000", "runs/r1/inputs.pb", {}, None),
        (
            "PUT",
            "http://127.0.0.1:9000",
            "runs/r1/attempts/1/outputs.pb",
            {"If-None-Match": "*"},
            None,
        ),
        ("HEAD", None, "cache/wf.square/ab12/outputs.pb", {}, "session-token"),
        (
            "GET",
            None,
            "raw/a b+c=d~e/naïve.txt",
            {"Range": "bytes=10-", "If-Match": '"etag"'},
            None,
        ),
    ],
)
def test_signatures_are_botocores(
    method: str, endpoint: str | None, key: str, headers: dict[str, str], token: str | None
) -> None:
    client = LiteClient((CREDS[0], CREDS[1], token), region="eu-west-1", endpoint_url=endpoint)
    scheme, host, path = client.address("pack-bucket", key)
    body = b"payload" if method == "PUT" else b""
    payload = s3lite.hashlib.sha256(body).hexdigest()
    ours = sign(
        method,
        host,
        path,
        {},
        headers,
        payload,
        credentials=(CREDS[0], CREDS[1], token),
        region="eu-west-1",
        now=NOW,
    )
    theirs = botocore_headers(method, f"{scheme}://{host}{path}", headers, body, token)
    assert ours["authorization"] == theirs["authorization"]
    assert ours["x-amz-date"] == theirs["x-amz-date"]


def test_path_style_on_a_configured_endpoint_virtual_hosted_on_aws() -> None:
    on_moto = LiteClient(CREDS, region="us-east-1", endpoint_url="http://127.0.0.1:9000/")
    assert on_moto.address("bkt", "a/b c") == ("http", "127.0.0.1:9000", "/bkt/a/b%20c")
    on_aws = LiteClient(CREDS, region="eu-west-1", endpoint_url=None)
    assert on_aws.address("bkt", "k") == ("https", "bkt.s3.eu-west-1.amazonaws.com", "/k")


def test_credentials_only_from_the_environment_and_errors_shaped_like_botocores() -> None:
    assert s3lite.credentials_from({}) is None
    assert s3lite.credentials_from({"AWS_ACCESS_KEY_ID": "k"}) is None
    assert s3lite.credentials_from(
        {"AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s", "AWS_SESSION_TOKEN": "t"}
    ) == ("k", "s", "t")
    assert s3lite.endpoint_from({"AWS_ENDPOINT_URL_S3": "http://x"}, None) == "http://x"
    assert s3lite.endpoint_from({"AWS_ENDPOINT_URL_S3": "http://x"}, "http://pack") == "http://pack"
    error = LiteClientError(404, "NoSuchKey", "The specified key does not exist.")
    from pack.packager.s3 import _code, _describe

    assert _code(error) == "NoSuchKey"
    assert _describe(error) == "NoSuchKey: The specified key does not exist."
    assert s3lite._error_of(b"", 412) == ("412", "")
    xml = b"<Error><Code>AccessDenied</Code><Message>no</Message></Error>"
    assert s3lite._error_of(xml, 403) == ("AccessDenied", "no")


def test_the_store_uses_it_only_when_asked_and_the_environment_has_credentials(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pack.packager import store
    from pack.packager.s3 import S3Store

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "k")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setattr(store, "_light_s3", False)
    assert not getattr(S3Store("bkt").client, "light", False)  # the CLI: boto3
    monkeypatch.setattr(store, "_light_s3", True)
    assert getattr(S3Store("bkt").client, "light", False) is True
    from pack.packager.s3 import _light_client

    assert _light_client(None, None) is not None
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    assert _light_client(None, None) is None  # boto3's credential chain decides


def test_a_client_process_reads_and_writes_s3_without_boto3_by_default(tmp_path: Path) -> None:
    # pack run and a workflow's driver: boto3's import and client were ~0.6 s of each run.
    import subprocess
    import sys

    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),  # no ~/.aws/config
        "AWS_ACCESS_KEY_ID": "k",
        "AWS_SECRET_ACCESS_KEY": "s",
    }
    code = (
        "import sys; from pack.packager.s3 import S3Store; "
        "c = S3Store('bkt', endpoint_url='http://127.0.0.1:9').client; "
        "print(getattr(c, 'light', False), 'boto3' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["True", "False"]


def test_a_listing_reads_as_boto3_shapes_it() -> None:
    xml = (
        b'<?xml version="1.0" encoding="UTF-8"?>'
        b'<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
        b"<Name>bkt</Name><Prefix>runs/</Prefix><KeyCount>2</KeyCount><MaxKeys>2</MaxKeys>"
        b"<IsTruncated>true</IsTruncated><NextContinuationToken>tok/+=</NextContinuationToken>"
        b"<Contents><Key>runs/a &amp; b.json</Key><Size>3</Size></Contents>"
        b"<Contents><Key>runs/c.json</Key><Size>4</Size></Contents>"
        b"</ListBucketResult>"
    )
    assert s3lite.parse_listing(xml) == {
        "Contents": [{"Key": "runs/a & b.json"}, {"Key": "runs/c.json"}],
        "IsTruncated": True,
        "NextContinuationToken": "tok/+=",
    }
    empty = b"<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>"
    assert s3lite.parse_listing(empty) == {"Contents": [], "IsTruncated": False}
    # Not a listing (a proxy's page, another document): boto3 is to make the call.
    with pytest.raises(s3lite.LiteFallback, match="not XML"):
        s3lite.parse_listing(b"<html>proxy error")
    with pytest.raises(s3lite.LiteFallback, match="not a ListBucketResult"):
        s3lite.parse_listing(b"<Other/>")


def test_a_listing_request_is_signed_with_its_query_as_botocore_signs_it() -> None:
    client = LiteClient(CREDS, region="eu-west-1", endpoint_url="http://127.0.0.1:9000")
    assert client.address("bkt", None) == ("http", "127.0.0.1:9000", "/bkt")
    aws = LiteClient(CREDS, region="eu-west-1", endpoint_url=None)
    assert aws.address("bkt", None) == ("https", "bkt.s3.eu-west-1.amazonaws.com", "/")
    query = {"list-type": "2", "prefix": "runs/a b", "start-after": "runs/x+y"}
    ours = sign(
        "GET",
        "127.0.0.1:9000",
        "/bkt",
        query,
        {},
        s3lite.EMPTY_SHA256,
        credentials=CREDS,
        region="eu-west-1",
        now=NOW,
    )
    url = "http://127.0.0.1:9000/bkt?list-type=2&prefix=runs%2Fa%20b&start-after=runs%2Fx%2By"
    theirs = botocore_headers("GET", url, {}, b"", None)
    assert ours["authorization"] == theirs["authorization"]


def test_a_connection_that_keeps_failing_is_a_client_error_not_an_oserror() -> None:
    slept: list[float] = []
    client = LiteClient(CREDS, region="us-east-1", endpoint_url="http://127.0.0.1:9", timeout=1)
    client.sleep = slept.append  # type: ignore[method-assign]
    with pytest.raises(LiteClientError) as info:
        client.head_object(Bucket="bkt", Key="k")
    assert info.value.response["Error"]["Code"] == "ConnectionError"
    assert len(slept) == s3lite.REQUEST_ATTEMPTS - 1


def test_a_body_that_ends_short_is_a_break_not_the_end() -> None:
    # http.client's read(n) returns b"" when the connection closes before Content-Length
    # bytes came; S3Store would take that for the object's end and keep half of it.
    import socket
    import threading

    server = socket.create_server(("127.0.0.1", 0))

    def answer() -> None:
        conn, _ = server.accept()
        conn.recv(65536)
        conn.sendall(b'HTTP/1.1 200 OK\r\nContent-Length: 10\r\nETag: "e"\r\n\r\nhalf!')
        conn.close()

    threading.Thread(target=answer, daemon=True).start()
    port = server.getsockname()[1]
    client = LiteClient(
        ("k", "s", None), region="us-east-1", endpoint_url=f"http://127.0.0.1:{port}"
    )
    body = client.get_object(Bucket="b", Key="k")["Body"]
    assert body.read(4) == b"half"
    assert body.read(4) == b"!"
    with pytest.raises(s3lite.LiteReadError, match="ended at byte 5 of 10"):
        body.read(4)
    server.close()
