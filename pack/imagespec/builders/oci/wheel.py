"""Install a wheel as layer entries, the way an installer would into the image's venv.

Pure but for reading the wheel file: nothing is unpacked on this disk. What an installer
does, done here on the stream (the binary distribution format spec, PEP 427/491):
- `.data/purelib|platlib` and the rest of the archive go to site-packages, `.data/scripts`
  to `bin/` (a `#!python` shebang becomes the image's interpreter), `.data/headers` to
  `include/site/pythonX.Y/<dist>/`, `.data/data` to the venv root;
- console and GUI entry points become launcher scripts with the image's interpreter,
  never the interpreter of the host that builds (the trap uv falls into: it writes its
  own Python into shebangs);
- RECORD is rewritten for the installed paths with the hashes of what is really there,
  INSTALLER says `pack`; no direct_url.json (it would name a temp path on this host),
  no installer cache or lock file;
- every member's hash is checked against the wheel's RECORD as it is read.
"""

from __future__ import annotations

import base64
import configparser
import csv
import hashlib
import io
import posixpath
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from pack.errors import BuildError
from pack.imagespec.builders.oci import tar
from pack.imagespec.builders.oci.venv import VenvLayout

INSTALLER = b"pack\n"
_SAFE_NAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?")
_SIGNATURES = ("RECORD.jws", "RECORD.p7s")
_ENTRY_POINT = re.compile(r"^(?P<module>[\w.]+)\s*(?::\s*(?P<attr>[\w.]+))?\s*(?:\[.*\])?\s*$")
_SCRIPT = """\
#!{python}
# -*- coding: utf-8 -*-
import sys
from {module} import {name}
if __name__ == "__main__":
    if sys.argv[0].endswith("-script.pyw"):
        sys.argv[0] = sys.argv[0][:-11]
    elif sys.argv[0].endswith(".exe"):
        sys.argv[0] = sys.argv[0][:-4]
    sys.exit({call}())
"""


@dataclass(frozen=True)
class Installed:
    """A wheel turned into layer entries, plus the Python sources to compile."""

    name: str
    version: str
    entries: tuple[tar.Entry, ...]
    sources: tuple[tuple[str, bytes], ...] = field(repr=False)  # (image path, source)


def record_hash(data: bytes) -> str:
    digest = hashlib.sha256(data).digest()
    return "sha256=" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def script(python: str, spec: str, *, origin: str) -> bytes:
    """A console-script launcher for `module:attr` (uv's and pip's template)."""
    m = _ENTRY_POINT.match(spec.strip())
    if m is None or not m.group("attr"):
        raise BuildError(f"{origin}: entry point {spec!r} is not 'module:function'")
    attr = m.group("attr")
    return _SCRIPT.format(
        python=python, module=m.group("module"), name=attr.split(".")[0], call=attr
    ).encode()


def _entry_points(text: str, origin: str) -> list[tuple[str, str]]:
    parser = configparser.ConfigParser(delimiters=("=",), interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    try:
        parser.read_string(text)
    except configparser.Error as exc:
        raise BuildError(f"{origin}: entry_points.txt cannot be read: {exc}") from None
    out: list[tuple[str, str]] = []
    for section in ("console_scripts", "gui_scripts"):
        if parser.has_section(section):
            out.extend(parser.items(section))
    return out


def _read_record(data: bytes) -> dict[str, tuple[str, str]]:
    rows = csv.reader(io.StringIO(data.decode("utf-8")))
    return {row[0]: (row[1], row[2]) for row in rows if row and len(row) >= 3}


def _inside(path: str, origin: str) -> str:
    norm = posixpath.normpath(path)
    if path.startswith("/") or norm.startswith("../") or norm == ".." or "\\" in path:
        raise BuildError(f"{origin}: member {path!r} would be installed outside the venv")
    return norm


def _dist_info(names: list[str], filename: str) -> str:
    name, version = filename.split("-")[:2]
    wanted = f"{name}-{version}.dist-info".lower().replace("-", "_")
    found = {n.split("/", 1)[0] for n in names if ".dist-info/" in n.split("/", 1)[0] + "/"}
    for candidate in sorted(found):
        if candidate.lower().replace("-", "_") == wanted:
            return candidate
    if len(found) == 1:
        return found.pop()
    raise BuildError(f"{filename}: no single .dist-info folder in the wheel")


def install(wheel_path: Path, layout: VenvLayout, *, filename: str | None = None) -> Installed:
    """The entries that installing `wheel_path` into `layout`'s venv creates."""
    origin = filename or wheel_path.name
    try:
        archive = zipfile.ZipFile(wheel_path)
    except (OSError, zipfile.BadZipFile) as exc:
        raise BuildError(f"{origin}: not a readable wheel ({exc})") from None
    with archive:
        return _install(archive, wheel_path, layout, origin)


def _install(
    archive: zipfile.ZipFile, wheel_path: Path, layout: VenvLayout, origin: str
) -> Installed:
    infos = [i for i in archive.infolist() if not i.is_dir()]
    names = [i.filename for i in infos]
    dist_info = _dist_info(names, origin)
    data_dir = dist_info[: -len(".dist-info")] + ".data"
    meta = _read_metadata(archive, dist_info, origin)
    distribution, version = meta
    try:
        record = _read_record(archive.read(f"{dist_info}/RECORD"))
    except KeyError:
        raise BuildError(f"{origin}: the wheel has no {dist_info}/RECORD") from None
    site = layout.site_packages
    entries: dict[str, tar.Entry] = {}
    sources: list[tuple[str, bytes]] = []
    installed: list[tuple[str, str, int]] = []  # (image path, hash, size) for RECORD

    def add(entry: tar.Entry, digest: str) -> None:
        if entry.path in entries:
            raise BuildError(f"{origin}: two members install to /{entry.path}")
        entries[entry.path] = entry
        installed.append((entry.path, digest, entry.size))

    for info in infos:
        name = info.filename
        if name == f"{dist_info}/RECORD" or name in {f"{dist_info}/{s}" for s in _SIGNATURES}:
            continue
        rel = _inside(name, origin)
        executable = bool((info.external_attr >> 16) & 0o111)
        expected = record.get(name)
        if expected is None or not expected[0]:
            raise BuildError(f"{origin}: member {name} is not in its RECORD with a hash")
        target, script_dir = _target(rel, data_dir, layout, distribution, origin)
        if script_dir:
            data = _checked(archive.read(info), expected[0], name, origin)
            if data.startswith(b"#!python"):
                # `#!python` / `#!pythonw` (and any arguments) mean "the installing venv's".
                data = b"#!" + layout.python.encode() + b"\n" + data.partition(b"\n")[2]
            add(tar.file(target, data, executable=True), record_hash(data))
        elif target.endswith(".py") or info.file_size < 64 * 1024:
            data = _checked(archive.read(info), expected[0], name, origin)
            add(tar.file(target, data, executable=executable), expected[0])
            if target.endswith(".py") and target.startswith(site + "/"):
                sources.append((target, data))
        else:
            add(
                tar.streamed(
                    target,
                    info.file_size,
                    _member_stream(wheel_path, name, expected[0], origin),
                    executable=executable,
                ),
                expected[0],
            )
    scripts_text = _optional(archive, f"{dist_info}/entry_points.txt")
    for script_name, spec in _entry_points(scripts_text, origin) if scripts_text else []:
        if "/" in script_name or script_name.strip() in ("", ".", ".."):
            raise BuildError(f"{origin}: console script name {script_name!r} is not a file name")
        data = script(layout.python, spec, origin=origin)
        add(tar.file(f"{layout.bin}/{script_name}", data, executable=True), record_hash(data))
    add(tar.file(f"{site}/{dist_info}/INSTALLER", INSTALLER), record_hash(INSTALLER))
    record_path = f"{site}/{dist_info}/RECORD"
    lines = io.StringIO()
    writer = csv.writer(lines, lineterminator="\n")
    for path, digest, size in sorted(installed):
        writer.writerow([posixpath.relpath(path, site), digest, size])
    writer.writerow([posixpath.relpath(record_path, site), "", ""])
    entries[record_path] = tar.file(record_path, lines.getvalue().encode())
    return Installed(distribution, version, tuple(entries.values()), tuple(sources))


def _target(
    rel: str, data_dir: str, layout: VenvLayout, distribution: str, origin: str
) -> tuple[str, bool]:
    """(image path, is a script) for an archive member."""
    site = layout.site_packages
    head, _, rest = rel.partition("/")
    if head != data_dir:
        return f"{site}/{rel}", False
    scheme, _, path = rest.partition("/")
    if not path:
        raise BuildError(f"{origin}: {rel} is not inside a .data scheme folder")
    if scheme in ("purelib", "platlib"):
        return f"{site}/{path}", False
    if scheme == "scripts":
        return f"{layout.bin}/{path}", True
    if scheme == "headers":
        return f"{layout.headers(distribution)}/{path}", False
    if scheme == "data":
        return f"{layout.root}/{path}", False
    raise BuildError(f"{origin}: unknown .data scheme {scheme!r} in {rel}")


def _checked(data: bytes, expected: str, name: str, origin: str) -> bytes:
    if record_hash(data) != expected:
        raise BuildError(f"{origin}: {name} does not match the hash in its RECORD")
    return data


def _member_stream(wheel_path: Path, name: str, expected: str, origin: str) -> tar.Chunks:
    def chunks() -> Iterator[bytes]:
        h = hashlib.sha256()
        with zipfile.ZipFile(wheel_path) as archive, archive.open(name) as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
                yield chunk
        got = "sha256=" + base64.urlsafe_b64encode(h.digest()).rstrip(b"=").decode("ascii")
        if got != expected:
            raise BuildError(f"{origin}: {name} does not match the hash in its RECORD")

    return chunks


def _optional(archive: zipfile.ZipFile, name: str) -> str | None:
    try:
        return archive.read(name).decode("utf-8")
    except KeyError:
        return None


def _read_metadata(archive: zipfile.ZipFile, dist_info: str, origin: str) -> tuple[str, str]:
    from email.parser import HeaderParser

    text = _optional(archive, f"{dist_info}/METADATA")
    if text is None:
        raise BuildError(f"{origin}: the wheel has no {dist_info}/METADATA")
    headers = HeaderParser().parsestr(text)
    name, version = headers.get("Name"), headers.get("Version")
    if not name or not version:
        raise BuildError(f"{origin}: METADATA has no Name or Version")
    if not _SAFE_NAME.fullmatch(str(name)):
        raise BuildError(f"{origin}: METADATA Name {str(name)!r} is not a distribution name")
    return str(name), str(version)
