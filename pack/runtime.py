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
