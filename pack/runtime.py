"""Which pack runtime an image built now would contain.

The runtime version is part of every spec digest ("resolve before hashing"): an
image built from a source checkout carries that checkout's code, so its version
names the content of the pack sources, not just the release number.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

from pack import __version__

PACKAGE_DIR = Path(__file__).resolve().parent


def source_checkout() -> Path | None:
    """The repository root when pack runs from a source tree (not an installed release)."""
    root = PACKAGE_DIR.parent
    if (root / "pyproject.toml").is_file() and (root / "Dockerfile.base").is_file():
        return root
    return None


def _runtime_files(package_dir: Path) -> list[Path]:
    return sorted(
        p
        for p in package_dir.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix in {".py", ".j2", ".typed"}
    )


@functools.lru_cache(maxsize=1)
def runtime_version() -> str:
    """`X.Y.Z` for a release; `X.Y.Z+src.<content hash>` for a source checkout."""
    root = source_checkout()
    if root is None:
        return __version__
    h = hashlib.sha256()
    for path in _runtime_files(PACKAGE_DIR):
        rel = path.relative_to(PACKAGE_DIR).as_posix().encode()
        h.update(len(rel).to_bytes(4, "big") + rel)
        data = path.read_bytes()
        h.update(len(data).to_bytes(8, "big") + data)
    pyproject = (root / "pyproject.toml").read_bytes()
    h.update(len(pyproject).to_bytes(8, "big") + pyproject)
    return f"{__version__}+src.{h.hexdigest()[:12]}"


def wheel_cache_dir(cache_dir: Path) -> Path:
    return cache_dir / "runtime-wheels" / runtime_version()


def build_runtime_wheel(dest_dir: Path, *, cache_dir: Path | None = None) -> Path:
    """A wheel of this source checkout's pack in `dest_dir`, built once per runtime_version.

    Only for a source checkout: an installed release gets into images as
    `pack=={version}` from the package index instead (the Dockerfile says which).
    The build runs `python -m pip wheel --no-deps` on the checkout, without build
    isolation when hatchling is already installed (no index needed), and the result
    is cached under `cache_dir/runtime-wheels/<runtime_version>/` (temp dir + rename,
    so a crashed build never leaves a half wheel in the cache).
    """
    import os
    import shutil
    import subprocess
    import sys
    import tempfile

    from pack.errors import BuildError

    root = source_checkout()
    if root is None:
        raise BuildError(
            f"pack {__version__} is an installed release: images install pack=={__version__} "
            "from the package index, there is no checkout to build a runtime wheel from"
        )
    dest_dir.mkdir(parents=True, exist_ok=True)
    cached = wheel_cache_dir(cache_dir) if cache_dir is not None else None
    if cached is not None:
        found = sorted(cached.glob("pack-*.whl"))
        if found:
            target = dest_dir / found[0].name
            shutil.copy2(found[0], target)
            return target
    if cached is not None:
        cached.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="pack-wheel-", dir=cached.parent if cached else None))
    try:
        cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(work)]
        try:
            import hatchling  # noqa: F401

            cmd.append("--no-build-isolation")
        except ImportError:
            pass
        proc = subprocess.run([*cmd, str(root)], capture_output=True, text=True)
        wheels = sorted(work.glob("pack-*.whl"))
        if proc.returncode != 0 or not wheels:
            tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-10:])
            raise BuildError(f"building the pack runtime wheel from {root} failed:\n{tail}")
        wheel = wheels[0]
        if cached is not None:
            staged = work / "staged"
            staged.mkdir()
            shutil.move(str(wheel), staged / wheel.name)
            try:
                os.replace(staged, cached)
            except OSError:
                pass  # another process cached the same version first; theirs is as good
            wheel = next(iter(sorted(cached.glob("pack-*.whl"))))
        target = dest_dir / wheel.name
        shutil.copy2(wheel, target)
        return target
    finally:
        shutil.rmtree(work, ignore_errors=True)
