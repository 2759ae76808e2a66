"""The S3 store: boto3 (imported here only), its standard credential chain, standard retries.

Uploads are all-or-nothing: a single PUT for small objects, a multipart upload
for big ones that is aborted if anything fails midway. With `if_absent` the write
is conditional (`If-None-Match: *`): when another writer got there first S3
answers 412 and, the key being content-addressed, that counts as success.
"""

from __future__ import annotations

import io
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlparse

from pack.atomic import atomic_write
from pack.errors import ObjectNotFound, StoreError
from pack.packager.store import check_key, check_size

MULTIPART_THRESHOLD = 64 * 1024 * 1024
PART_SIZE = 16 * 1024 * 1024
# GETs of one object whose body broke midway, resumed where it broke (see S3Store._read).
READ_ATTEMPTS = 5
_NOT_FOUND = {"404", "NoSuchKey", "NotFound"}
_ALREADY_THERE = {"PreconditionFailed", "412", "ConditionalRequestConflict"}


def parse_s3_url(url: str) -> tuple[str, str]:
    """`s3://bucket/some/prefix` -> ("bucket", "some/prefix")."""
    parsed = urlparse(url)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise StoreError(f"invalid S3 URL {url!r}: expected s3://bucket/prefix")
    if len(parsed.netloc) < 3:
        raise StoreError(f"invalid S3 URL {url!r}: bucket names have at least 3 characters")
    return parsed.netloc, parsed.path.strip("/")


def _code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    error = response.get("Error", {}) if isinstance(response, dict) else {}
    code = str(error.get("Code", ""))
    if not code:
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        code = str(status or "")
    return code


def _describe(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        error = response.get("Error", {})
        code, message = error.get("Code", ""), error.get("Message", "")
        return f"{code}: {message}".strip(": ") or type(exc).__name__
    # botocore's connection/credential errors carry no secrets in their text.
    return str(exc) or type(exc).__name__


def _broken_body_errors() -> tuple[type[Exception], ...]:
    """botocore's errors for a GET body that broke off midway."""
    from botocore.exceptions import IncompleteReadError, ReadTimeoutError

    try:
        from botocore.exceptions import ResponseStreamingError

        return (IncompleteReadError, ReadTimeoutError, ResponseStreamingError)
    except ImportError:  # botocore < 1.29.111 lets urllib3's error through
        from urllib3.exceptions import ProtocolError

        return (IncompleteReadError, ReadTimeoutError, ProtocolError)


def _light_client(endpoint_url: str | None, timeout: float | None) -> Any:
    """The boto3-free client (pack.packager.s3lite) unless the process refused it
    (`use_light_s3(False)`), when the environment holds the credentials and no setting
    only boto3 honours; else None."""
    from pack.packager.store import light_s3

    if not light_s3():
        return None
    from pack.packager.s3lite import (
        LiteClient,
        credentials_from,
        endpoint_from,
        region_from,
        unsupported,
    )

    credentials = credentials_from(os.environ)
    if credentials is None or unsupported(os.environ, endpoint_url):
        return None
    key = ("light", endpoint_url, timeout, _aws_settings())
    with _CLIENTS_LOCK:
        client = _CLIENTS.get(key)
        if client is None:
            client = LiteClient(
                credentials,
                region=region_from(os.environ),
                endpoint_url=endpoint_from(os.environ, endpoint_url),
                timeout=timeout,
                ca_bundle=os.environ.get("AWS_CA_BUNDLE") or None,
            )
            _CLIENTS[key] = client
        return None if client.gave_up else client


def _boto_errors() -> tuple[type[Exception], ...]:
    """The errors that mean "the store said no"; anything else (a failing reader) propagates."""
    from botocore.exceptions import BotoCoreError, ClientError

    return (BotoCoreError, ClientError)


_CLIENTS: dict[tuple[Any, ...], Any] = {}
_CLIENTS_LOCK = threading.Lock()


def _aws_settings() -> str:
    """A digest of the variables boto3 resolves credentials, region and endpoint from
    (AWS_*, and HOME for ~/.aws): a client built under other values is not reused.
    Only the digest is kept, never the values."""
    import hashlib

    items = sorted((k, v) for k, v in os.environ.items() if k.startswith("AWS_") or k == "HOME")
    return hashlib.sha256(repr(items).encode()).hexdigest()


def shared_client(endpoint_url: str | None, timeout: float | None = None) -> Any:
    """One boto3 S3 client per endpoint, timeout (None: boto3's 60 s to connect and for
    each read) and AWS_* settings, per process.

    Building one costs ~60-100 ms (a session loads and parses botocore's endpoint
    data); a run reads and writes the store several times, so each S3Store built
    for an object URL reuses it. boto3 clients are thread-safe.
    """
    key = (endpoint_url, timeout, _aws_settings())
    with _CLIENTS_LOCK:
        client = _CLIENTS.get(key)
        if client is None:
            import boto3
            from botocore.config import Config as BotoConfig

            timeouts = {"connect_timeout": timeout, "read_timeout": timeout} if timeout else {}
            config = BotoConfig(retries={"mode": "standard", "max_attempts": 5}, **timeouts)
            # endpoint_url=None lets boto3 apply its own settings (AWS_ENDPOINT_URL_S3, config file).
            client = boto3.session.Session().client("s3", endpoint_url=endpoint_url, config=config)
            _CLIENTS[key] = client
        return client


class S3Store:
    """A bucket and a key prefix. The boto3 client is taken on first use (`shared_client`)."""

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str | None = None,
        timeout: float | None = None,
        multipart_threshold: int = MULTIPART_THRESHOLD,
        part_size: int = PART_SIZE,
        client: Any = None,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.endpoint_url = endpoint_url
        self.timeout = timeout
        self.multipart_threshold = multipart_threshold
        self.part_size = part_size
        self._client = client
        self._lock = threading.Lock()

    @property
    def client(self) -> Any:
        """boto3's client, or in pack's own pod processes the light one (s3lite) when
        the credentials are in the environment: GETs, single PUTs and HEADs only."""
        with self._lock:
            if self._client is None:
                self._client = _light_client(self.endpoint_url, self.timeout) or shared_client(
                    self.endpoint_url, self.timeout
                )
            return self._client

    def _call(self, operation: str, **args: Any) -> Any:
        """The client's `operation`. Where the light client cannot serve it (an answer it
        does not understand) boto3 makes the call, and this process keeps boto3."""
        client = self.client
        try:
            return getattr(client, operation)(**args)
        except getattr(client, "fallback", ()) as exc:
            client.gave_up = str(exc)
            with self._lock:
                self._client = shared_client(self.endpoint_url, self.timeout)
            return getattr(self._client, operation)(**args)

    @property
    def full_client(self) -> Any:
        """boto3's client, for what the light one does not do (multipart uploads)."""
        client = self.client
        if not getattr(client, "light", False):
            return client
        return shared_client(self.endpoint_url, self.timeout)

    def _errors(self) -> tuple[type[Exception], ...]:
        """The errors that mean "the store said no" for the client in use."""
        errors = getattr(self.client, "errors", None)
        return errors if isinstance(errors, tuple) else _boto_errors()

    def _key(self, key: str) -> str:
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def url(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._key(key)}"

    def exists(self, key: str) -> bool:
        try:
            self._call("head_object", Bucket=self.bucket, Key=self._key(key))
            return True
        except self._errors() as exc:
            if _code(exc) in _NOT_FOUND:
                return False
            raise StoreError(f"cannot check {self.url(key)}: {_describe(exc)}") from None

    def put_bytes(self, key: str, data: bytes, *, if_absent: bool = False) -> bool:
        return self.put_fileobj(key, io.BytesIO(data), size=len(data), if_absent=if_absent)

    def put_file(self, key: str, path: Path, *, if_absent: bool = False) -> bool:
        try:
            size = os.stat(path).st_size
            with open(path, "rb") as f:
                return self.put_fileobj(key, f, size=size, if_absent=if_absent)
        except OSError as exc:
            raise StoreError(
                f"cannot upload {path} to {self.url(key)}: {exc.strerror or exc}"
            ) from None

    def put_fileobj(
        self, key: str, fileobj: BinaryIO, *, size: int, if_absent: bool = False
    ) -> bool:
        """Upload `size` bytes from `fileobj`; nothing is visible unless all of it arrived."""
        full = self._key(key)
        extra: dict[str, str] = {"IfNoneMatch": "*"} if if_absent else {}
        single = size < self.multipart_threshold
        try:
            if single:
                body = fileobj.read(size)
                if len(body) != size:
                    raise OSError(f"source gave {len(body)} of {size} bytes")
                self._call("put_object", Bucket=self.bucket, Key=full, Body=body, **extra)
            else:
                self._multipart(full, fileobj, size, extra)
            return True
        # Evaluated as the error arrives: the client in use then (boto3 after a fallback).
        except self._errors() if single else _boto_errors() as exc:  # noqa: B030
            if if_absent and _code(exc) in _ALREADY_THERE:
                return False
            raise StoreError(f"cannot upload to {self.url(key)}: {_describe(exc)}") from None

    def _multipart(self, full: str, fileobj: BinaryIO, size: int, extra: dict[str, str]) -> None:
        # s3transfer's upload_file does not pass IfNoneMatch, so the parts are sent here.
        client = self.full_client
        upload_id = client.create_multipart_upload(Bucket=self.bucket, Key=full)["UploadId"]
        try:
            parts = []
            number = 1
            remaining = size
            while remaining > 0:
                chunk = fileobj.read(min(self.part_size, remaining))
                if not chunk:
                    raise OSError(f"source ended {remaining} bytes early")
                remaining -= len(chunk)
                answer = client.upload_part(
                    Bucket=self.bucket, Key=full, UploadId=upload_id, PartNumber=number, Body=chunk
                )
                parts.append({"ETag": answer["ETag"], "PartNumber": number})
                number += 1
            client.complete_multipart_upload(
                Bucket=self.bucket,
                Key=full,
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},
                **extra,
            )
        except BaseException:
            try:
                client.abort_multipart_upload(Bucket=self.bucket, Key=full, UploadId=upload_id)
            except Exception:  # noqa: S110 - the original error is the one to report
                pass
            raise

    def get_bytes(self, key: str) -> bytes:
        parts: list[bytes] = []
        try:
            self._read(key, parts.append, None)
        except self._errors() as exc:
            raise self._read_error(key, exc) from None
        return b"".join(parts)

    def get_file(self, key: str, dest: Path, *, max_bytes: int | None = None) -> None:
        try:
            atomic_write(dest, lambda out: self._read(key, out.write, max_bytes))
        except OSError as exc:
            raise StoreError(
                f"cannot write {dest} from {self.url(key)}: {exc.strerror or exc}"
            ) from None
        except self._errors() as exc:
            raise self._read_error(key, exc) from None

    def _read_error(self, key: str, exc: Exception) -> StoreError:
        if _code(exc) in _NOT_FOUND:
            return ObjectNotFound(f"not found: {self.url(key)}")
        if _code(exc) in _ALREADY_THERE:  # If-Match of a resumed read
            return StoreError(f"cannot read {self.url(key)}: it changed while it was read")
        return StoreError(f"cannot read {self.url(key)}: {_describe(exc)}")

    def _read(self, key: str, sink: Callable[[bytes], object], max_bytes: int | None) -> None:
        """The object's bytes into `sink`, in order, each byte once.

        botocore retries a GET until its answer's head arrives, not while the body
        streams: a connection that breaks, stalls or closes early mid-body would fail the
        read. The read resumes instead from the byte it reached (`Range`), of the same
        object (`If-Match` its first ETag: one that changed meanwhile is not spliced),
        up to READ_ATTEMPTS times; a server that ignores `Range` and sends the whole
        object again has the bytes `sink` already got skipped. Refused on the announced
        size before `sink` sees a byte (ObjectTooLarge), and while streaming if more
        comes than was announced.
        """
        url, full = self.url(key), self._key(key)
        args: dict[str, Any] = {"Bucket": self.bucket, "Key": full}
        offset = 0
        for attempt in range(1, READ_ATTEMPTS + 1):
            answer = self._call("get_object", **args)
            broken = getattr(self.client, "broken", None) or _broken_body_errors()
            body = answer["Body"]
            resumed_at = str(answer.get("ContentRange") or "").startswith(f"bytes {offset}-")
            skip = offset if "Range" in args and not resumed_at else 0
            try:
                if "IfMatch" not in args:
                    check_size(url, int(answer.get("ContentLength") or 0), max_bytes)
                    if answer.get("ETag"):
                        args["IfMatch"] = answer["ETag"]
                while True:
                    chunk = body.read(1 << 20)
                    if not chunk:
                        return
                    if skip:
                        cut = min(skip, len(chunk))
                        skip -= cut
                        chunk = chunk[cut:]
                        if not chunk:
                            continue
                    offset += len(chunk)
                    check_size(url, offset, max_bytes)
                    sink(chunk)
            except broken:
                if attempt == READ_ATTEMPTS:
                    raise
                args["Range"] = f"bytes={offset}-"
            finally:
                body.close()

    def list_keys(
        self, prefix: str = "", *, start_after: str | None = None, page_size: int | None = None
    ) -> Iterator[str]:
        base = f"{self.prefix}/" if self.prefix else ""
        args: dict[str, Any] = {"Bucket": self.bucket, "Prefix": base + prefix}
        if start_after is not None:
            args["StartAfter"] = base + start_after
        if page_size is not None:
            args["MaxKeys"] = max(1, min(1000, page_size))
        while True:
            try:
                page = self._call("list_objects_v2", **args)
            except self._errors() as exc:
                where = f"s3://{self.bucket}/{base}{prefix}"
                raise StoreError(f"cannot list {where}: {_describe(exc)}") from None
            for item in page.get("Contents", []):
                yield item["Key"][len(base) :]
            token = page.get("NextContinuationToken")
            if not page.get("IsTruncated") or not token:
                return
            args["ContinuationToken"] = token

    def modified(self, key: str) -> float | None:
        try:
            answer = self._call("head_object", Bucket=self.bucket, Key=self._key(key))
        except self._errors() as exc:
            if _code(exc) in _NOT_FOUND:
                return None
            raise StoreError(f"cannot check {self.url(key)}: {_describe(exc)}") from None
        return float(answer["LastModified"].timestamp())

    def delete(self, key: str) -> None:
        try:
            self._call("delete_object", Bucket=self.bucket, Key=self._key(key))
        except self._errors() as exc:
            if _code(exc) in _NOT_FOUND:
                return
            raise StoreError(f"cannot delete {self.url(key)}: {_describe(exc)}") from None
