"""Helpers for the imagespec tests: write a spec folder, load it, hash it with fixed defaults."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from pack.imagespec.hashing import ResolveDefaults, ResolvedSpec, resolve
from pack.imagespec.load import load_specs
from pack.imagespec.spec import ImageSpec

# Fixed defaults: the golden digests must not depend on this interpreter or checkout.
DEFAULTS = ResolveDefaults(python_version="3.11", runtime_version="0.1.0")


def resolved(spec: ImageSpec, defaults: ResolveDefaults = DEFAULTS) -> ResolvedSpec:
    return resolve(spec, defaults)


def ref_of(spec: ImageSpec, defaults: ResolveDefaults = DEFAULTS) -> str:
    return str(resolve(spec, defaults).ref)


@pytest.fixture
def spec_folder(tmp_path: Path) -> Callable[..., Path]:
    """Write `spec.py` (dedented) and extra files into a fresh folder; returns the folder."""
    counter = iter(range(1000))

    def make(source: str, files: dict[str, str] | None = None, where: Path | None = None) -> Path:
        folder = where or tmp_path / f"project{next(counter)}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "spec.py").write_text(textwrap.dedent(source))
        for name, text in (files or {}).items():
            path = folder / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        return folder

    return make


def load_one(folder: Path, name: str = "image") -> ImageSpec:
    return load_specs(folder / "spec.py")[name]
