"""`pack.File` and `pack.Directory`: data that travels by reference through the store.

Returned from a task, a local file is uploaded under the raw-output prefix and the
literal carries only its URL (a `Blob`). Passed as an input, a local file or directory
is stored by content (`<files prefix>/<sha256>/<name>`, like bundles; a directory by its
manifest's digest): uploaded once, the same URL on every run, checked against its
digest when fetched. Received by a task, a File holds the URL and
downloads on first use (`open()`, `.path`, `os.fspath`). A Directory is stored as its
files plus a small manifest listing them, so any store that can get and put objects
(no listing needed) can hold one.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import tempfile
from pathlib import Path, PurePosixPath
from typing import IO, TYPE_CHECKING, Any

from pack.launcher.types.engine import TypeContext, TypeEngine

if TYPE_CHECKING:
    from flyteidl.core.literals_pb2 import Literal

MANIFEST = ".pack-manifest.json"


def _is_url(text: str) -> bool:
    return "://" in text


class _Ref:
    """A local path or a remote URL, downloaded to `local_dir` (or a temp dir) when needed."""

    def __init__(self, path: str | os.PathLike[str], *, local_dir: Path | None = None) -> None:
        text = os.fspath(path)
        self._remote: str | None = text if _is_url(text) else None
        self._local: Path | None = None if self._remote else Path(text)
        self._local_dir = local_dir

    @property
    def uri(self) -> str | None:
        """The store URL, or None for a file that was never uploaded."""
        return self._remote

    @property
    def is_remote(self) -> bool:
        return self._remote is not None

    def _fetch_dir(self) -> Path:
        base = self._local_dir or Path(tempfile.gettempdir())
        base.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix="pack-fetch-", dir=base))

    @property
    def path(self) -> Path:
        """A local path, downloading the remote object the first time it is asked for."""
        if self._local is None:
            assert self._remote is not None
            self._local = self._download(self._remote, self._fetch_dir())
        return self._local

    def download(self) -> Path:
        return self.path

    def _download(self, url: str, into: Path) -> Path:
        raise NotImplementedError

    def __fspath__(self) -> str:
        return str(self.path)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._remote or str(self._local)!r})"

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, _Ref)
        return (self._remote, self._local) == (other._remote, other._local)

    def __hash__(self) -> int:
        return hash((self._remote, self._local))


class File(_Ref):
    """A file: `File("data.csv")` locally, `File("s3://b/k")` remotely; `open()` fetches."""

    @classmethod
    def new(cls, name: str) -> File:
        """A fresh local file in the task's working directory, to write and then return."""
        from pack.launcher.context import current_context

        folder = Path(tempfile.mkdtemp(prefix="out-", dir=current_context().working_dir))
        return cls(folder / name)

    def open(self, mode: str = "r", **kwargs: Any) -> IO[Any]:
        if self._remote is not None and any(c in mode for c in "wax+"):
            raise ValueError(f"{self!r} is a stored file and is read-only; use File.new() to write")
        return open(self.path, mode, **kwargs)  # noqa: SIM115 - the caller closes it

    def _download(self, url: str, into: Path) -> Path:
        return download_file(url, into)


class Directory(_Ref):
    """A folder of files; `.path` fetches every file the manifest lists."""

    @classmethod
    def new(cls, name: str) -> Directory:
        from pack.launcher.context import current_context

        folder = Path(tempfile.mkdtemp(prefix="out-", dir=current_context().working_dir)) / name
        folder.mkdir()
        return cls(folder)

    def files(self) -> list[Path]:
        root = self.path
        return sorted(p for p in root.rglob("*") if p.is_file() and p.name != MANIFEST)

    def _download(self, url: str, into: Path) -> Path:
        return download_directory(url, into)


def _local_name(url: str, fallback: str) -> str:
    """The last part of a URL as a file name in a folder of ours (never '..' or '.')."""
    name = PurePosixPath(url.rstrip("/")).name
    return name if name not in ("", ".", "..") else fallback


# A File stored by content: `.../files/<sha256 hex>/<name>` (see upload_by_content).
_BY_CONTENT = re.compile(r"/files/([0-9a-f]{64})/[^/]+\Z")


def download_file(url: str, into: Path) -> Path:
    """A stored File, fetched to `into/<its name>`; one stored by content only if its
    bytes have the digest its URL names (the store's bytes are trusted after that check,
    as a bundle's)."""
    from pack.digest import Digest
    from pack.packager.store import download_url

    dest = into / _local_name(url, "file")
    download_url(url, dest)
    named = _BY_CONTENT.search(url)
    if named:
        got = Digest.of_file(dest).hex
        if got != named.group(1):
            dest.unlink()
            raise _changed(url, got, "the digest its name says")
    return dest


def download_directory(url: str, into: Path) -> Path:
    """A stored Directory, fetched to `into/<its name>/` file by file, as its manifest
    lists; one stored by content only if its manifest has the digest its URL names and
    each file the digest its manifest gives."""
    from pack.digest import Digest
    from pack.packager.store import download_url, read_url

    dest = into / _local_name(url, "dir")
    raw = read_url(f"{url.rstrip('/')}/{MANIFEST}")
    named = _BY_CONTENT.search(url.rstrip("/"))
    if named and Digest.of_bytes(raw).hex != named.group(1):
        raise _changed(f"{url}/{MANIFEST}", Digest.of_bytes(raw).hex, "the digest its name says")
    manifest = json.loads(raw)
    dest.mkdir(parents=True)
    for rel in manifest["files"]:
        parts = PurePosixPath(rel).parts
        if not parts or rel.startswith("/") or ".." in parts:
            raise ValueError(f"{url}: manifest entry {rel!r} escapes the directory")
        target = dest.joinpath(*parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        download_url(f"{url.rstrip('/')}/{rel}", target)
        if named:
            got = Digest.of_file(target).hex
            if got != manifest["sha256"].get(rel):
                shutil.rmtree(dest)
                raise _changed(f"{url.rstrip('/')}/{rel}", got, "the digest the manifest gives")
    return dest


def _changed(url: str, got: str, expected: str) -> Exception:
    """The error for an object stored by content whose bytes are not what it is named by."""
    from pack.errors import StoreError

    return StoreError(
        f"{url}: its bytes have sha256 {got}, not {expected}; the object was changed in "
        "the store: pass it again from its source"
    )


def _blob_literal(uri: str, multipart: bool, fmt: str = "") -> Literal:
    from flyteidl.core import literals_pb2, types_pb2

    dim = types_pb2.BlobType.MULTIPART if multipart else types_pb2.BlobType.SINGLE
    meta = literals_pb2.BlobMetadata(type=types_pb2.BlobType(format=fmt, dimensionality=dim))
    return literals_pb2.Literal(
        scalar=literals_pb2.Scalar(blob=literals_pb2.Blob(metadata=meta, uri=uri))
    )


def blob_uri(lit: Literal) -> str:
    if lit.WhichOneof("value") != "scalar" or lit.scalar.WhichOneof("value") != "blob":
        raise TypeError("expected a blob literal")
    return lit.scalar.blob.uri


def offload_prefix(ctx: TypeContext, what: str) -> str:
    """A fresh, unique folder under the raw-output prefix."""
    return f"{ctx.require_prefix(what).rstrip('/')}/{secrets.token_hex(8)}"


def upload_file(path: Path, ctx: TypeContext) -> str:
    from pack.packager.store import upload_file_url

    if not path.is_file():
        raise TypeError(f"file {str(path)!r} does not exist")
    if ctx.files_prefix:
        return upload_by_content(path, ctx.files_prefix)
    url = f"{offload_prefix(ctx, str(path))}/{path.name}"
    upload_file_url(url, path)
    return url


def _stamp(path: Path) -> tuple[int, int, int]:
    st = path.stat()
    return st.st_size, st.st_mtime_ns, st.st_ino


def upload_by_content(path: Path, prefix: str) -> str:
    """`path` at `<prefix>/<sha256>/<name>`, uploaded only if the store does not hold it
    yet (one HEAD otherwise): the same file gets the same URL on every run.

    A file that changes while it is hashed and sent would leave other bytes under its
    digest: the object this call wrote is then removed and the call fails."""
    from pack.digest import Digest
    from pack.errors import StoreError
    from pack.packager.store import exists_url, split_url, upload_file_url

    before = _stamp(path)
    url = f"{prefix.rstrip('/')}/{Digest.of_file(path).hex}/{path.name}"
    if exists_url(url):
        return url
    wrote = upload_file_url(url, path, if_absent=True)
    if _stamp(path) != before:
        if wrote:
            store, key = split_url(url)
            store.delete(key)
        raise StoreError(f"file {str(path)!r} changed while it was uploaded; pass it again")
    return url


def upload_directory(path: Path, ctx: TypeContext) -> str:
    from pack.packager.store import upload_file_url, write_url

    if not path.is_dir():
        raise TypeError(f"directory {str(path)!r} does not exist")
    if ctx.files_prefix:
        return upload_directory_by_content(path, ctx.files_prefix)
    prefix = f"{offload_prefix(ctx, str(path))}/{path.name}"
    rels = []
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        rel = file.relative_to(path).as_posix()
        upload_file_url(f"{prefix}/{rel}", file)
        rels.append(rel)
    # The manifest is written last: a directory is complete once its manifest exists.
    write_url(f"{prefix}/{MANIFEST}", json.dumps({"files": rels}).encode())
    return prefix


def upload_directory_by_content(path: Path, prefix: str) -> str:
    """`path` at `<prefix>/<sha256 of its manifest>/<name>/`, the manifest listing each
    file with its digest: uploaded only if the store does not hold that manifest yet
    (written last, so a directory there is whole). A file that changes meanwhile fails
    the call and leaves nothing this call wrote."""
    import hashlib

    from pack.digest import Digest
    from pack.errors import StoreError
    from pack.packager.store import exists_url, split_url, upload_file_url, write_url

    files = sorted(p for p in path.rglob("*") if p.is_file())
    stamps = [_stamp(f) for f in files]
    digests = {f.relative_to(path).as_posix(): Digest.of_file(f).hex for f in files}
    manifest = json.dumps(
        {"files": list(digests), "sha256": digests}, sort_keys=True, separators=(",", ":")
    ).encode()
    url = f"{prefix.rstrip('/')}/{hashlib.sha256(manifest).hexdigest()}/{path.name}"
    if exists_url(f"{url}/{MANIFEST}"):
        return url
    wrote = [
        f"{url}/{rel}"
        for rel, file in zip(digests, files, strict=True)
        if upload_file_url(f"{url}/{rel}", file, if_absent=True)
    ]
    if [_stamp(f) for f in files] != stamps:
        for written in wrote:
            store, key = split_url(written)
            store.delete(key)
        raise StoreError(f"directory {str(path)!r} changed while it was uploaded; pass it again")
    write_url(f"{url}/{MANIFEST}", manifest, if_absent=True)
    return url


class FileTransformer:
    name = "file"
    kind: type[_Ref] = File
    multipart = False

    def matches(self, tp: Any) -> bool:
        return tp is self.kind

    def check(self, tp: Any, engine: TypeEngine) -> None:
        return None

    def _coerce(self, value: Any) -> _Ref:
        if isinstance(value, self.kind):
            return value
        if isinstance(value, str | os.PathLike):
            return self.kind(value)
        raise TypeError(f"expected {self.kind.__name__} or a path, got {type(value).__name__}")

    def _upload(self, path: Path, ctx: TypeContext) -> str:
        return upload_file(path, ctx)

    def to_literal(self, value: Any, tp: Any, engine: TypeEngine, ctx: TypeContext) -> Literal:
        ref = self._coerce(value)
        if ref.uri is None and ctx.check_only:
            path = ref.path
            if not (path.is_dir() if self.multipart else path.is_file()):
                raise TypeError(
                    f"{str(path)!r}: no such {'directory' if self.multipart else 'file'}"
                )
            return _blob_literal(path.resolve().as_uri(), self.multipart)
        uri = ref.uri if ref.uri is not None else self._upload(ref.path, ctx)
        return _blob_literal(uri, self.multipart)

    def to_python(self, lit: Literal, tp: Any, engine: TypeEngine, ctx: TypeContext) -> Any:
        return self.kind(blob_uri(lit), local_dir=ctx.local_dir)


class DirectoryTransformer(FileTransformer):
    name = "directory"
    kind = Directory
    multipart = True

    def _upload(self, path: Path, ctx: TypeContext) -> str:
        return upload_directory(path, ctx)
