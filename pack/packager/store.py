"""Object stores behind one small protocol: `file://` (atomic rename) and `s3://` (boto3).

A key is a relative POSIX path inside the store (`bundles/<hex>.tar.zst`). Writes
never leave a partial object visible: the file store writes a temp file in the
same folder and renames it; the S3 store relies on S3's all-or-nothing PUT and
aborts a multipart upload that fails midway.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path, PurePosixPath
from typing import BinaryIO, Protocol, runtime_checkable
from urllib.parse import unquote, urlparse

from pack.atomic import atomic_write
from pack.errors import ObjectNotFound, ObjectTooLarge, StoreError

SUPPORTED = "file:///absolute/path or s3://bucket/prefix"
# The variable a pod's container gets when an endpoint is configured; the entrypoints read it.
ENV_S3_ENDPOINT = "PACK_S3_ENDPOINT_URL"

# The S3 endpoint of every store this process opens (None: boto3's own settings, such as
# AWS_ENDPOINT_URL_S3). One setting per process rather than a parameter: bundles, inputs,
# outputs, errors, timings, run records and the File/Directory/array values a task reads
# or returns all open their store here, and a parameter threaded through each call site
# was dropped on some of them.
_s3_endpoint: str | None = None


def use_s3_endpoint(url: str | None) -> None:
    """Set the S3 endpoint for this process: the CLI from its Config, the entrypoints
    from the pod's env (`PACK_S3_ENDPOINT_URL`). None leaves it to boto3's settings."""
    global _s3_endpoint
    _s3_endpoint = url or None


def s3_endpoint() -> str | None:
    """The endpoint `use_s3_endpoint` set, if any."""
    return _s3_endpoint


# The variable a pod's container gets when a network timeout is configured.
ENV_NETWORK_TIMEOUT = "PACK_NETWORK_TIMEOUT"
# Seconds an S3 store waits to connect and for each read (None: boto3's 60 s); one
# setting per process like the endpoint, for the same reason.
_network_timeout: float | None = None


def use_network_timeout(seconds: float | None) -> None:
    """Set the S3 connect/read timeout for this process: the CLI from its Config
    (`network_timeout`), the entrypoints from the pod's `PACK_NETWORK_TIMEOUT`."""
    global _network_timeout
    _network_timeout = seconds or None


_light_s3 = True


def use_light_s3(on: bool) -> None:
    """Whether this process may read and write S3 without boto3 (pack.packager.s3lite),
    which it then does when the environment holds the credentials and sets nothing only
    boto3 honours (s3lite.unsupported). On by default: in pods it is ~0.5 s of CPU less
    per pod, in the client (`pack run`, a workflow's driver) ~0.6 s less per run and
    several ms of CPU less per store call. Off: boto3 and its whole credential chain."""
    global _light_s3
    _light_s3 = on


def light_s3() -> bool:
    return _light_s3


def network_timeout() -> float | None:
    """The timeout `use_network_timeout` set, if any."""
    return _network_timeout


@runtime_checkable
class Store(Protocol):
    """A flat key -> bytes store.

    `put_*` returns True when this call wrote the object. With `if_absent=True` an
    object already there is kept (content-addressed keys: same key, same bytes) and
    the call returns False; concurrent writers of one key are then both safe.
    """

    def exists(self, key: str) -> bool: ...

    def put_file(self, key: str, path: Path, *, if_absent: bool = False) -> bool: ...

    def put_bytes(self, key: str, data: bytes, *, if_absent: bool = False) -> bool: ...

    def get_file(self, key: str, dest: Path, *, max_bytes: int | None = None) -> None: ...

    def get_bytes(self, key: str) -> bytes: ...

    def url(self, key: str) -> str: ...

    def list_keys(
        self, prefix: str = "", *, start_after: str | None = None, page_size: int | None = None
    ) -> Iterator[str]:
        """Keys that start with `prefix`, in ascending (byte) order, after `start_after`.

        Lazy: a caller that stops after N keys costs about N keys of listing; `page_size`
        says how many it expects to want, so a remote store asks for no more at a time."""
        ...

    def delete(self, key: str) -> None:
        """Remove `key`; a key that is not there is not an error."""
        ...

    def modified(self, key: str) -> float | None:
        """When `key` was last written (seconds since the epoch); None if it is not there."""
        ...


def check_size(url: str, size: int, max_bytes: int | None) -> None:
    """ObjectTooLarge when `size` is over `max_bytes` (None: no cap)."""
    if max_bytes is not None and size > max_bytes:
        raise ObjectTooLarge(f"{url} is {size} bytes, over the limit of {max_bytes}")


def copy_capped(
    src: BinaryIO, out: BinaryIO, url: str, max_bytes: int | None, chunk: int = 1 << 20
) -> None:
    """Copy `src` to `out`, refusing once more than `max_bytes` came (a size announced
    up front can lie, or the object can grow while it is read)."""
    copied = 0
    while True:
        data = src.read(chunk)
        if not data:
            return
        copied += len(data)
        check_size(url, copied, max_bytes)
        out.write(data)


def check_key(key: str) -> str:
    """A key must be a plain relative POSIX path: no `..`, no leading `/`, no empty parts."""
    parts = PurePosixPath(key).parts
    if (
        not key
        or key.startswith("/")
        or "\\" in key
        or any(p in ("", ".", "..") for p in key.split("/"))
        or not parts
    ):
        raise StoreError(
            f"invalid store key {key!r}: expected a relative path like 'bundles/x.tar.zst'"
        )
    return key


class FileStore:
    """A folder on a local (or mounted) file system."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def url(self, key: str) -> str:
        return self._path(key).as_uri()

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def _put(self, key: str, fill: Callable[[BinaryIO], object], if_absent: bool) -> bool:
        dest = self._path(key)
        if if_absent and dest.is_file():
            return False
        try:
            atomic_write(dest, fill)
        except OSError as exc:
            raise StoreError(f"cannot write {self.url(key)}: {exc.strerror or exc}") from None
        return True

    def put_file(self, key: str, path: Path, *, if_absent: bool = False) -> bool:
        from pack.scratch import sweep

        # Big objects (bundles, File values) come this way: the temp files of writes a
        # killed process left in the folder go first (atomic_write's `.NAME.*.tmp`).
        sweep(self._path(key).parent, ".", ".tmp")
        try:
            src = open(path, "rb")
        except OSError as exc:
            raise StoreError(
                f"cannot upload {path} to {self.url(key)}: {exc.strerror or exc}"
            ) from None
        with src:
            return self.put_fileobj(key, src, if_absent=if_absent)

    def put_fileobj(self, key: str, fileobj: BinaryIO, *, if_absent: bool = False) -> bool:
        return self._put(key, lambda out: shutil.copyfileobj(fileobj, out, 1 << 20), if_absent)

    def put_bytes(self, key: str, data: bytes, *, if_absent: bool = False) -> bool:
        return self._put(key, lambda out: out.write(data), if_absent)

    def get_file(self, key: str, dest: Path, *, max_bytes: int | None = None) -> None:
        src = self._path(key)
        try:
            with open(src, "rb") as f:
                check_size(self.url(key), os.fstat(f.fileno()).st_size, max_bytes)
                atomic_write(dest, lambda out: copy_capped(f, out, self.url(key), max_bytes))
        except FileNotFoundError:
            raise ObjectNotFound(f"not found: {self.url(key)}") from None
        except OSError as exc:
            raise StoreError(f"cannot read {self.url(key)}: {exc.strerror or exc}") from None

    def get_bytes(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise ObjectNotFound(f"not found: {self.url(key)}") from None
        except OSError as exc:
            raise StoreError(f"cannot read {self.url(key)}: {exc.strerror or exc}") from None

    def list_keys(
        self, prefix: str = "", *, start_after: str | None = None, page_size: int | None = None
    ) -> Iterator[str]:
        folder, _, stem = prefix.rpartition("/")
        if folder:
            check_key(folder)
        base = self.root / folder if folder else self.root
        yield from self._walk(base, f"{folder}/" if folder else "", stem, start_after)

    def _walk(self, path: Path, key_prefix: str, stem: str, after: str | None) -> Iterator[str]:
        try:
            entries = list(os.scandir(path))
        except (FileNotFoundError, NotADirectoryError):
            return
        except OSError as exc:
            raise StoreError(f"cannot list {path.as_uri()}: {exc.strerror or exc}") from None
        items = []
        for entry in entries:
            name = entry.name
            if not name.startswith(stem) or (name.startswith(".") and name.endswith(".tmp")):
                continue  # outside the prefix, or an atomic_write temp file in flight
            is_dir = entry.is_dir(follow_symlinks=False)
            if is_dir or entry.is_file(follow_symlinks=False):
                # Sort as the keys sort: a folder's keys continue its name with "/".
                items.append((name + "/" if is_dir else name, is_dir))
        for sort_name, is_dir in sorted(items):
            key = key_prefix + sort_name
            if is_dir:
                # Every key below sorts before `after` when `after` is past the folder.
                if after is not None and after > key and not after.startswith(key):
                    continue
                yield from self._walk(path / sort_name[:-1], key, "", after)
            elif after is None or key > after:
                yield key

    def modified(self, key: str) -> float | None:
        try:
            return self._path(key).stat().st_mtime
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StoreError(f"cannot check {self.url(key)}: {exc.strerror or exc}") from None

    def delete(self, key: str) -> None:
        path = self._path(key)
        try:
            path.unlink()
        except FileNotFoundError:
            return
        except OSError as exc:
            raise StoreError(f"cannot delete {self.url(key)}: {exc.strerror or exc}") from None
        # Empty folders left behind are removed up to the store's root.
        parent = path.parent
        while parent != self.root and self.root in parent.parents:
            try:
                parent.rmdir()
            except OSError:
                break
            parent = parent.parent


def _file_root(url: str) -> Path:
    parsed = urlparse(url)
    if parsed.netloc not in ("", "localhost"):
        raise StoreError(f"unsupported store URL {url!r}: file URLs must be local; use {SUPPORTED}")
    path = Path(unquote(parsed.path))
    if not path.is_absolute():
        raise StoreError(f"unsupported store URL {url!r}: use {SUPPORTED}")
    return path


def open_store(url: str) -> Store:
    """The store a URL names. boto3 is imported only for s3:// URLs; an S3 store uses
    the process's endpoint and timeout (`use_s3_endpoint`, `use_network_timeout`)."""
    scheme = urlparse(url).scheme
    if scheme == "file":
        return FileStore(_file_root(url))
    if scheme == "s3":
        from pack.packager.s3 import S3Store, parse_s3_url

        bucket, prefix = parse_s3_url(url)
        return S3Store(bucket, prefix, endpoint_url=_s3_endpoint, timeout=_network_timeout)
    raise StoreError(f"unsupported store URL {url!r}: use {SUPPORTED}")


def split_url(url: str) -> tuple[Store, str]:
    """Split an object URL into (store of its folder, key of the object)."""
    parsed = urlparse(url)
    if parsed.scheme == "file":
        path = _file_root(url)
        if not path.name:
            raise StoreError(f"URL {url!r} names a folder, not an object")
        return FileStore(path.parent), path.name
    if parsed.scheme == "s3":
        from pack.packager.s3 import S3Store, parse_s3_url

        bucket, key = parse_s3_url(url)
        if not key or key.endswith("/"):
            raise StoreError(f"URL {url!r} names a folder, not an object")
        folder, _, name = key.rpartition("/")
        return S3Store(bucket, folder, endpoint_url=_s3_endpoint, timeout=_network_timeout), name
    raise StoreError(f"unsupported URL {url!r}: use {SUPPORTED}")


def read_url(url: str) -> bytes:
    store, key = split_url(url)
    return store.get_bytes(key)


def write_url(url: str, data: bytes, *, if_absent: bool = False) -> bool:
    store, key = split_url(url)
    return store.put_bytes(key, data, if_absent=if_absent)


def download_url(url: str, dest: Path, *, max_bytes: int | None = None) -> None:
    """The object at `url` into `dest`; with `max_bytes`, a bigger object is refused
    (ObjectTooLarge) before `dest` is written."""
    store, key = split_url(url)
    store.get_file(key, dest, max_bytes=max_bytes)


def upload_file_url(url: str, path: Path, *, if_absent: bool = False) -> bool:
    store, key = split_url(url)
    return store.put_file(key, path, if_absent=if_absent)


def exists_url(url: str) -> bool:
    store, key = split_url(url)
    return store.exists(key)
