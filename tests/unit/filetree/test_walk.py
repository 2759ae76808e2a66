from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from pack.errors import ListingError
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
    with pytest.raises(ListingError, match="escape.txt"):
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


def test_build_dist_venv_are_ignored_at_the_root_only(tree: Path) -> None:
    # Issue 11.1: app/build/steps.py is code the task imports, not a build output.
    write(
        tree,
        {
            "wf.py": "from app.build import steps\n",
            "app/__init__.py": "",
            "app/build/__init__.py": "",
            "app/build/steps.py": "",
            "app/dist/names.py": "",
            "app/venv/settings.py": "",
            "build/lib/wf.py": "",
            "dist/pkg-1.0.whl": "",
            "venv/lib/site.py": "",
        },
    )
    assert paths(tree) == [
        "app/__init__.py",
        "app/build/__init__.py",
        "app/build/steps.py",
        "app/dist/names.py",
        "app/venv/settings.py",
        "wf.py",
    ]
    why = reasons(tree)
    assert why["build"] == "default ignore /build/"
    assert why["dist"] == "default ignore /dist/"
    assert why["venv"] == "default ignore /venv/"
    assert {x.path: x.why for x in list_files(tree).excluded}["build"] == "default"


def test_exempt_paths_escape_the_defaults_but_not_user_rules(tree: Path) -> None:
    write(tree, {"build/steps.py": "", "build/junk.log": "", ".gitignore": "*.log\n"})
    listing = list_files(tree, exempt=frozenset({"build"}))
    assert [f.path for f in listing.files] == [".gitignore", "build/steps.py"]
    assert {x.path: x.reason for x in listing.excluded} == {"build/junk.log": ".gitignore: *.log"}


def test_dockerignore_is_read_at_the_root_and_anchored_there(tree: Path) -> None:
    write(
        tree,
        {
            ".dockerignore": "# comment\n*.md\n**/*.log\n!keep.log\n/secrets\nsub/.dockerignore\n",
            "README.md": "x",
            "docs/guide.md": "kept: *.md is anchored at the root, as Docker reads it",
            "a.log": "x",
            "keep.log": "re-included",
            "deep/b.log": "x",
            "secrets/token.txt": "x",
            "sub/.dockerignore": "*.py\n",
            "sub/code.py": "kept: only the root .dockerignore counts",
        },
    )
    assert paths(tree) == [".dockerignore", "docs/guide.md", "keep.log", "sub/code.py"]
    why = reasons(tree)
    assert why["README.md"] == ".dockerignore: /*.md"
    assert why["deep/b.log"] == ".dockerignore: /**/*.log"
    assert why["secrets"] == ".dockerignore: /secrets"


def test_packignore_outranks_dockerignore_and_gitignore(tree: Path) -> None:
    write(
        tree,
        {
            ".gitignore": "gen.py\n",
            ".dockerignore": "data\n",
            ".packignore": "!gen.py\n",
            "gen.py": "",
            "data/x.csv": "",
        },
    )
    assert paths(tree) == [".dockerignore", ".gitignore", ".packignore", "gen.py"]


def test_only_walks_the_named_paths_with_the_rules_on_the_way(tree: Path) -> None:
    write(
        tree,
        {
            ".gitignore": "*.tmp\n",
            "assets/.gitignore": "raw/\n",
            "assets/logo.png": "x",
            "assets/scratch.tmp": "x",
            "assets/raw/big.bin": "x",
            "assets/.env": "TOKEN=1",
            "assets/.git/config": "[remote]",
            "assets/build/out.txt": "kept: not at the root",
            "dist/app.whl": "named: exempt from the default /dist/",
            "run.sh": "x",
            "other/file.txt": "not named: not listed",
        },
    )
    listing = list_files(tree, only=("assets", "dist", "run.sh"))
    assert [f.path for f in listing.files] == [
        "assets/.gitignore",
        "assets/build/out.txt",
        "assets/logo.png",
        "dist/app.whl",
        "run.sh",
    ]
    why = {x.path: x.reason for x in listing.excluded}
    assert why["assets/scratch.tmp"] == ".gitignore: *.tmp"
    assert why["assets/raw"] == "assets/.gitignore: raw/"
    assert why["assets/.git"] == "default ignore .git/"
    assert why["assets/.env"].startswith("secret guard: .env*")
    assert listing.warnings == ["left out assets/.env: looks like a secret"]
    with pytest.raises(ListingError, match="assets/missing not found under"):
        list_files(tree, only=("assets/missing",))


def test_links_as_files_lists_what_links_point_to(tree: Path, tmp_path: Path) -> None:
    write(tree, {"data/v3/w.bin": "w", "data/readme.txt": "r"})
    os.symlink("v3", tree / "data" / "latest")
    os.symlink("../readme.txt", tree / "data" / "v3" / "README")
    os.symlink("..", tree / "data" / "v3" / "up")  # a loop back to a folder above
    listing = list_files(tree, only=("data",), links_as_files=True)
    assert [(f.path, f.kind) for f in listing.files] == [
        ("data/latest/README", "file"),
        ("data/latest/w.bin", "file"),
        ("data/readme.txt", "file"),
        ("data/v3/README", "file"),
        ("data/v3/w.bin", "file"),
    ]
    assert {x.path: x.why for x in listing.excluded} == {
        "data/latest/up": "loop",
        "data/v3/up": "loop",
    }
    outside = tmp_path / "elsewhere.txt"
    outside.write_text("x")
    os.symlink(outside, tree / "data" / "out.txt")
    with pytest.raises(ListingError, match=r"data/out.txt -> .* opt in with follow_links=True"):
        list_files(tree, only=("data",), links_as_files=True, follow_option="follow_links=True")
