"""The S3 calls a pod makes, without boto3: GET, PUT and HEAD signed with SigV4.

Importing boto3 and building its S3 client cost ~0.5 s of CPU in every pod (measured
in a task image: `import boto3` 0.29 s, the client 0.22 s), more than the rest of
pack-fast-execute and pack-execute together, and on a node running a map_task's pods
side by side that CPU is the wall. A pod needs only whole-object GETs (the bundle,
inputs, File values; resumed with Range and If-Match like S3Store), single PUTs
(outputs, errors, timings, small files; If-None-Match for if_absent) and HEADs.

`LiteClient` answers the subset of boto3's client API S3Store calls for those, with
the same `response` shape on its errors, so S3Store's retry, resume and size checks
apply unchanged. It is used only in pack's own processes in pods (see
`pack.packager.store.use_light_s3`) and only when the credentials are in the
environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN: what
--pass-env or a Secret gives a pod); instance, web-identity and profile credentials,
multipart uploads and listings go through boto3.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import http.client
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote, urlsplit

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
REQUEST_ATTEMPTS = 5  # like boto3's standard retry mode
RETRY_STATUS = {429, 500, 502, 503, 504}


class LiteClientError(Exception):
    """S3 answered with an error: `response` is shaped like botocore's ClientError's."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}" if message else code)
        self.response = {
            "Error": {"Code": code, "Message": message},
            "ResponseMetadata": {"HTTPStatusCode": status},
        }


class LiteReadError(Exception):
    """The body of a GET broke off midway (S3Store resumes it)."""


ERRORS: tuple[type[Exception], ...] = (LiteClientError,)


def credentials_from(environ: Mapping[str, str]) -> tuple[str, str, str | None] | None:
    """(key id, secret, session token) from the environment, or None (boto3 decides)."""
    key, secret = environ.get("AWS_ACCESS_KEY_ID"), environ.get("AWS_SECRET_ACCESS_KEY")
    if not key or not secret:
        return None
    return key, secret, environ.get("AWS_SESSION_TOKEN") or None


def region_from(environ: Mapping[str, str]) -> str:
    return environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION") or "us-east-1"


def endpoint_from(environ: Mapping[str, str], configured: str | None) -> str | None:
    """pack's endpoint, else boto3's variables for one; None: AWS itself."""
    return configured or environ.get("AWS_ENDPOINT_URL_S3") or environ.get("AWS_ENDPOINT_URL")


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def sign(
    method: str,
    host: str,
    path: str,
    query: Mapping[str, str],
    headers: Mapping[str, str],
    payload_sha256: str,
    *,
    credentials: tuple[str, str, str | None],
    region: str,
    now: dt.datetime,
) -> dict[str, str]:
    """Pure: the headers of a SigV4-signed S3 request (`path` already URI-encoded)."""
    key_id, secret, token = credentials
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    day = stamp[:8]
    out = {k.lower(): v for k, v in headers.items()}
    out.update({"host": host, "x-amz-date": stamp, "x-amz-content-sha256": payload_sha256})
    if token:
        out["x-amz-security-token"] = token
    names = sorted(out)
    canonical_headers = "".join(f"{n}:{' '.join(str(out[n]).split())}\n" for n in names)
    signed = ";".join(names)
    canonical_query = "&".join(
        f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in sorted(query.items())
    )
    canonical = "\n".join(
        [method, path, canonical_query, canonical_headers, signed, payload_sha256]
    )
    scope = f"{day}/{region}/s3/aws4_request"
    to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    signing_key = _hmac(
        _hmac(_hmac(_hmac(f"AWS4{secret}".encode(), day), region), "s3"), "aws4_request"
    )
    signature = hmac.new(signing_key, to_sign.encode(), hashlib.sha256).hexdigest()
    out["authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={key_id}/{scope}, SignedHeaders={signed}, "
        f"Signature={signature}"
    )
    return out


class _Body:
    """A GET's body: read() in chunks, a break mid-stream as LiteReadError.

    http.client's read(n) returns b"" when the connection closes before Content-Length
    bytes came (it raises IncompleteRead only for read() of everything), so the bytes
    are counted here: a body that ends short is a break, never the object's end.
    """

    def __init__(
        self, conn: http.client.HTTPConnection, response: http.client.HTTPResponse
    ) -> None:
        self._conn = conn
        self._response = response
        length = response.getheader("Content-Length")
        self._expected = int(length) if length and length.isdigit() else None
        self._got = 0

    def read(self, amount: int = -1) -> bytes:
        try:
            data = self._response.read(None if amount < 0 else amount)
        except (OSError, http.client.HTTPException) as exc:
            raise LiteReadError(f"the object's body broke off: {exc}") from None
        self._got += len(data)
        if (not data or amount < 0) and self._expected is not None:
            if self._got != self._expected:
                raise LiteReadError(
                    f"the object's body ended at byte {self._got} of {self._expected}"
                )
        return data

    def close(self) -> None:
        self._conn.close()


class LiteClient:
    """boto3's `get_object`, `put_object` and `head_object`, for one endpoint."""

    light = True
    errors = ERRORS
    broken = (LiteReadError,)

    def __init__(
        self,
        credentials: tuple[str, str, str | None],
        *,
        region: str,
        endpoint_url: str | None,
        timeout: float | None = None,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.timezone.utc),
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.credentials = credentials
        self.region = region
        self.endpoint_url = endpoint_url
        self.timeout = timeout or 60.0
        self.clock = clock
        self.sleep = sleep

    def address(self, bucket: str, key: str) -> tuple[str, str, str]:
        """(scheme, host, URI-encoded path): path style on a configured endpoint (moto,
        MinIO, Ceph), virtual-hosted on AWS."""
        encoded = "/" + quote(key, safe="/-_.~")
        if self.endpoint_url:
            parts = urlsplit(self.endpoint_url)
            base = parts.path.rstrip("/")
            return (
                parts.scheme or "https",
                parts.netloc,
                f"{base}/{quote(bucket, safe='')}{encoded}",
            )
        return "https", f"{bucket}.s3.{self.region}.amazonaws.com", encoded

    def _request(
        self,
        method: str,
        bucket: str,
        key: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes = b"",
        stream: bool = False,
    ) -> tuple[http.client.HTTPResponse, http.client.HTTPConnection]:
        scheme, host, path = self.address(bucket, key)
        payload = hashlib.sha256(body).hexdigest() if body else EMPTY_SHA256
        for attempt in range(1, REQUEST_ATTEMPTS + 1):
            signed = sign(
                method,
                host,
                path,
                {},
                dict(headers or {}),
                payload,
                credentials=self.credentials,
                region=self.region,
                now=self.clock(),
            )
            if body:
                signed["content-length"] = str(len(body))
            conn_type = (
                http.client.HTTPSConnection if scheme == "https" else http.client.HTTPConnection
            )
            conn = conn_type(host, timeout=self.timeout)
            try:
                conn.request(method, path, body=body or None, headers=signed)
                response = conn.getresponse()
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                if attempt == REQUEST_ATTEMPTS:
                    # Not an OSError: S3Store keeps those for its own files.
                    raise LiteClientError(0, "ConnectionError", f"{host}: {exc}") from None
                self.sleep(min(0.1 * 2**attempt, 5.0))
                continue
            if response.status in RETRY_STATUS and attempt < REQUEST_ATTEMPTS:
                response.read()
                conn.close()
                self.sleep(min(0.1 * 2**attempt, 5.0))
                continue
            if response.status >= 300:
                data = b"" if method == "HEAD" else response.read()
                conn.close()
                code, message = _error_of(data, response.status)
                raise LiteClientError(response.status, code, message)
            if not stream:
                response.read()
                conn.close()
            return response, conn
        raise AssertionError("unreachable")

    # --- the boto3 client subset S3Store uses --------------------------------------------

    def head_object(self, *, Bucket: str, Key: str) -> dict[str, Any]:  # noqa: N803 - boto3's names
        response, _ = self._request("HEAD", Bucket, Key)
        return {"ContentLength": int(response.getheader("Content-Length") or 0)}

    def put_object(
        self,
        *,
        Bucket: str,
        Key: str,
        Body: bytes,
        IfNoneMatch: str | None = None,  # noqa: N803
    ) -> dict[str, Any]:
        headers = {"If-None-Match": IfNoneMatch} if IfNoneMatch else {}
        response, _ = self._request("PUT", Bucket, Key, headers=headers, body=bytes(Body))
        return {"ETag": response.getheader("ETag")}

    def get_object(
        self,
        *,
        Bucket: str,  # noqa: N803
        Key: str,  # noqa: N803
        Range: str | None = None,  # noqa: N803
        IfMatch: str | None = None,  # noqa: N803
    ) -> dict[str, Any]:
        headers = {}
        if Range:
            headers["Range"] = Range
        if IfMatch:
            headers["If-Match"] = IfMatch
        response, conn = self._request("GET", Bucket, Key, headers=headers, stream=True)
        return {
            "Body": _Body(conn, response),
            "ContentLength": int(response.getheader("Content-Length") or 0),
            "ETag": response.getheader("ETag"),
        }


def _error_of(data: bytes, status: int) -> tuple[str, str]:
    """S3's XML error document's Code and Message (HEAD has none: the status)."""
    text = data.decode("utf-8", errors="replace")

    def tag(name: str) -> str:
        start = text.find(f"<{name}>")
        end = text.find(f"</{name}>")
        return text[start + len(name) + 2 : end] if start >= 0 and end > start else ""

    code = tag("Code") or ("NotFound" if status == 404 else str(status))
    return code, tag("Message")
