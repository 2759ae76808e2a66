"""Small real wheels for the tests: a zip with dist-info, METADATA, WHEEL and a RECORD."""

from __future__ import annotations

import zipfile
from collections.abc import Mapping
from pathlib import Path

from pack.imagespec.builders.oci.wheel import record_hash


def make_wheel(
    folder: Path,
    name: str,
    version: str,
    files: Mapping[str, bytes],
    *,
    entry_points: str | None = None,
    tag: str = "py3-none-any",
    executable: tuple[str, ...] = (),
    requires: tuple[str, ...] = (),
    bad_hash: str | None = None,
) -> Path:
    dist = f"{name.replace('-', '_')}-{version}"
    meta = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    meta += "".join(f"Requires-Dist: {r}\n" for r in requires)
    members = dict(files)
    members[f"{dist}.dist-info/METADATA"] = meta.encode()
    members[f"{dist}.dist-info/WHEEL"] = (
        f"Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: {tag}\n".encode()
    )
    if entry_points is not None:
        members[f"{dist}.dist-info/entry_points.txt"] = entry_points.encode()
    record = "".join(
        f"{path},{record_hash(b'other' if path == bad_hash else data)},{len(data)}\n"
        for path, data in members.items()
    )
    record += f"{dist}.dist-info/RECORD,,\n"
    members[f"{dist}.dist-info/RECORD"] = record.encode()
    path = folder / f"{dist}-{tag}.whl"
    with zipfile.ZipFile(path, "w") as z:
        for member, data in members.items():
            info = zipfile.ZipInfo(member, (2020, 1, 1, 0, 0, 0))
            info.external_attr = (0o755 if member in executable else 0o644) << 16
            z.writestr(info, data)
    return path
