from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
from pathlib import Path

import zstandard

from pack.packager.archive import Member, write_bundle, write_tar
from pack.packager.publish import members, plan_package

from .conftest import write

MEMBERS = [
    Member("pkg/mod.py", "file", data=b"print('hi')\n", size=12),
    Member("run.sh", "file", executable=True, data=b"#!/bin/sh\n", size=10),
    Member("alias.py", "symlink", link_target="pkg/mod.py"),
    Member("deep/" + "d" * 120 + "/f.txt", "file", data=b"long name\n", size=10),
    Member("données/été.txt", "file", data=b"utf8\n", size=5),
]
# sha256 of the uncompressed tar: our own headers, so no Python or library version may change it.
GOLDEN_TAR = "46ff87716cbc22ebc5d23e4deca3fd58cf6a103c0e38969ac5584dbca6adb29f"


def tar_bytes(items: list[Member]) -> bytes:
    out = io.BytesIO()
    write_tar(items, out)
    return out.getvalue()


def test_tar_is_golden_and_order_independent() -> None:
    data = tar_bytes(MEMBERS)
    assert hashlib.sha256(data).hexdigest() == GOLDEN_TAR
    assert tar_bytes(list(reversed(MEMBERS))) == data
    assert len(data) % 10240 == 0


def test_tar_reads_back_with_normalized_metadata() -> None:
    with tarfile.open(fileobj=io.BytesIO(tar_bytes(MEMBERS))) as tar:
        infos = tar.getmembers()
        assert [i.name for i in infos] == sorted(
            (m.path for m in MEMBERS), key=lambda p: p.encode()
        )
        for info in infos:
            assert (info.uid, info.gid, info.uname, info.gname, info.mtime) == (0, 0, "", "", 0)
        by_name = {i.name: i for i in infos}
        assert by_name["run.sh"].mode == 0o755
        assert by_name["pkg/mod.py"].mode == 0o644
        assert by_name["alias.py"].issym() and by_name["alias.py"].linkname == "pkg/mod.py"
        long = next(n for n in by_name if n.startswith("deep/"))
        assert tar.extractfile(long).read() == b"long name\n"  # type: ignore[union-attr]
        assert tar.extractfile("données/été.txt").read() == b"utf8\n"  # type: ignore[union-attr]


def test_compressed_bundles_are_byte_identical_across_runs(tree: Path) -> None:
    write(tree, {"a.py": "x = 1\n" * 1000, "b/c.json": "{}"})
    for compression in ("zstd", "gzip"):
        outputs = []
        for _ in range(2):
            plan = plan_package(tree, "all", None, cache_dir=None)
            out = io.BytesIO()
            write_bundle(members(plan), out, compression)
            outputs.append(out.getvalue())
        assert outputs[0] == outputs[1]
    raw = outputs[0]
    assert raw[:2] == b"\x1f\x8b" and raw[4:8] == b"\x00\x00\x00\x00"  # gzip mtime 0
    with gzip.GzipFile(fileobj=io.BytesIO(raw)) as gz:
        assert gz.name == "" or not gz.name


def test_zstd_roundtrip() -> None:
    out = io.BytesIO()
    write_bundle(MEMBERS, out, "zstd")
    data = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(out.getvalue())).read()
    assert data == tar_bytes(MEMBERS)
