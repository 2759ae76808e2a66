from __future__ import annotations

import subprocess
import zipfile
from pathlib import Path

import pytest

import pack.runtime as runtime
from pack.errors import BuildError

REPO = Path(runtime.__file__).resolve().parent.parent


def test_wheel_is_built_once_per_runtime_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runtime, "source_checkout", lambda: REPO)
    cache = tmp_path / "cache"
    first = runtime.build_runtime_wheel(tmp_path / "ctx1", cache_dir=cache)
    assert first.parent == tmp_path / "ctx1" and first.name.startswith("pack-")
    with zipfile.ZipFile(first) as zf:
        names = zf.namelist()
    assert "pack/runtime.py" in names and "pack/cli/__init__.py" in names
    assert runtime.wheel_cache_dir(cache).is_dir()

    def no_build(*args: object, **kwargs: object) -> None:
        raise AssertionError("the cached wheel should be reused")

    monkeypatch.setattr(subprocess, "run", no_build)
    second = runtime.build_runtime_wheel(tmp_path / "ctx2", cache_dir=cache)
    assert second.read_bytes() == first.read_bytes()


def test_installed_release_has_no_wheel_to_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runtime, "source_checkout", lambda: None)
    with pytest.raises(BuildError, match="installed release"):
        runtime.build_runtime_wheel(tmp_path)
