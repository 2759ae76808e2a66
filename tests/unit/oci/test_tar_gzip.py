"""Deterministic layer bytes: the tar writer and the parallel gzip."""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from pack.imagespec.builders.oci import tar
from pack.imagespec.builders.oci.compress import CHUNK, LEVEL, GzipWriter
from pack.imagespec.builders.oci.layers import with_parents, write_layer


def tar_bytes(entries: list[tar.Entry], mtime: int = 0) -> bytes:
    out = io.BytesIO()
    tar.write_tar(entries, out.write, mtime)
    return out.getvalue()


def members(data: bytes) -> list[tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(data)) as t:
        return t.getmembers()


def test_entries_come_out_sorted_with_fixed_owner_mtime_and_no_names() -> None:
    data = tar_bytes(
        [
            tar.file("opt/b.txt", b"bee"),
            tar.directory("opt"),
            tar.file("opt/a-b", b""),
            tar.file("opt/a/x", b"x", executable=True),
            tar.directory("opt/a"),
            tar.symlink("opt/link", "/usr/bin/python3"),
        ],
        mtime=1234,
    )
    got = members(data)
    assert [m.name for m in got] == ["opt", "opt/a", "opt/a/x", "opt/a-b", "opt/b.txt", "opt/link"]
    for m in got:
        assert (m.uid, m.gid, m.uname, m.gname, m.mtime) == (0, 0, "", "", 1234)
    modes = {m.name: m.mode for m in got}
    assert modes["opt/a/x"] == 0o755 and modes["opt/b.txt"] == 0o644 and modes["opt"] == 0o755
    assert got[-1].issym() and got[-1].linkname == "/usr/bin/python3"
    with tarfile.open(fileobj=io.BytesIO(data)) as t:
        assert t.extractfile("opt/b.txt").read() == b"bee"  # type: ignore[union-attr]
    # The same entries in another order are the same bytes: the order is the writer's.
    again = tar_bytes(
        [
            tar.symlink("opt/link", "/usr/bin/python3"),
            tar.file("opt/a/x", b"x", executable=True),
            tar.directory("opt/a"),
            tar.file("opt/a-b", b""),
            tar.directory("opt"),
            tar.file("opt/b.txt", b"bee"),
        ],
        mtime=1234,
    )
    assert again == data


GOLDEN_ENTRIES = [
    tar.directory("opt"),
    tar.file("opt/a.py", b"print('a')\n"),
    tar.file("opt/run", b"#!/bin/sh\n", executable=True),
    tar.symlink("opt/py", "/usr/bin/python3"),
    tar.symlink("opt/far", "/" + "t" * 120),
    tar.file("opt/" + "p" * 90 + "/" + "n" * 90 + ".txt", b"split\n"),  # ustar prefix
    tar.file("opt/" + "q" * 200 + ".txt", b"pax\n"),
    tar.file("opt/été.txt", b"utf8\n"),
    tar.streamed("opt/big.bin", 3, lambda: iter([b"ab", b"c"])),
]
# sha256 of the layer tar: a layer's bytes name the image, so no change of pack's code
# (nor of Python) may move them without this test saying so.
GOLDEN_LAYER = "83cdc1b43617d607add8e1929277e1bd0598f706e4f31819c821da0187de36d1"


def test_layer_bytes_are_golden() -> None:
    data = tar_bytes(GOLDEN_ENTRIES, mtime=1_700_000_000)
    assert hashlib.sha256(data).hexdigest() == GOLDEN_LAYER
    assert [m.name for m in members(data)][-2:] == ["opt/run", "opt/été.txt"]


def test_long_and_non_ascii_paths_travel_in_pax_records() -> None:
    deep = "opt/" + "/".join(["d" * 60] * 5) + "/file.py"
    wide = "opt/" + "x" * 150
    data = tar_bytes([tar.file(deep, b"1"), tar.file(wide, b"2"), tar.file("opt/é.txt", b"3")])
    names = {m.name for m in members(data)}
    assert names == {deep, wide, "opt/é.txt"}


def test_a_path_that_escapes_or_repeats_is_refused() -> None:
    for bad in ("/etc/passwd", "opt/../etc", "opt//x", "./opt"):
        with pytest.raises(ValueError, match="relative, normalized"):
            tar_bytes([tar.file(bad, b"")])
    with pytest.raises(ValueError, match="appears twice"):
        tar_bytes([tar.file("opt/a", b""), tar.file("opt/a", b"")])


def test_a_streamed_entry_must_give_its_announced_length() -> None:
    ok = tar.streamed("opt/big", 6, lambda: iter([b"abc", b"def"]))
    assert tar_bytes([ok]) == tar_bytes([tar.file("opt/big", b"abcdef")])
    short = tar.streamed("opt/big", 7, lambda: iter([b"abc", b"def"]))
    with pytest.raises(ValueError, match="expected 7 bytes, read 6"):
        tar_bytes([short])


def compress(data: bytes, workers: int, *, piece: int = 65536) -> GzipWriter:
    out = io.BytesIO()
    pool = ThreadPoolExecutor(workers) if workers > 1 else None
    gz = GzipWriter(out, pool, workers=workers)
    for i in range(0, len(data), piece):
        gz.write(data[i : i + piece])
    gz.close()
    gz.out_bytes = out.getvalue()  # type: ignore[attr-defined]
    return gz


def test_parallel_gzip_is_valid_and_the_same_bytes_for_any_thread_count() -> None:
    # Compressible but not trivial, and several CHUNKs long so pieces really run in parallel.
    data = b"".join(hashlib.sha256(str(i % 5000).encode()).digest() * 3 for i in range(70000))
    assert len(data) > 3 * CHUNK
    one, four = compress(data, 1), compress(data, 4, piece=999_983)
    assert one.out_bytes == four.out_bytes  # type: ignore[attr-defined]
    blob = one.out_bytes  # type: ignore[attr-defined]
    assert gzip.decompress(blob) == data
    assert blob[4:8] == b"\0\0\0\0"  # no timestamp
    assert one.diff_id == "sha256:" + hashlib.sha256(data).hexdigest()
    assert one.digest == "sha256:" + hashlib.sha256(blob).hexdigest()
    assert one.size == len(blob)
    # Priming each piece with the previous one's tail keeps the ratio of one stream.
    assert len(blob) < 1.05 * len(gzip.compress(data, LEVEL))


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK])
def test_gzip_piece_boundaries(size: int) -> None:
    data = bytes(range(256)) * (size // 256) + b"z" * (size % 256)
    assert gzip.decompress(compress(data, 2).out_bytes) == data  # type: ignore[attr-defined]


def test_write_layer_names_the_blob_by_digest_and_leaves_no_temp(tmp_path: Path) -> None:
    blob = write_layer([tar.file("opt/a", b"a")], tmp_path, mtime=0, pool=None, workers=1)
    assert blob.path == tmp_path / f"{blob.digest.split(':')[1]}.tar.gz"
    assert sorted(p.name for p in tmp_path.iterdir()) == [blob.path.name]
    raw = gzip.decompress(blob.path.read_bytes())
    assert blob.diff_id == "sha256:" + hashlib.sha256(raw).hexdigest()


def test_write_layer_failure_leaves_nothing(tmp_path: Path) -> None:
    from pack.errors import BuildError

    bad = tar.streamed("opt/x", 10, lambda: iter([b"short"]))
    with pytest.raises(BuildError, match="opt/x: expected 10 bytes, read 5"):
        write_layer([bad], tmp_path, mtime=0, pool=None, workers=1)
    assert list(tmp_path.iterdir()) == []


def test_write_layer_sweeps_the_temp_file_of_a_killed_build(tmp_path: Path) -> None:
    import os
    import time

    from pack.scratch import MIN_AGE

    left = tmp_path / ".layer-killed.tmp"  # what kill -9 mid-layer leaves: nobody locks it
    left.write_bytes(b"half a layer")
    old = time.time() - MIN_AGE - 5
    os.utime(left, (old, old))
    blob = write_layer([tar.file("opt/a", b"a")], tmp_path, mtime=0, pool=None, workers=1)
    assert sorted(p.name for p in tmp_path.iterdir()) == [blob.path.name]


def test_parents_are_added_below_the_floor_only() -> None:
    got = with_parents([tar.file("opt/pack/venv/lib/a/b.py", b"")], "opt/pack")
    dirs = sorted(e.path for e in got if e.kind == tar.DIRECTORY)
    assert dirs == ["opt/pack/venv", "opt/pack/venv/lib", "opt/pack/venv/lib/a"]


def test_a_bad_path_in_a_layer_is_a_build_error_not_a_crash(tmp_path: Path) -> None:
    from pack.errors import BuildError

    with pytest.raises(BuildError, match="cannot write the layer: layer path 'opt/../etc'"):
        write_layer([tar.file("opt/../etc", b"")], tmp_path, mtime=0, pool=None, workers=1)
    assert list(tmp_path.iterdir()) == []
