from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

SPECS = """
from pack import ImageSpec

base = ImageSpec(name="ml-base", packages=["numpy"], requirements="requirements.txt")
app = ImageSpec(name="ml-app", base_image=base, copy=["assets"], registry="127.0.0.1:5000/team")
"""
FILES = {"requirements.txt": "pandas\n", "assets/a.txt": "a\n"}


def pack(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    code = "import sys; from pack.cli import main; sys.argv[0] = 'pack'; main(sys.argv[1:])"
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=cwd, timeout=60
    )


def test_text_and_json(spec_folder: Callable[..., Path]) -> None:
    folder = spec_folder(SPECS, FILES)
    text = pack("hash", str(folder / "spec.py"))
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert [line.split()[0] for line in lines] == ["base", "app"]
    data = json.loads(pack("hash", str(folder / "spec.py"), "--output", "json").stdout)
    assert [row["variable"] for row in data] == ["base", "app"]
    for row, line in zip(data, lines, strict=True):
        assert set(row) >= {"variable", "name", "ref", "tag", "digest"}
        assert line.split() == [row["variable"], row["ref"]]
        assert row["ref"].endswith(":" + row["tag"])
        assert row["digest"].startswith("sha256:" + row["tag"])
    assert data[1]["ref"].startswith("127.0.0.1:5000/team/ml-app:")


def test_explain_shows_the_inputs(spec_folder: Callable[..., Path]) -> None:
    folder = spec_folder(SPECS, FILES)
    out = pack("hash", "--explain", str(folder / "spec.py"))
    assert out.returncode == 0, out.stderr
    assert '"packages": [\n    "numpy"\n  ]' in out.stdout
    assert '"path": "requirements.txt"' in out.stdout
    assert str(folder) not in out.stdout
    data = json.loads(pack("hash", "--explain", "-o", "json", str(folder / "spec.py")).stdout)
    assert data[1]["inputs"]["base"]["spec_digest"] == data[0]["digest"]


@pytest.mark.parametrize(
    ("source", "files", "needle"),
    [
        (
            "from pack import ImageSpec\ni = ImageSpec(name='x', packages=['numpy>>1'])\n",
            {},
            "numpy>>1",
        ),
        (
            "from pack import ImageSpec\ni = ImageSpec(name='x', pakages=['numpy'])\n",
            {},
            "'pakages'",
        ),
        (
            "from pack import ImageSpec\ni = ImageSpec(name='x', requirements='req.txt')\n",
            {},
            "req.txt",
        ),
        (
            "from pack import ImageSpec\ni = ImageSpec(name='x', platform='linux/x86')\n",
            {},
            "linux/x86",
        ),
        ("from pack import ImageSpec\ni = ImageSpec(name='x', copy=['gone'])\n", {}, "gone"),
        ("x = (\n", {}, "SyntaxError"),
        ("x = 1\n", {}, "no ImageSpec"),
    ],
)
def test_bad_input_is_one_line_exit_2(
    spec_folder: Callable[..., Path], source: str, files: dict[str, str], needle: str
) -> None:
    folder = spec_folder(source, files)
    out = pack("hash", str(folder / "spec.py"))
    assert out.returncode == 2
    assert out.stdout == ""
    assert out.stderr.count("\n") == 1 and out.stderr.startswith("pack: error: ")
    assert needle in out.stderr
    assert "Traceback" not in out.stderr


def test_hash_imports_nothing_heavy(spec_folder: Callable[..., Path]) -> None:
    folder = spec_folder(SPECS, FILES)
    code = (
        "import sys\n"
        "from pack.cli import main\n"
        "try:\n"
        f"    main(['hash', {str(folder / 'spec.py')!r}])\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = ('boto3', 'botocore', 'kubernetes', 'docker', 'rich', 'jinja2', 'zstandard')\n"
        "print('HEAVY', [m for m in heavy if m in sys.modules])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "HEAVY []" in out.stdout


@pytest.mark.parametrize("value", ["nope", "=x", "id="])
def test_build_bad_secret_flag_is_one_line_exit_2(
    spec_folder: Callable[..., Path], value: str
) -> None:
    folder = spec_folder(SPECS, FILES)
    out = pack("build", "--secret", value, str(folder / "spec.py"))
    assert out.returncode == 2
    assert out.stderr == f"pack: error: --secret {value!r}: expected ID=PATH\n"
