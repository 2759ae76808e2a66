from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from pack.errors import SpecError
from pack.imagespec.load import load_specs


def test_collects_module_level_specs_in_definition_order(spec_folder: Callable[..., Path]) -> None:
    folder = spec_folder(
        """
        from pack import ImageSpec
        import helper

        zeta = ImageSpec(name="zeta", packages=[helper.PACKAGE])
        alpha = zeta.with_packages("pandas")
        _private = ImageSpec(name="hidden")
        not_a_spec = 3
        """,
        {"helper.py": "PACKAGE = 'numpy'\n"},
    )
    path_before = list(sys.path)
    modules_before = set(sys.modules)
    specs = load_specs(folder / "spec.py")
    assert list(specs) == ["zeta", "alpha"]
    assert specs["zeta"].packages == ("numpy",)
    assert specs["zeta"].base_dir == folder.resolve()
    assert sys.path == path_before
    leaked = {m for m in set(sys.modules) - modules_before if m.startswith("_pack_spec_")}
    assert not leaked


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("x = (\n", r"spec\.py:1: SyntaxError"),
        (
            "import os\nimport no_such_module_xyz\n",
            r"spec\.py:2: ModuleNotFoundError: .*no_such_module_xyz",
        ),
        (
            "from pack import ImageSpec\n\nimage = ImageSpec(name='x', pakages=['numpy'])\n",
            r"spec\.py:3: ImageSpec: unknown field 'pakages' \(did you mean 'packages'\?\)",
        ),
        (
            "from pack import ImageSpec\nimage = ImageSpec(\n    name='x',\n    packages=['numpy>>1'],\n)\n",
            r"spec\.py:2: ImageSpec 'x': packages: invalid requirement 'numpy>>1'",
        ),
        ("def f():\n    raise ValueError('boom')\n\nf()\n", r"spec\.py:2: ValueError: boom"),
        ("import sys\nsys.exit(3)\n", r"spec\.py:2: spec file called exit\(3\)"),
        ("x = 1\n", r"spec\.py: defines no ImageSpec"),
    ],
)
def test_errors_are_one_line_with_file_and_line(
    spec_folder: Callable[..., Path], source: str, expected: str
) -> None:
    folder = spec_folder(source)
    with pytest.raises(SpecError, match=expected) as info:
        load_specs(folder / "spec.py")
    assert "\n" not in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="no such spec file"):
        load_specs(tmp_path / "nope.py")
