from __future__ import annotations

import subprocess
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

import pack.runtime as runtime
from pack.errors import BuildError

REPO = Path(runtime.__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _fresh_version() -> Iterator[None]:
    # runtime_version is cached per process: never let a faked install leak out.
    runtime.runtime_version.cache_clear()
    yield
    runtime.runtime_version.cache_clear()


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


def installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A site-packages holding an installed pack (as pip leaves it), made the running one."""
    site = tmp_path / "site"
    pkg = site / "pack"
    (pkg / "cli" / "__pycache__").mkdir(parents=True)
    (pkg / "__init__.py").write_text('__version__ = "0.1.0"\n')
    (pkg / "cli" / "__init__.py").write_text("def main(): ...\n")
    (pkg / "cli" / "__pycache__" / "__init__.cpython-311.pyc").write_bytes(b"\0bytecode")
    (pkg / "templates").mkdir()
    (pkg / "templates" / "Dockerfile.j2").write_text("FROM {{ base }}\n")
    info = site / "pack-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: pack\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text("[console_scripts]\npack = pack.cli:main\n")
    (info / "RECORD").write_text("pack/__init__.py,,\n")
    (info / "INSTALLER").write_text("pip\n")
    (info / "direct_url.json").write_text('{"url": "file:///home/me/secret-project"}')
    (site / "pack-0.0.9.dist-info").mkdir()  # a stale one: never taken
    monkeypatch.setattr(runtime, "PACKAGE_DIR", pkg)
    monkeypatch.setattr(runtime, "source_checkout", lambda: None)

    def no_subprocess(*args: object, **kwargs: object) -> None:
        raise AssertionError("an installed pack needs no pip (and never an index)")

    monkeypatch.setattr(subprocess, "run", no_subprocess)
    return site


def test_installed_pack_becomes_a_wheel_of_its_own_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import hashlib

    site = installed(tmp_path, monkeypatch)
    version = runtime.runtime_version()
    assert version.startswith("0.1.0+dist.")
    wheel = runtime.build_runtime_wheel(tmp_path / "ctx", cache_dir=tmp_path / "cache")
    assert wheel.name == "pack-0.1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        assert names == sorted(names)
        assert set(names) == {
            "pack/__init__.py",
            "pack/cli/__init__.py",
            "pack/templates/Dockerfile.j2",
            "pack-0.1.0.dist-info/METADATA",
            "pack-0.1.0.dist-info/entry_points.txt",
            "pack-0.1.0.dist-info/WHEEL",
            "pack-0.1.0.dist-info/RECORD",
        }
        assert zf.read("pack/cli/__init__.py") == (site / "pack/cli/__init__.py").read_bytes()
        record = zf.read("pack-0.1.0.dist-info/RECORD").decode()
        data = zf.read("pack/templates/Dockerfile.j2")
        digest = hashlib.sha256(data).digest()
        import base64

        b64 = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
        assert f"pack/templates/Dockerfile.j2,sha256={b64},{len(data)}" in record
        assert "Tag: py3-none-any" in zf.read("pack-0.1.0.dist-info/WHEEL").decode()
    # Cached by runtime version: the same bytes again, nothing rebuilt.
    assert (runtime.wheel_cache_dir(tmp_path / "cache")).name == version
    again = runtime.build_runtime_wheel(tmp_path / "ctx2", cache_dir=tmp_path / "cache")
    assert again.read_bytes() == wheel.read_bytes()


def test_installed_runtime_version_moves_with_its_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = installed(tmp_path, monkeypatch)
    first = runtime.runtime_version()
    runtime.runtime_version.cache_clear()
    (site / "pack/cli/__pycache__/__init__.cpython-311.pyc").write_bytes(b"other")
    (site / "pack-0.1.0.dist-info/INSTALLER").write_text("uv\n")
    assert runtime.runtime_version() == first  # bytecode and install records do not count
    runtime.runtime_version.cache_clear()
    (site / "pack/cli/__init__.py").write_text("def main(): return 1\n")
    assert runtime.runtime_version() != first


def test_installed_pack_without_its_dist_info_refuses_clearly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = installed(tmp_path, monkeypatch)
    import shutil

    shutil.rmtree(site / "pack-0.1.0.dist-info")
    with pytest.raises(BuildError, match="no pack-\\*.dist-info beside it"):
        runtime.build_runtime_wheel(tmp_path / "ctx")
