"""Hostile archives, each built by hand with tarfile, and the happy path."""

from __future__ import annotations

import io
import os
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest
import zstandard

from pack.errors import ArchiveError
from pack.packager.extract import ExtractLimits, digest_from_url, fetch_and_extract, safe_extract
from pack.packager.publish import package_and_publish, plan_package

from .conftest import write

AddFn = Callable[[tarfile.TarFile], None]


def make_archive(path: Path, *adders: AddFn, compression: str = "zstd") -> Path:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for add in adders:
            add(tar)
    raw = buf.getvalue()
    if compression == "zstd":
        raw = zstandard.ZstdCompressor().compress(raw)
    else:
        import gzip

        raw = gzip.compress(raw)
    path.write_bytes(raw)
    return path


def reg(name: str, data: bytes = b"x", mode: int = 0o644) -> AddFn:
    def add(tar: tarfile.TarFile) -> None:
        info = tarfile.TarInfo(name)
        info.size, info.mode = len(data), mode
        tar.addfile(info, io.BytesIO(data))

    return add


def special(name: str, kind: bytes, link: str = "") -> AddFn:
    def add(tar: tarfile.TarFile) -> None:
        info = tarfile.TarInfo(name)
        info.type, info.linkname = kind, link
        tar.addfile(info)

    return add


def zeros(name: str, size: int) -> AddFn:
    class Zeros(io.RawIOBase):
        def __init__(self) -> None:
            self.left = size

        def readable(self) -> bool:
            return True

        def readinto(self, b: bytearray) -> int:  # type: ignore[override]
            n = min(len(b), self.left)
            b[:n] = bytes(n)
            self.left -= n
            return n

    def add(tar: tarfile.TarFile) -> None:
        info = tarfile.TarInfo(name)
        info.size = size
        tar.addfile(info, io.BufferedReader(Zeros()))

    return add


@pytest.mark.parametrize(
    ("adders", "message"),
    [
        ([reg("/etc/evil")], "absolute path"),
        ([reg("../evil")], r"'\.\.'"),
        ([reg("a/../../evil")], r"'\.\.'"),
        ([special("link", tarfile.SYMTYPE, "/etc/passwd")], "absolute"),
        ([special("a/link", tarfile.SYMTYPE, "../../outside")], "outside the destination"),
        ([special("link", tarfile.SYMTYPE, "."), reg("link/x")], "is a symlink"),
        (
            [
                special("a/b/up", tarfile.SYMTYPE, "../.."),
                special("esc", tarfile.SYMTYPE, "a/b/up/.."),
            ],
            "resolves outside",
        ),
        ([special("hard", tarfile.LNKTYPE, "../../etc/passwd")], "hard link"),
        ([reg("f"), special("hard", tarfile.LNKTYPE, "f")], "hard link"),
        ([special("dev", tarfile.CHRTYPE)], "devices"),
        ([special("blk", tarfile.BLKTYPE)], "devices"),
        ([special("fifo", tarfile.FIFOTYPE)], "devices"),
        ([reg("dup"), reg("dup")], "duplicate"),
        ([reg("file"), reg("file/under")], "not a folder"),
    ],
)
def test_hostile_archives_are_refused_and_leave_nothing(
    tmp_path: Path, adders: list[AddFn], message: str
) -> None:
    archive = make_archive(tmp_path / "evil.tar.zst", *adders)
    dest = tmp_path / "out" / "bundle"
    with pytest.raises(ArchiveError, match=message):
        safe_extract(archive, dest, expected=None)
    assert not dest.exists()
    assert os.listdir(tmp_path / "out") == []  # the temp folder is gone too
    assert not (tmp_path / "evil").exists() and not (tmp_path / "outside").exists()


def test_size_bomb_by_ratio(tmp_path: Path) -> None:
    archive = make_archive(tmp_path / "bomb.tar.zst", zeros("zeros.bin", 80 * 1024 * 1024))
    assert archive.stat().st_size < 100_000
    with pytest.raises(ArchiveError, match="expands to more than"):
        safe_extract(
            archive, tmp_path / "out", expected=None, limits=ExtractLimits(ratio_floor=1 << 20)
        )
    assert not (tmp_path / "out").exists()


def test_size_bomb_by_absolute_limit(tmp_path: Path) -> None:
    archive = make_archive(tmp_path / "big.tar.gz", reg("a", os.urandom(4096)), compression="gzip")
    with pytest.raises(ArchiveError, match="expands"):
        safe_extract(archive, tmp_path / "out", expected=None, limits=ExtractLimits(max_bytes=1000))
    safe_extract(archive, tmp_path / "ok", expected=None)  # default limits accept it
    assert (tmp_path / "ok" / "a").stat().st_size == 4096


def test_garbage_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "x.tar.zst"
    bad.write_bytes(b"not an archive")
    with pytest.raises(ArchiveError, match="neither zstd nor gzip"):
        safe_extract(bad, tmp_path / "out", expected=None)
    truncated = make_archive(tmp_path / "t.tar.zst", reg("a", os.urandom(100_000)))
    truncated.write_bytes(truncated.read_bytes()[:5000])
    with pytest.raises(ArchiveError):
        safe_extract(truncated, tmp_path / "out", expected=None)
    assert not (tmp_path / "out").exists()


def test_roundtrip_verifies_digest_and_rejects_mismatch(tree: Path, tmp_path: Path) -> None:
    write(tree, {"wf.py": "print(1)\n", "pkg/__init__.py": "", "run.sh": "#!/bin/sh\n"})
    (tree / "run.sh").chmod(0o755)
    (tree / "alias.py").symlink_to("wf.py")
    store = tmp_path / "store"
    ref = package_and_publish(tree, "all", None, store.as_uri(), cache_dir=tmp_path / "c")
    assert ref is not None and digest_from_url(ref.url) == ref.digest
    out = fetch_and_extract(ref.url, tmp_path / "x" / "code")
    assert (out / "wf.py").read_text() == "print(1)\n"
    assert os.access(out / "run.sh", os.X_OK) and not os.access(out / "wf.py", os.X_OK)
    assert os.readlink(out / "alias.py") == "wf.py"
    # Same files, different content under the same name: a bundle that lies about its digest.
    (tree / "wf.py").write_text("print(2)\n")
    other = plan_package(tree, "all", None, cache_dir=None)
    evil_key = store / "bundles" / f"{other.digest.hex}.tar.zst"
    bundle = Path(ref.url.removeprefix("file://"))
    evil_key.write_bytes(bundle.read_bytes())
    with pytest.raises(ArchiveError, match="does not match its digest"):
        fetch_and_extract(evil_key.as_uri(), tmp_path / "y" / "code")
    assert not (tmp_path / "y" / "code").exists()
    assert os.listdir(tmp_path / "y") == []


def test_existing_nonempty_destination_is_not_overwritten(tmp_path: Path) -> None:
    archive = make_archive(tmp_path / "a.tar.zst", reg("f"))
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "keep").write_text("mine")
    with pytest.raises(ArchiveError, match="cannot move"):
        safe_extract(archive, dest, expected=None)
    assert (dest / "keep").read_text() == "mine"
