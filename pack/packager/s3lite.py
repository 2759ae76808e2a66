"""The S3 calls a pod makes, without boto3: GET, PUT and HEAD signed with SigV4.

Importing boto3 and building its S3 client cost ~0.5 s of CPU in every pod (measured
in a task image: `import boto3` 0.29 s, the client 0.22 s), more than the rest of
pack-fast-execute and pack-execute together, and on a node running a map_task's pods
side by side that CPU is the wall. A pod needs only whole-object GETs (the bundle,
inputs, File values; resumed with Range and If-Match like S3Store), single PUTs
(outputs, errors, timings, small files; If-None-Match for if_absent) and HEADs.

`LiteClient` answers the subset of boto3's client API S3Store calls for those (and
listings and deletes), with the same `response` shape on its errors, so S3Store's
retry, resume and size checks apply unchanged. It is used when the credentials are in
the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN: what
--pass-env or a Secret gives a pod, or the user's shell), in pack's own processes in
pods and, by default, in the client too (`pack run`, a workflow's driver: boto3 was
~0.6 s of every run and several ms of CPU per call); see
`pack.packager.store.use_light_s3`. Instance, web-identity and profile credentials
and multipart uploads go through boto3.

It is never worse than boto3 for a user: what it does, it does as boto3 does (path
style for bucket names a TLS certificate cannot cover, the bucket's region learnt from
S3's redirect, AWS_ENDPOINT_URL[_S3], AWS_CA_BUNDLE); a setting it cannot honour
(`unsupported`: a profile or config file, FIPS or dual-stack endpoints, a proxy) leaves
the process to boto3, and an answer it does not understand raises `LiteFallback`, on
which S3Store repeats the call with boto3 and keeps boto3.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import http.client
import os
import re
import ssl
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


class LiteFallback(Exception):
    """S3 answered something this client does not understand (or the bucket is of a
    kind it does not address): boto3 is to make the call instead."""


ERRORS: tuple[type[Exception], ...] = (LiteClientError,)


# Buckets whose name can be a host name under a wildcard certificate: no dots, lower case.
_VIRTUAL_HOSTABLE = re.compile(r"[a-z0-9][a-z0-9-]{1,61}[a-z0-9]")
# Error codes by which S3 says "the bucket is in another region" (as botocore reads them).
_WRONG_REGION = {
    "PermanentRedirect",
    "AuthorizationHeaderMalformed",
    "IllegalLocationConstraintException",
}
_REDIRECT_STATUS = {301, 302, 307}
_TRUE = {"true", "1", "yes", "on"}


def unsupported(
    environ: Mapping[str, str], endpoint_url: str | None, *, home: str | None = None
) -> str | None:
    """Pure but for one stat: why boto3 rather than this client must serve this process
    (a setting this client would otherwise ignore), or None when it can.

    A profile or a config file can hold a region, an endpoint, an addressing style or
    FIPS/dual-stack choices; FIPS and dual-stack endpoints are AWS host names this client
    does not build; a proxy botocore would go through, it would not."""
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_CONFIG_FILE"):
        if environ.get(name):
            return f"{name} is set"
    for name in ("AWS_USE_FIPS_ENDPOINT", "AWS_USE_DUALSTACK_ENDPOINT"):
        if environ.get(name, "").strip().lower() in _TRUE:
            return f"{name} is set"
    scheme = urlsplit(endpoint_from(environ, endpoint_url) or "https://").scheme or "https"
    for name in (f"{scheme}_proxy", f"{scheme.upper()}_PROXY"):
        if environ.get(name):
            return f"{name} is set"
    home = home if home is not None else environ.get("HOME")
    if home and os.path.exists(os.path.join(home, ".aws", "config")):
        return "~/.aws/config exists"
    return None


def credentials_from(environ: Mapping[str, str]) -> tuple[str, str, str | None] | None:
    """(key id, secret, session token) from the environment, or None (boto3 decides)."""
    key, secret = environ.get("AWS_ACCESS_KEY_ID"), environ.get("AWS_SECRET_ACCESS_KEY")
    if not key or not secret:
        return None
    # botocore's order: the legacy AWS_SECURITY_TOKEN first, then AWS_SESSION_TOKEN.
    token = environ.get("AWS_SECURITY_TOKEN") or environ.get("AWS_SESSION_TOKEN")
    return key, secret, token or None


def region_from(environ: Mapping[str, str]) -> str:
    return environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION") or "us-east-1"


def endpoint_from(environ: Mapping[str, str], configured: str | None) -> str | None:
    """pack's endpoint, else boto3's variables for one (unless boto3 is told to ignore
    them); None: AWS itself."""
    if configured:
        return configured
    if environ.get("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "").strip().lower() in _TRUE:
        return None
    return environ.get("AWS_ENDPOINT_URL_S3") or environ.get("AWS_ENDPOINT_URL") or None


def region_in(status: int, headers: Mapping[str, str], code: str, body: bytes) -> str | None:
    """The bucket's region when S3's answer says the request went to the wrong one
    (301/302/307, PermanentRedirect, AuthorizationHeaderMalformed: the header
    `x-amz-bucket-region` or the error's <Region>), else None."""
    if status not in _REDIRECT_STATUS and code not in _WRONG_REGION and status != 400:
        return None
    region = headers.get("x-amz-bucket-region") or _tag(body.decode("utf-8", "replace"), "Region")
    return region or None


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
    """boto3's `get_object`, `put_object`, `head_object`, `delete_object` and
    `list_objects_v2`, for one endpoint."""

    light = True
    errors = ERRORS
    broken = (LiteReadError,)
    fallback = (LiteFallback,)

    def __init__(
        self,
        credentials: tuple[str, str, str | None],
        *,
        region: str,
        endpoint_url: str | None,
        timeout: float | None = None,
        ca_bundle: str | None = None,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.timezone.utc),
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.credentials = credentials
        self.region = region
        self.endpoint_url = endpoint_url
        self.timeout = timeout or 60.0
        self.ca_bundle = ca_bundle
        self.clock = clock
        self.sleep = sleep
        # Each bucket's region once S3 said it is not `region` (boto3 keeps the same cache).
        self.regions: dict[str, str] = {}
        # Set when an answer made S3Store turn to boto3: the process keeps boto3.
        self.gave_up: str | None = None
        self._tls: ssl.SSLContext | None = None

    def region_of(self, bucket: str) -> str:
        return self.regions.get(bucket, self.region)

    def address(self, bucket: str, key: str | None) -> tuple[str, str, str]:
        """(scheme, host, URI-encoded path): path style on a configured endpoint (moto,
        MinIO, Ceph) and for bucket names with dots or capitals on AWS (a wildcard
        certificate covers one label), else virtual-hosted on AWS, as botocore does.
        `key` None: the bucket itself (a listing)."""
        if ":" in bucket or bucket.endswith("--x-s3"):
            # An access point ARN or a directory bucket (session auth): boto3's.
            raise LiteFallback(f"bucket {bucket!r} is addressed by boto3")
        encoded = "" if key is None else "/" + quote(key, safe="/-_.~")
        path_style = f"/{quote(bucket, safe='')}{encoded}"
        if self.endpoint_url:
            parts = urlsplit(self.endpoint_url)
            base = parts.path.rstrip("/")
            return parts.scheme or "https", parts.netloc, f"{base}{path_style}"
        host = f"s3.{self.region_of(bucket)}.amazonaws.com"
        if _VIRTUAL_HOSTABLE.fullmatch(bucket):
            return "https", f"{bucket}.{host}", encoded or "/"
        return "https", host, path_style

    def _connection(self, scheme: str, host: str) -> http.client.HTTPConnection:
        if scheme != "https":
            return http.client.HTTPConnection(host, timeout=self.timeout)
        if self._tls is None:  # loading the CA certificates once, not per request
            self._tls = ssl.create_default_context(cafile=self.ca_bundle)
        return http.client.HTTPSConnection(host, timeout=self.timeout, context=self._tls)

    def _request(
        self,
        method: str,
        bucket: str,
        key: str | None,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes = b"",
        stream: bool = False,
        query: Mapping[str, str] | None = None,
    ) -> tuple[http.client.HTTPResponse, http.client.HTTPConnection]:
        query = dict(query or {})
        suffix = "&".join(
            f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in sorted(query.items())
        )
        payload = hashlib.sha256(body).hexdigest() if body else EMPTY_SHA256
        redirected = False
        attempt = 0
        while attempt < REQUEST_ATTEMPTS:
            attempt += 1
            scheme, host, path = self.address(bucket, key)
            signed = sign(
                method,
                host,
                path,
                query,
                dict(headers or {}),
                payload,
                credentials=self.credentials,
                region=self.region_of(bucket),
                now=self.clock(),
            )
            if body:
                signed["content-length"] = str(len(body))
            conn = self._connection(scheme, host)
            try:
                target = f"{path}?{suffix}" if suffix else path
                conn.request(method, target, body=body or None, headers=signed)
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
                answer = {k.lower(): v for k, v in response.getheaders()}
                region = region_in(response.status, answer, code, data)
                if region and region != self.region_of(bucket) and not redirected:
                    # The bucket is elsewhere: sign for its region (and, on AWS, use its
                    # host), once, as botocore's redirector does; not a retry attempt.
                    self.regions[bucket] = region
                    redirected = True
                    attempt -= 1
                    continue
                if _not_understood(method, response.status, code, data):
                    raise LiteFallback(
                        f"{method} s3://{bucket}/{key or ''}: S3 answered {response.status}"
                        f" {code or '(no error code)'}"
                    )
                raise LiteClientError(response.status, code, message)
            if not stream:
                response.read()
                conn.close()
            return response, conn
        raise AssertionError("unreachable")

    # --- the boto3 client subset S3Store uses --------------------------------------------

    def head_object(self, *, Bucket: str, Key: str) -> dict[str, Any]:  # noqa: N803 - boto3's names
        response, _ = self._request("HEAD", Bucket, Key)
        out: dict[str, Any] = {"ContentLength": int(response.getheader("Content-Length") or 0)}
        modified = response.getheader("Last-Modified")
        if modified:
            from email.utils import parsedate_to_datetime

            out["LastModified"] = parsedate_to_datetime(modified)
        return out

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
            "ContentRange": response.getheader("Content-Range"),
            "ETag": response.getheader("ETag"),
        }

    def delete_object(self, *, Bucket: str, Key: str) -> dict[str, Any]:  # noqa: N803
        self._request("DELETE", Bucket, Key)
        return {}

    def list_objects_v2(
        self,
        *,
        Bucket: str,  # noqa: N803
        Prefix: str = "",  # noqa: N803
        StartAfter: str | None = None,  # noqa: N803
        MaxKeys: int | None = None,  # noqa: N803
        ContinuationToken: str | None = None,  # noqa: N803
    ) -> dict[str, Any]:
        """One page of keys, shaped as boto3 answers it (Contents[].Key, IsTruncated,
        NextContinuationToken)."""
        query = {"list-type": "2", "prefix": Prefix}
        if StartAfter is not None:
            query["start-after"] = StartAfter
        if MaxKeys is not None:
            query["max-keys"] = str(MaxKeys)
        if ContinuationToken is not None:
            query["continuation-token"] = ContinuationToken
        response, conn = self._request("GET", Bucket, None, query=query, stream=True)
        try:
            data = response.read()
        except (OSError, http.client.HTTPException) as exc:
            raise LiteClientError(0, "ConnectionError", f"the listing broke off: {exc}") from None
        finally:
            conn.close()
        return parse_listing(data)


def parse_listing(data: bytes) -> dict[str, Any]:
    """Pure: a ListObjectsV2 answer as boto3 shapes it (the fields S3Store reads); an
    answer that is no listing is one this client does not understand (LiteFallback)."""
    import xml.etree.ElementTree as ET

    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise LiteFallback(f"the listing is not XML: {exc}") from None
    ns = root.tag[: root.tag.index("}") + 1] if root.tag.startswith("{") else ""
    if root.tag != ns + "ListBucketResult":
        raise LiteFallback(f"the listing is a {root.tag[len(ns) :]}, not a ListBucketResult")

    def text(node: Any, name: str) -> str | None:
        found = node.find(ns + name)
        return None if found is None else found.text or ""

    out: dict[str, Any] = {
        "Contents": [{"Key": text(item, "Key") or ""} for item in root.iter(ns + "Contents")],
        "IsTruncated": (text(root, "IsTruncated") or "").lower() == "true",
    }
    token = text(root, "NextContinuationToken")
    if token:
        out["NextContinuationToken"] = token
    return out


def _tag(text: str, name: str) -> str:
    start = text.find(f"<{name}>")
    end = text.find(f"</{name}>")
    return text[start + len(name) + 2 : end] if start >= 0 and end > start else ""


def _error_of(data: bytes, status: int) -> tuple[str, str]:
    """S3's XML error document's Code and Message (HEAD has none: the status)."""
    text = data.decode("utf-8", errors="replace")
    code = _tag(text, "Code") or ("NotFound" if status == 404 else str(status))
    return code, _tag(text, "Message")


def _not_understood(method: str, status: int, code: str, data: bytes) -> bool:
    """An error answer S3Store could not act on as boto3's: a redirect with no region
    to follow, a bucket in another region reported without its region, a HEAD's 400 or
    301 (botocore asks the bucket's region then), or a body that is no S3 error
    document (a proxy's page, say)."""
    if status in _REDIRECT_STATUS or code in _WRONG_REGION:
        return True
    if method == "HEAD":
        return status == 400
    return not _tag(data.decode("utf-8", errors="replace"), "Code")
