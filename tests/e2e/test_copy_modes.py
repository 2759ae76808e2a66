"""Copy modes through the CLI, as a user sees them (issue 11.1 and 11.12)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.e2e.test_run_local import ML_PROJECT

NESTED_BUILD = {
    "wf.py": """
    from pack import task

    from app.build.steps import double
    from app.dist import names


    @task
    def main(x: int = 2) -> str:
        return f"{double(x)} {names.NAME}"
    """,
    "app/__init__.py": "",
    "app/build/__init__.py": "",
    "app/build/steps.py": "def double(x):\n    return 2 * x\n",
    "app/dist/names.py": "NAME = 'ok'\n",
    "build/lib/leftover.py": "",
}


def test_every_command_defaults_to_copy_all(pack: Any) -> None:
    for command in ("run", "render", "package"):
        r = pack(command, "--help")
        assert r.code == 0
        flat = " ".join(r.out.split())
        assert "--copy [all|auto|none]" in flat and "[default: all]" in flat, command


def test_run_without_copy_ships_data_files(pack: Any, project: Any) -> None:
    root = project(ML_PROJECT)
    r = pack("run", "-o", "json", str(root / "mlwf.py"), "main", "--scale", "2")
    assert r.code == 0, r.err
    assert r.json()["outputs"]["o0"] == 6.0
    assert r.json()["bundle"]["files"] == 3


def test_copy_auto_missing_data_file_says_use_copy_all(pack: Any, project: Any) -> None:
    root = project(ML_PROJECT)
    r = pack("run", "--copy", "auto", str(root / "mlwf.py"), "main")
    assert r.code == 1
    assert "FileNotFoundError" in r.err
    hint = [line for line in r.err.splitlines() if line.startswith("hint: ")]
    assert hint == [
        "hint: data/values.csv is in the source tree but --copy auto left it out (no module "
        "imports it); run with --copy all to ship data files"
    ]


def test_list_under_auto_shows_files_left_out_for_not_being_imported(
    pack: Any, project: Any
) -> None:
    root = project(ML_PROJECT)
    r = pack("package", "--copy", "auto", "--entry", str(root / "mlwf.py"), "--list")
    assert r.code == 0, r.err
    assert (
        "excluded: data/values.csv  (not imported by mlwf.py (--copy auto))" in r.out.splitlines()
    )
    doc = pack(
        "package", "--copy", "auto", "--entry", str(root / "mlwf.py"), "--list", "-o", "json"
    ).json()
    assert doc["files"] == ["mlhelpers.py", "mlwf.py"]
    assert {"path": "data/values.csv", "reason": "not imported by mlwf.py (--copy auto)"} in doc[
        "excluded"
    ]


@pytest.mark.parametrize("copy", ["all", "auto"])
def test_code_under_nested_build_and_dist_folders_runs(pack: Any, project: Any, copy: str) -> None:
    root = project(NESTED_BUILD)
    r = pack("run", "--copy", copy, "-o", "json", str(root / "wf.py"), "main", "--x", "4")
    assert r.code == 0, r.err
    assert r.json()["outputs"]["o0"] == "8 ok"
    listed = pack("package", "--copy", copy, "--entry", str(root / "wf.py"), "--list")
    assert "app/build/steps.py" in listed.out.splitlines()
    assert "excluded: build/  (default ignore /build/)" in listed.out.splitlines()


def test_a_root_build_package_the_entry_imports_is_shipped_and_listed(
    pack: Any, project: Any
) -> None:
    root = project(
        {
            "wf.py": """
            from pack import task

            import build.steps


            @task
            def main() -> int:
                return build.steps.VALUE
            """,
            "build/__init__.py": "",
            "build/steps.py": "VALUE = 7\n",
        }
    )
    r = pack("run", "-o", "json", str(root / "wf.py"), "main")
    assert r.code == 0, r.err
    assert r.json()["outputs"]["o0"] == 7
    listed = pack("package", "--entry", str(root / "wf.py"), "--list")
    assert (
        "kept build/ despite default ignore /build/: the entry imports a module from it"
        in listed.out.splitlines()
    )


def test_copy_auto_fails_in_one_line_naming_a_module_it_cannot_ship(
    pack: Any, project: Any
) -> None:
    root = project(
        {
            ".gitignore": "gen/\n",
            "wf.py": """
            from pack import task

            from gen.tables import ROWS


            @task
            def main() -> int:
                return ROWS
            """,
            "gen/__init__.py": "",
            "gen/tables.py": "ROWS = 3\n",
        }
    )
    expected = (
        "pack: error: --copy auto cannot ship a module the entry imports: wf.py:3 imports "
        "gen.tables, but gen/tables.py is left out by .gitignore: gen/ "
        "(re-include with !gen/ in .packignore)"
    )
    r = pack("run", "--copy", "auto", str(root / "wf.py"), "main")
    assert r.code == 2
    assert r.err.splitlines() == [expected]
    # --list shows the listing and the same error, and uploads nothing.
    listed = pack("package", "--copy", "auto", "--entry", str(root / "wf.py"), "--list")
    assert listed.code == 2
    assert listed.err.splitlines()[-1] == expected
    assert any(
        line.startswith("not shipped: wf.py:3 imports gen.tables")
        for line in listed.out.splitlines()
    )
    doc = json.loads(
        pack(
            "package", "--copy", "auto", "--entry", str(root / "wf.py"), "--list", "-o", "json"
        ).out
    )
    assert doc["unshipped"] == [
        {
            "module": "gen.tables",
            "path": "gen/tables.py",
            "imported_at": "wf.py:3",
            "reason": ".gitignore: gen/",
            "optional": False,
        }
    ]
    # --copy all warns before running; the task then fails as warned.
    r = pack("run", "--copy", "all", str(root / "wf.py"), "main")
    assert "pack: warning: wf.py:3 imports gen.tables, but gen/tables.py is left out" in r.err
