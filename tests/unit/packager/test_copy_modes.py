from __future__ import annotations

from pathlib import Path

import pytest

from pack.errors import PackageError, UsageError
from pack.packager.publish import find_source_root, package_and_publish, plan_package

from .conftest import write


def auto_files(root: Path, entry: str) -> list[str]:
    plan = plan_package(root, "auto", root / entry, cache_dir=None)
    return [e.path for e in plan.entries]


def test_auto_follows_imports_transitively(tree: Path) -> None:
    write(
        tree,
        {
            "pyproject.toml": "",
            "flows/wf.py": "import os\nimport numpy\nfrom app.tasks import train\nfrom flows import helpers\n",
            "flows/__init__.py": "",
            "flows/helpers.py": "def f():\n    from .deep import thing\n",
            "flows/deep.py": "",
            "app/__init__.py": "",
            "app/tasks/__init__.py": "from . import train\n",
            "app/tasks/train.py": "from ..util import io as myio\nfrom ...too_far import x\n",
            "app/util/__init__.py": "",
            "app/util/io.py": "",
            "app/unused.py": "",
            "data/big.csv": "1,2",
        },
    )
    assert auto_files(tree, "flows/wf.py") == [
        "app/__init__.py",
        "app/tasks/__init__.py",
        "app/tasks/train.py",
        "app/util/__init__.py",
        "app/util/io.py",
        "flows/__init__.py",
        "flows/deep.py",
        "flows/helpers.py",
        "flows/wf.py",
    ]


def test_auto_resolves_against_entry_folder_and_src(tree: Path) -> None:
    write(
        tree,
        {
            "scripts/wf.py": "import sibling\nimport mylib.core\n",
            "scripts/sibling.py": "",
            "src/mylib/__init__.py": "",
            "src/mylib/core.py": "",
            "src/mylib/other.py": "",
        },
    )
    assert auto_files(tree, "scripts/wf.py") == [
        "scripts/sibling.py",
        "scripts/wf.py",
        "src/mylib/__init__.py",
        "src/mylib/core.py",
    ]


def test_auto_reports_syntax_errors_with_file_and_line(tree: Path) -> None:
    write(tree, {"wf.py": "import broken\n", "broken.py": "x = (\n"})
    with pytest.raises(PackageError, match=r"broken.py:1"):
        auto_files(tree, "wf.py")


def test_auto_needs_entry_and_all_ships_everything(tree: Path, tmp_path: Path) -> None:
    write(tree, {"wf.py": "", "assets/logo.png": b"\x89PNG"})
    with pytest.raises(UsageError, match="entry"):
        plan_package(tree, "auto", None, cache_dir=None)
    plan = plan_package(tree, "all", None, cache_dir=None)
    assert [e.path for e in plan.entries] == ["assets/logo.png", "wf.py"]


def test_none_means_no_bundle(tree: Path, tmp_path: Path) -> None:
    write(tree, {"wf.py": ""})
    store = (tmp_path / "store").as_uri()
    assert package_and_publish(tree, "none", tree / "wf.py", store, cache_dir=tmp_path) is None
    assert not (tmp_path / "store").exists()


def test_source_root_is_nearest_marker_folder(tree: Path) -> None:
    write(tree, {"setup.py": "", "a/b/wf.py": "", "loose/wf.py": ""})
    assert find_source_root(tree / "a/b/wf.py") == tree.resolve()
    (tree / "setup.py").unlink()
    # No marker up to / in a temp dir (pytest's tmp has none): the entry's folder.
    assert find_source_root(tree / "loose/wf.py") == (tree / "loose").resolve()
