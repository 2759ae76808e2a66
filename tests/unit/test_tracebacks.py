from __future__ import annotations

import json
import sys
from pathlib import Path

import click

import pack.cli
from pack.tracebacks import describe, innermost_user_location, is_user_file, raised_at


def test_user_files_are_neither_pack_nor_stdlib_nor_installed(tmp_path: Path) -> None:
    assert is_user_file(str(tmp_path / "wf.py"))
    assert not is_user_file(json.__file__)
    assert not is_user_file(click.__file__)
    assert not is_user_file(pack.cli.__file__)
    assert not is_user_file("<string>")
    assert not is_user_file("<frozen importlib._bootstrap>")


def test_innermost_user_frame_skips_library_frames(tmp_path: Path) -> None:
    helper = tmp_path / "tbhelper_unit.py"
    helper.write_text("import json\n\n\ndef parse():\n    return json.loads('x')\n")
    sys.path.insert(0, str(tmp_path))
    try:
        import tbhelper_unit  # type: ignore[import-not-found]

        try:
            tbhelper_unit.parse()
        except ValueError as exc:
            where = innermost_user_location(exc)
            assert where is not None and (where.line, where.function) == (5, "parse")
            assert where.shown(tmp_path) == "tbhelper_unit.py:5"
            assert raised_at(exc, tmp_path / "wf.py", tmp_path) == (
                " (raised at tbhelper_unit.py:5 in parse)"
            )
            assert raised_at(exc, helper, tmp_path) == ""  # the caller names it already
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("tbhelper_unit", None)


def test_describe_is_one_line() -> None:
    assert describe(ValueError("a\nb")) == "ValueError: a"
    assert describe(KeyError()) == "KeyError"
    assert describe(SystemExit(3)) == "the file called exit(3)"
