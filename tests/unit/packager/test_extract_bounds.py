"""Extraction stays bounded whatever an archive claims (issue 15.3): every decompressed
byte counts against the budget, a huge extended header is refused before it is read,
the download is capped before it is written. Peak memory is measured in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
import zstandard

from pack.errors import ArchiveError, ObjectTooLarge
from pack.packager.extract import ExtractLimits, fetch_and_extract, safe_extract, tree_matches
from pack.packager.publish import package_and_publish
from pack.packager.store import download_url

from .conftest import write

MiB = 1024 * 1024
BLOCK = 512


def _header(name: str, kind: bytes, size: int) -> bytes:
    info = tarfile.TarInfo(name)
    info.type, info.size = kind, size
    return info.tobuf(format=tarfile.USTAR_FORMAT)


def _pad(size: int) -> bytes:
    return b"\0" * (-size % BLOCK)


def _long_name_stream(kind: bytes, size: int) -> Iterator[bytes]:
    """A tar stream whose first header says `size` bytes of name follow (PAX `path=` record
    or GNU long name), then the name in 1 MiB pieces, then one small regular file."""
    if kind == tarfile.XHDTYPE:
        digits = len(str(size))
        head = f"{size} path=".encode()
        fill, tail = size - digits - len(" path=") - 1, b"\n"
    else:
        head, fill, tail = b"", size - 1, b"\0"
    yield _header("././@LongLink", kind, size)
    yield head
    for start in range(0, fill, MiB):
        yield b"a" * min(MiB, fill - start)
    yield tail + _pad(size)
    yield _header("f", tarfile.REGTYPE, 1) + b"x" + _pad(1)
    yield b"\0" * (2 * BLOCK)


def _zstd(path: Path, chunks: Iterator[bytes], **params: int) -> Path:
    cctx = zstandard.ZstdCompressor(
        compression_params=zstandard.ZstdCompressionParameters.from_level(3, **params)
        if params
        else None
    )
    with open(path, "wb") as out, cctx.stream_writer(out, closefd=False) as writer:
        for chunk in chunks:
            writer.write(chunk)
    return path


PEAK = textwrap.dedent(
    """
    import resource, sys
    from pathlib import Path
    from pack.errors import ArchiveError
    from pack.packager.extract import safe_extract
    try:
        safe_extract(Path(sys.argv[1]), Path(sys.argv[2]))
        outcome = "extracted"
    except ArchiveError as exc:
        outcome = str(exc)
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)  # MiB
    print(outcome)
    """
)


def _peak_mib(archive: Path, dest: Path) -> tuple[int, str]:
    proc = subprocess.run(
        [sys.executable, "-c", PEAK, str(archive), str(dest)],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    peak, outcome = proc.stdout.splitlines()
    return int(peak), outcome


@pytest.mark.parametrize("kind", [tarfile.XHDTYPE, tarfile.GNUTYPE_LONGNAME], ids=["pax", "gnu"])
def test_512_mib_long_name_header_is_refused_with_bounded_memory(
    tmp_path: Path, kind: bytes
) -> None:
    bomb = _zstd(tmp_path / "bomb.tar.zst", _long_name_stream(kind, 512 * MiB))
    assert bomb.stat().st_size < 64 * 1024  # a small download
    small = _zstd(tmp_path / "small.tar.zst", _long_name_stream(kind, 200))
    base, outcome = _peak_mib(small, tmp_path / "ok")
    assert outcome == "extracted" and len(os.listdir(tmp_path / "ok")) == 1  # the long name

    peak, outcome = _peak_mib(bomb, tmp_path / "out")
    print(f"peak RSS: {base} MiB extracting a 200-byte long name, {peak} MiB refusing 512 MiB")
    assert "extended tar header of 536870912 bytes" in outcome
    assert peak - base < 32, f"peak {peak} MiB vs {base} MiB for a normal archive"
    assert sorted(os.listdir(tmp_path)) == ["bomb.tar.zst", "ok", "small.tar.zst"]


def _pax_comment_member(name: str, comment_bytes: int) -> bytes:
    record = b" comment=" + b"c" * comment_bytes + b"\n"
    length = len(record) + len(str(len(record) + 7))
    while len(str(length)) + len(record) != length:
        length += 1
    body = str(length).encode() + record
    return (
        _header("././@PaxHeader", tarfile.XHDTYPE, len(body))
        + body
        + _pad(len(body))
        + _header(name, tarfile.REGTYPE, 0)
    )


def test_headers_count_against_the_budget(tmp_path: Path) -> None:
    """Empty files with 900 KiB PAX records each: no regular file byte, yet 88 MiB of tar."""

    def stream() -> Iterator[bytes]:
        for i in range(100):
            yield _pax_comment_member(f"f{i}", 900 * 1024)
        yield b"\0" * (2 * BLOCK)

    archive = _zstd(tmp_path / "headers.tar.zst", stream())
    assert archive.stat().st_size < 64 * 1024
    with pytest.raises(ArchiveError, match="expands to more than"):
        safe_extract(archive, tmp_path / "out" / "code")
    assert os.listdir(tmp_path / "out") == []


def test_member_over_the_budget_is_refused_before_its_file_exists(tmp_path: Path) -> None:
    def stream() -> Iterator[bytes]:
        yield _header("big", tarfile.REGTYPE, 3 * MiB)
        yield b"\0" * (3 * MiB)
        yield b"\0" * (2 * BLOCK)

    archive = _zstd(tmp_path / "big.tar.zst", stream())
    created: list[str] = []
    real_open = os.open

    def spy(path: str, *args: object, **kwargs: object) -> int:
        created.append(str(path))
        return real_open(path, *args, **kwargs)  # type: ignore[arg-type]

    limits = ExtractLimits(max_bytes=2 * MiB, ratio_floor=2 * MiB)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(os, "open", spy)
        with pytest.raises(ArchiveError, match="expands to more than 2097152 bytes"):
            safe_extract(archive, tmp_path / "out", limits=limits)
    assert not [p for p in created if p.endswith("/big")]


def test_zstd_frame_asking_for_a_huge_window_is_refused(tmp_path: Path) -> None:
    def stream() -> Iterator[bytes]:
        yield _header("f", tarfile.REGTYPE, 1) + b"x" + _pad(1) + b"\0" * (2 * BLOCK)

    archive = _zstd(tmp_path / "window.tar.zst", stream(), window_log=27)
    with pytest.raises(ArchiveError, match="cannot be decompressed"):
        safe_extract(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_download_over_the_cap_is_refused_before_it_is_written(tree: Path, tmp_path: Path) -> None:
    write(tree, {"wf.py": "x = 1\n", "data.bin": os.urandom(20_000).hex()})
    ref = package_and_publish(
        tree, "all", None, (tmp_path / "s").as_uri(), cache_dir=tmp_path / "c"
    )
    assert ref is not None
    dest = tmp_path / "run" / "code"
    with pytest.raises(ArchiveError, match="refusing the bundle: .* over the limit of 1000"):
        fetch_and_extract(ref.url, dest, limits=ExtractLimits(max_archive_bytes=1000))
    assert os.listdir(dest.parent) == []
    with pytest.raises(ObjectTooLarge):
        download_url(ref.url, tmp_path / "copy", max_bytes=1000)
    assert not (tmp_path / "copy").exists()
    assert tree_matches(fetch_and_extract(ref.url, dest), ref.digest)


def test_tree_matches_only_the_tree_the_digest_names(tree: Path, tmp_path: Path) -> None:
    write(tree, {"wf.py": "x = 1\n", "pkg/m.py": "y = 2\n"})
    (tree / "alias.py").symlink_to("wf.py")
    ref = package_and_publish(
        tree, "all", None, (tmp_path / "s").as_uri(), cache_dir=tmp_path / "c"
    )
    assert ref is not None
    out = fetch_and_extract(ref.url, tmp_path / "code")
    assert tree_matches(out, ref.digest)
    (out / "pkg" / "m.py").write_text("y = 3\n")
    assert not tree_matches(out, ref.digest)
    (out / "pkg" / "m.py").write_text("y = 2\n")
    (out / "alias.py").unlink()
    (out / "alias.py").symlink_to("pkg/m.py")
    assert not tree_matches(out, ref.digest)
    (out / "alias.py").unlink()
    (out / "alias.py").symlink_to("wf.py")
    assert tree_matches(out, ref.digest)
    os.mkfifo(out / "pkg" / "pipe")
    assert not tree_matches(out, ref.digest)
    assert not tree_matches(tmp_path / "absent", ref.digest)


def test_long_names_within_the_header_cap_are_still_refused_past_path_max(
    tmp_path: Path,
) -> None:
    archive = _zstd(tmp_path / "mid.tar.zst", _long_name_stream(tarfile.XHDTYPE, 8 * MiB))
    with pytest.raises(ArchiveError, match="extended tar header of 8388608 bytes"):
        safe_extract(archive, tmp_path / "out")
    with pytest.raises(ArchiveError, match=r"name of \d{7} bytes is too long"):
        safe_extract(archive, tmp_path / "out", limits=ExtractLimits(max_header_bytes=16 * MiB))
    assert sorted(os.listdir(tmp_path)) == ["mid.tar.zst"]
