"""Installing wheels as layer entries: layout, shebangs, RECORD, bytecode, refusals."""

from __future__ import annotations

import csv
import importlib.util
import io
import sys
from pathlib import Path

import pytest

from pack.errors import BuildError
from pack.imagespec.builders.oci import tar
from pack.imagespec.builders.oci.bytecode import Compiler, pyc_path
from pack.imagespec.builders.oci.layers import wheel_entries
from pack.imagespec.builders.oci.venv import VenvLayout, skeleton, venv_env
from pack.imagespec.builders.oci.wheel import install, record_hash
from tests.unit.oci.wheels import make_wheel

LAYOUT = VenvLayout("3.11", "/usr/bin/python3")
SITE = "opt/pack/venv/lib/python3.11/site-packages"


def by_path(entries: tuple[tar.Entry, ...] | list[tar.Entry]) -> dict[str, tar.Entry]:
    return {e.path: e for e in entries}


def content(entry: tar.Entry) -> bytes:
    return b"".join(entry.chunks())


def test_layout_scripts_data_and_a_consistent_record(tmp_path: Path) -> None:
    big = b"\x7fELF" + b"x" * 100_000  # streamed from the zip, not held in memory
    wheel = make_wheel(
        tmp_path,
        "demo-pkg",
        "1.0",
        {
            "demo/__init__.py": b"X = 1\n",
            "demo/_native.so": big,
            "demo_pkg-1.0.data/scripts/tool": b"#!python -u\nprint('hi')\n",
            "demo_pkg-1.0.data/scripts/plain.sh": b"#!/bin/sh\necho hi\n",
            "demo_pkg-1.0.data/data/share/demo/readme.txt": b"data",
            "demo_pkg-1.0.data/headers/demo.h": b"int x;",
        },
        entry_points="[console_scripts]\ndemo = demo.cli:main.run\n[gui_scripts]\ndemo-gui = demo:gui\n",
        executable=("demo/_native.so",),
    )
    done = install(wheel, LAYOUT)
    entries = by_path(done.entries)
    assert (done.name, done.version) == ("demo-pkg", "1.0")
    assert content(entries[f"{SITE}/demo/__init__.py"]) == b"X = 1\n"
    so = entries[f"{SITE}/demo/_native.so"]
    assert so.stream is not None and so.mode == 0o755 and content(so) == big
    # `#!python` means the image's venv interpreter, never the host's.
    assert (
        content(entries["opt/pack/venv/bin/tool"]) == b"#!/opt/pack/venv/bin/python\nprint('hi')\n"
    )
    assert content(entries["opt/pack/venv/bin/plain.sh"]).startswith(b"#!/bin/sh")
    assert entries["opt/pack/venv/bin/tool"].mode == 0o755
    script = content(entries["opt/pack/venv/bin/demo"]).decode()
    assert script.startswith("#!/opt/pack/venv/bin/python\n")
    assert "from demo.cli import main\n" in script and "sys.exit(main.run())" in script
    assert "from demo import gui" in content(entries["opt/pack/venv/bin/demo-gui"]).decode()
    assert content(entries["opt/pack/venv/share/demo/readme.txt"]) == b"data"
    assert content(entries["opt/pack/venv/include/site/python3.11/demo-pkg/demo.h"]) == b"int x;"
    assert content(entries[f"{SITE}/demo_pkg-1.0.dist-info/INSTALLER"]) == b"pack\n"
    assert not any("direct_url" in p or p.endswith(".lock") for p in entries)
    # RECORD lists every installed file with the hash and size of what is really there.
    record = content(entries[f"{SITE}/demo_pkg-1.0.dist-info/RECORD"]).decode()
    rows = {r[0]: r[1:] for r in csv.reader(io.StringIO(record))}
    assert rows["demo_pkg-1.0.dist-info/RECORD"] == ["", ""]
    listed = {p for p in entries if p.startswith("opt/pack/venv/") and not p.endswith("/RECORD")}
    import posixpath

    assert {posixpath.normpath(f"{SITE}/{r}") for r in rows if not r.endswith("RECORD")} == listed
    for rel, (digest, size) in rows.items():
        if rel.endswith("RECORD"):
            continue
        data = content(entries[posixpath.normpath(f"{SITE}/{rel}")])
        assert (digest, int(size)) == (record_hash(data), len(data)), rel
    assert "../../../bin/tool" in rows
    assert done.sources == ((f"{SITE}/demo/__init__.py", b"X = 1\n"),)


def test_a_member_that_does_not_match_its_record_is_refused(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path, "bad", "1", {"bad.py": b"x"}, bad_hash="bad.py")
    with pytest.raises(BuildError, match="bad.py does not match the hash in its RECORD"):
        install(wheel, LAYOUT)
    big = make_wheel(tmp_path, "big", "1", {"big.bin": b"y" * 100_000}, bad_hash="big.bin")
    entry = by_path(install(big, LAYOUT).entries)[f"{SITE}/big.bin"]
    with pytest.raises(BuildError, match="does not match"):
        content(entry)


def test_a_member_outside_the_venv_is_refused(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path, "evil", "1", {"../../../etc/x": b"x"})
    with pytest.raises(BuildError, match="outside the venv"):
        install(wheel, LAYOUT)
    with pytest.raises(BuildError, match="not a readable wheel"):
        (tmp_path / "junk-1-py3-none-any.whl").write_bytes(b"nope")
        install(tmp_path / "junk-1-py3-none-any.whl", LAYOUT)


def test_skeleton_is_the_venv_python3_m_venv_makes() -> None:
    entries = by_path(skeleton(LAYOUT))
    cfg = content(entries["opt/pack/venv/pyvenv.cfg"]).decode()
    assert "home = /usr/bin\n" in cfg and "include-system-site-packages = false" in cfg
    assert entries["opt/pack/venv/bin/python3"].linkname == "/usr/bin/python3"
    assert entries["opt/pack/venv/bin/python"].linkname == "python3"
    assert entries["opt/pack/venv/bin/python3.11"].linkname == "python3"
    assert entries["opt/pack/venv/lib64"].linkname == "lib"
    assert SITE in entries and "opt/pack/venv/include/python3.11" in entries
    official = by_path(skeleton(VenvLayout("3.12", "/usr/local/bin/python3")))
    assert "home = /usr/local/bin\n" in content(official["opt/pack/venv/pyvenv.cfg"]).decode()


def test_venv_env_puts_the_venv_first_and_keeps_the_rest() -> None:
    env = venv_env(["PATH=/usr/local/bin:/usr/bin", "LANG=C.UTF-8"])
    assert env[0] == "PATH=/opt/pack/venv/bin:/usr/local/bin:/usr/bin"
    assert "LANG=C.UTF-8" in env and "VIRTUAL_ENV=/opt/pack/venv" in env
    assert venv_env([])[0].startswith("PATH=/opt/pack/venv/bin:/usr/local/sbin:")


this_python = f"{sys.version_info.major}.{sys.version_info.minor}"


def test_bytecode_is_valid_for_the_layer_mtime_and_reproducible(tmp_path: Path) -> None:
    layout = VenvLayout(this_python, "/usr/bin/python3")
    site = layout.site_packages
    wheel = make_wheel(
        tmp_path,
        "demo",
        "1",
        {"demo/__init__.py": b"VALUE = 42\n", "demo/broken.py": b"def (:\n"},
    )
    compiler = Compiler(this_python, "")
    assert compiler.available
    first = by_path(wheel_entries([wheel], layout, compiler, 86400))
    again = by_path(wheel_entries([wheel], layout, compiler, 86400))
    pyc = pyc_path(f"{site}/demo/__init__.py", layout.cache_tag)
    assert pyc == f"{site}/demo/__pycache__/__init__.{layout.cache_tag}.pyc"
    data = content(first[pyc])
    assert data == content(again[pyc])
    assert data[:4] == importlib.util.MAGIC_NUMBER
    assert int.from_bytes(data[8:12], "little") == 86400  # the mtime every layer entry has
    assert int.from_bytes(data[12:16], "little") == len(b"VALUE = 42\n")
    namespace: dict[str, object] = {}
    import marshal

    exec(marshal.loads(data[16:]), namespace)  # noqa: S102 - our own test source
    assert namespace["VALUE"] == 42
    # A file that does not compile ships without bytecode, as compileall would leave it.
    assert not any(p.endswith(f"broken.{layout.cache_tag}.pyc") for p in first)
    assert f"{site}/demo/__pycache__" in first


def test_no_compiler_for_the_version_means_no_bytecode(tmp_path: Path) -> None:
    missing = Compiler("3.1", str(tmp_path))
    assert not missing.available
    assert missing.compile([("a.py", b"x = 1")], 0) == {}


def test_names_that_would_leave_their_folder_are_refused(tmp_path: Path) -> None:
    bad_script = make_wheel(
        tmp_path, "s", "1", {"s.py": b""}, entry_points="[console_scripts]\n.. = s:main\n"
    )
    with pytest.raises(BuildError, match="console script name '..' is not a file name"):
        install(bad_script, LAYOUT)
    evil = tmp_path / "evil"
    evil.mkdir()
    wheel = make_wheel(evil, "ok", "1", {"ok.py": b""})
    import zipfile

    patched = tmp_path / "ok-1-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as src, zipfile.ZipFile(patched, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename.endswith("METADATA"):
                data = data.replace(b"Name: ok", b"Name: ../../etc")
            dst.writestr(info, data)
    with pytest.raises(BuildError, match="METADATA Name '../../etc' is not a distribution name"):
        install(patched, LAYOUT)
