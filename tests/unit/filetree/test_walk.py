from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from pack.errors import PackageError
from pack.filetree.walk import list_files

from .conftest import write


def paths(root: Path, **kw: bool) -> list[str]:
    return [f.path for f in list_files(root, **kw).files]


def reasons(root: Path) -> dict[str, str]:
    return {x.path: x.reason for x in list_files(root).excluded}


def test_nested_gitignore_with_negation_is_relative_to_its_folder(tree: Path) -> None:
    write(
        tree,
        {
            ".gitignore": "*.log\n/top_only.txt\n",
            "top_only.txt": "x",
            "a/top_only.txt": "kept: anchored pattern applies to the root only",
            "a/.gitignore": "!keep.log\ndata/\n",
            "a/keep.log": "kept by negation",
            "a/drop.log": "x",
            "a/data/big.bin": "x",
            "b/drop.log": "x",
            "b/data/ok.txt": "data/ is only ignored under a/",
        },
    )
    assert paths(tree) == [
        ".gitignore",
        "a/.gitignore",
        "a/keep.log",
        "a/top_only.txt",
        "b/data/ok.txt",
    ]
    why = reasons(tree)
    assert why["a/drop.log"] == ".gitignore: *.log"
    assert why["a/data"] == "a/.gitignore: data/"
    assert why["top_only.txt"] == ".gitignore: /top_only.txt"


def test_packignore_overrides_gitignore_and_defaults(tree: Path) -> None:
    write(
        tree,
        {
            ".gitignore": "generated.py\n",
            ".packignore": "!generated.py\n!build/\ndocs/\n",
            "generated.py": "x",
            "build/keep.txt": "re-included default",
            "dist/x.whl": "x",
            "docs/index.md": "x",
        },
    )
    assert paths(tree) == [".gitignore", ".packignore", "build/keep.txt", "generated.py"]
    assert reasons(tree)["docs"] == ".packignore: docs/"


def test_defaults_and_virtualenv_detected_by_pyvenv_cfg(tree: Path) -> None:
    write(
        tree,
        {
            "main.py": "x",
            "pkg/__pycache__/m.cpython-311.pyc": "x",
            "pkg/stale.pyc": "x",
            ".venv/lib/x.py": "x",
            "myenv/pyvenv.cfg": "home = /usr",
            "myenv/lib/site.py": "x",
            "node_modules/a/index.js": "x",
            "proj.egg-info/PKG-INFO": "x",
            ".mypy_cache/x": "x",
            ".git/HEAD": "x",
        },
    )
    assert paths(tree) == ["main.py"]
    why = reasons(tree)
    assert why["myenv"] == "virtualenv (pyvenv.cfg)"
    assert why["pkg/stale.pyc"] == "default ignore *.pyc"
    assert why["proj.egg-info"] == "default ignore *.egg-info/"


def test_secret_guard_warns_and_packignore_reincludes(tree: Path) -> None:
    write(
        tree,
        {
            "app.py": "x",
            ".env": "TOKEN=1",
            ".env.prod": "TOKEN=2",
            "certs/server.pem": "x",
            "keys/id_rsa": "x",
            ".aws/credentials": "x",
            "conf/kubeconfig": "x",
            "tls.key": "x",
        },
    )
    listing = list_files(tree)
    assert [f.path for f in listing.files] == ["app.py"]
    warned = " ".join(listing.warnings)
    for name in (
        ".env",
        ".env.prod",
        "certs/server.pem",
        "keys/id_rsa",
        ".aws/",
        "conf/kubeconfig",
        "tls.key",
    ):
        assert name in warned
    write(tree, {".packignore": "!tls.key\n"})
    assert paths(tree) == [".packignore", "app.py", "tls.key"]


def test_symlinks_inside_are_links_and_escaping_ones_refused(tree: Path, tmp_path: Path) -> None:
    write(tree, {"pkg/real.py": "x", "outside_target.txt": "x"})
    os.symlink("pkg/real.py", tree / "alias.py")
    os.symlink(tree / "pkg", tree / "abs_dir_link")  # absolute, inside: stored relative
    listing = list_files(tree)
    links = {f.path: f.link_target for f in listing.files if f.kind == "symlink"}
    assert links == {"alias.py": "pkg/real.py", "abs_dir_link": "pkg"}
    outside = tmp_path / "secret_data.txt"
    outside.write_text("not yours")
    os.symlink(outside, tree / "escape.txt")
    with pytest.raises(PackageError, match="escape.txt"):
        list_files(tree)
    followed = {f.path: f for f in list_files(tree, follow_links=True).files}
    assert followed["escape.txt"].kind == "file"
    assert followed["escape.txt"].source == outside


def test_sockets_skipped(tree: Path) -> None:
    write(tree, {"a.py": "x"})
    sock = socket.socket(socket.AF_UNIX)
    try:
        sock.bind(str(tree / "s.sock"))
        listing = list_files(tree)
    finally:
        sock.close()
    assert [f.path for f in listing.files] == ["a.py"]
    assert "not a regular file" in {x.path: x.reason for x in listing.excluded}["s.sock"]


def test_exec_bit_recorded(tree: Path) -> None:
    write(tree, {"run.sh": "#!/bin/sh", "lib.py": ""})
    (tree / "run.sh").chmod(0o755)
    modes = {f.path: f.executable for f in list_files(tree).files}
    assert modes == {"lib.py": False, "run.sh": True}
