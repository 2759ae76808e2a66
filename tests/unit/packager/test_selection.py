"""Copy modes keep first-party code: what `select` ships, keeps, and reports (issue 11.1, 11.12)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pack.errors import PackageError
from pack.filetree.entry import Excluded
from pack.packager.imports import imported_modules
from pack.packager.publish import plan_package, publish_to
from pack.packager.selection import not_shipped_hint, select

from .conftest import write

BUILD_PKG = {
    "wf.py": "import numpy\nfrom build import steps\n",
    "build/__init__.py": "",
    "build/steps.py": "from . import util\n",
    "build/util.py": "",
    "build/lib/wf.py": "a setuptools leftover, not imported",
    "dist/pkg-1.0.whl": "",
}


@pytest.mark.parametrize("copy", ["all", "auto"])
def test_a_default_ignored_folder_the_entry_imports_from_is_kept(tree: Path, copy: str) -> None:
    write(tree, BUILD_PKG)
    sel = select(tree, copy, tree / "wf.py")
    shipped = [f.path for f in sel.files]
    assert "build/steps.py" in shipped and "build/util.py" in shipped
    assert [x.path for x in sel.kept] == ["build"]
    assert "dist/pkg-1.0.whl" not in shipped
    assert ("dist", "default ignore /dist/") in {(x.path, x.reason) for x in sel.excluded}
    assert sel.error() is None
    if copy == "all":
        assert "build/lib/wf.py" in shipped  # the whole folder is code now, as listed


def test_without_an_entry_the_root_build_folder_stays_out(tree: Path) -> None:
    write(tree, BUILD_PKG)
    sel = select(tree, "all", None)
    assert [f.path for f in sel.files] == ["wf.py"]
    assert sel.kept == ()


def test_auto_fails_naming_a_module_an_ignore_file_leaves_out(tree: Path) -> None:
    write(
        tree,
        {
            ".gitignore": "build/\n",
            "wf.py": "import os\nfrom app.build import steps\n",
            "app/__init__.py": "",
            "app/build/__init__.py": "",
            "app/build/steps.py": "",
        },
    )
    with pytest.raises(PackageError) as info:
        plan_package(tree, "auto", tree / "wf.py", cache_dir=None)
    message = info.value.message
    assert "\n" not in message
    assert message == (
        "--copy auto cannot ship a module the entry imports: wf.py:2 imports app.build, "
        "but app/build/__init__.py is left out by .gitignore: build/ "
        "(re-include with !app/build/ in .packignore)"
    )
    # `--copy all` ships what it can and says what the task will miss.
    warned: list[str] = []
    plan = plan_package(tree, "all", tree / "wf.py", cache_dir=None, on_warning=warned.append)
    assert plan.error() is None
    assert any("app/build/__init__.py is left out by .gitignore: build/" in w for w in warned)
    # Re-included as advised, it ships.
    write(tree, {".packignore": "!app/build/\n"})
    plan = plan_package(tree, "auto", tree / "wf.py", cache_dir=None)
    assert "app/build/steps.py" in [e.path for e in plan.entries]


def test_a_secret_looking_module_is_named_with_the_guard_advice(tree: Path) -> None:
    write(tree, {"wf.py": "import kubeconfig\n", "kubeconfig.py": "HOST = 'x'\n"})
    err = select(tree, "auto", tree / "wf.py").error()
    assert err is not None
    assert "wf.py:1 imports kubeconfig, but kubeconfig.py is left out by secret guard" in str(err)
    assert "!kubeconfig.py in .packignore" in str(err)


def test_guarded_imports_are_noted_not_fatal(tree: Path) -> None:
    write(
        tree,
        {
            ".gitignore": "local_settings.py\ntyped.py\n",
            "wf.py": (
                "from typing import TYPE_CHECKING\n"
                "try:\n    import local_settings\nexcept ImportError:\n    local_settings = None\n"
                "if TYPE_CHECKING:\n    import typed\n"
            ),
            "local_settings.py": "",
            "typed.py": "",
        },
    )
    plan = plan_package(tree, "auto", tree / "wf.py", cache_dir=None)
    assert [e.path for e in plan.entries] == ["wf.py"]
    assert {(u.module, u.optional) for u in plan.unshipped} == {
        ("local_settings", True),
        ("typed", True),
    }


def test_from_package_import_submodule_left_out_is_caught(tree: Path) -> None:
    # `from app import gen`: app resolves, gen might be an attribute - unless gen.py exists.
    write(
        tree,
        {
            "app/.gitignore": "gen.py\n",
            "wf.py": "from app import gen, helper_function\n",
            "app/__init__.py": "def helper_function(): ...\n",
            "app/gen.py": "",
        },
    )
    err = select(tree, "auto", tree / "wf.py").error()
    assert (
        err is not None
        and "imports app.gen, but app/gen.py is left out by app/.gitignore" in str(err)
    )


def test_auto_lists_what_it_left_out_for_not_being_imported(tree: Path) -> None:
    write(tree, {"wf.py": "import helpers\n", "helpers.py": "", "data/train.csv": "1"})
    plan = plan_package(tree, "auto", tree / "wf.py", cache_dir=None)
    assert [e.path for e in plan.entries] == ["helpers.py", "wf.py"]
    assert {(x.path, x.why) for x in plan.excluded} == {("data/train.csv", "not-imported")}
    assert plan.excluded[0].reason == "not imported by wf.py (--copy auto)"


def test_publish_refuses_a_plan_auto_cannot_ship(tree: Path, tmp_path: Path) -> None:
    write(tree, {".gitignore": "gen.py\n", "wf.py": "import gen\n", "gen.py": ""})
    plan = plan_package(tree, "auto", tree / "wf.py", cache_dir=None, check=False)
    store = tmp_path / "store"
    with pytest.raises(PackageError, match="imports gen"):
        publish_to(plan, store.as_uri(), cache_dir=tmp_path / "cache")
    assert not store.exists() or not any(store.rglob("*.tar.*"))


def test_imports_mark_guarded_ones_optional() -> None:
    source = (
        "import a\n"
        "try:\n    import b\nexcept (ValueError, ModuleNotFoundError):\n    import c\n"
        "try:\n    import d\nexcept ValueError:\n    pass\n"
        "def f():\n    from .e import g\n"
    )
    found = {(i.module or "." * i.level, i.optional) for i in imported_modules(source, "m.py")}
    assert found == {("a", False), ("b", True), ("c", False), ("d", False), ("e", False)}


# ---------------------------------------------------------------- FileNotFoundError advice

LEFT_OUT = (
    Excluded("data/train.csv", "not imported by wf.py (--copy auto)", why="not-imported"),
    Excluded("raw", ".gitignore: raw/", True, "ignore-file"),
    Excluded("myenv", "virtualenv (pyvenv.cfg)", True, "virtualenv"),
)


@pytest.mark.parametrize(
    ("error_text", "expected"),
    [
        (
            "Traceback...\nFileNotFoundError: [Errno 2] No such file or directory: 'data/train.csv'",
            "data/train.csv is in the source tree but --copy auto left it out (no module "
            "imports it); run with --copy all to ship data files",
        ),
        (
            "FileNotFoundError: [Errno 2] No such file or directory: "
            "'/tmp/pack-task-x1/code/data/train.csv'",
            "data/train.csv is in the source tree but --copy auto left it out (no module "
            "imports it); run with --copy all to ship data files",
        ),
        (
            "FileNotFoundError: [Errno 2] No such file or directory: './raw/2024/x.parquet'",
            "raw/ is in the source tree but was not shipped: .gitignore: raw/ "
            "(re-include with !raw/ in .packignore)",
        ),
        ("FileNotFoundError: [Errno 2] No such file or directory: 'other.csv'", None),
        ("KeyError: 'data/train.csv'", None),
        ("FileNotFoundError: [Errno 2] No such file or directory: 'myenv/bin/python'", None),
    ],
)
def test_not_shipped_hint(error_text: str, expected: str | None) -> None:
    assert not_shipped_hint(error_text, LEFT_OUT) == expected


def test_parsed_imports_are_cached_by_stat(
    tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    from pack.packager import importcache

    write(tree, {"wf.py": "import helpers\n", "helpers.py": "import os\n", "data.csv": "1"})
    for f in tree.iterdir():
        os.utime(f, (1_600_000_000, 1_600_000_000))  # outside the racy window
    cache = tmp_path / "imports.json"
    first = select(tree, "auto", tree / "wf.py", import_cache=cache)
    assert cache.is_file()

    def parse_nothing(source: str, filename: str) -> list[object]:
        raise AssertionError(f"{filename} parsed again although unchanged")

    monkeypatch.setattr(importcache, "imported_modules", parse_nothing)
    assert select(tree, "auto", tree / "wf.py", import_cache=cache).files == first.files
    monkeypatch.undo()
    (tree / "helpers.py").write_text("import extra\n")
    write(tree, {"extra.py": ""})
    again = select(tree, "auto", tree / "wf.py", import_cache=cache)
    assert [f.path for f in again.files] == ["extra.py", "helpers.py", "wf.py"]
    cache.write_text("{not json")  # a corrupt cache is rebuilt, never trusted
    assert [f.path for f in select(tree, "auto", tree / "wf.py", import_cache=cache).files] == [
        "extra.py",
        "helpers.py",
        "wf.py",
    ]


@pytest.mark.parametrize("copy", ["all", "auto"])
def test_an_entry_the_rules_leave_out_is_refused(tree: Path, copy: str) -> None:
    write(tree, {".gitignore": "wf.py\n", "wf.py": "", "other.py": ""})
    with pytest.raises(PackageError) as info:
        select(tree, copy, tree / "wf.py")
    assert info.value.message == (
        "entry file wf.py is left out by .gitignore: wf.py (re-include with !wf.py in "
        ".packignore); the bundle could not run it"
    )


def test_a_default_folder_inside_a_kept_one_is_kept_too(tree: Path) -> None:
    write(
        tree,
        {
            "wf.py": "import build.node_modules.x\n",
            "build/__init__.py": "",
            "build/node_modules/__init__.py": "",
            "build/node_modules/x.py": "",
        },
    )
    sel = select(tree, "auto", tree / "wf.py")
    assert [x.path for x in sel.kept] == ["build", "build/node_modules"]
    assert "build/node_modules/x.py" in [f.path for f in sel.files]
