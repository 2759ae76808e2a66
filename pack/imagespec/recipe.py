"""What an image holds, for builders that write layers themselves (pure).

The Docker builder gets a rendered Dockerfile; a daemonless builder gets this instead:
the same resolved spec, as data. It is derived from the same ResolvedSpec the Dockerfile
is rendered from, so the two builders install the same things (`installs_venv` is
Dockerfile.j2's `installs_tools`, `runtime` its `install_runtime`, copies land where its
COPY lines put them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pack.imagespec.dockerfile import COPY_DEST, DIGEST_LABEL
from pack.imagespec.hashing import ResolvedSpec


@dataclass(frozen=True)
class CopyFile:
    dest: str  # path in the image, without the leading '/'
    source: Path
    executable: bool
    sha256: str


@dataclass(frozen=True)
class ImageRecipe:
    name: str
    base_image: str
    python_version: str
    python_version_given: bool  # set by the spec or inherited from a base spec
    platforms: tuple[str, ...]
    installs_venv: bool
    runtime: bool
    packages: tuple[str, ...]
    requirements_kind: str | None
    requirements_files: tuple[Path, ...]  # the named file first (uv.lock: then pyproject.toml)
    env: tuple[tuple[str, str], ...]
    labels: tuple[tuple[str, str], ...]  # the spec-digest label first
    entrypoint: tuple[str, ...] | None
    copies: tuple[CopyFile, ...]
    copy_dirs: tuple[str, ...]  # image folders a copy entry creates (a directory entry)
    apt_packages: tuple[str, ...] = ()
    commands: tuple[str, ...] = ()
    index_url: str | None = field(default=None, repr=False)
    extra_index_urls: tuple[str, ...] = field(default=(), repr=False)


def recipe_of(resolved: ResolvedSpec) -> ImageRecipe:
    spec = resolved.spec
    dest_root = COPY_DEST.lstrip("/")
    copies = tuple(
        CopyFile(f"{dest_root}/{f.path}", f.source, f.executable, f.sha256)
        for c in resolved.copy
        for f in c.files
    )
    copy_dirs = tuple(f"{dest_root}/{c.entry}" for c in resolved.copy if c.is_dir)
    labels = ((DIGEST_LABEL, str(resolved.digest)), *sorted(spec.labels.items()))
    reqs = resolved.requirements
    return ImageRecipe(
        name=spec.name,
        base_image=resolved.base_image,
        python_version=resolved.python_version,
        python_version_given=spec.python_version is not None or resolved.base is not None,
        platforms=resolved.platforms,
        installs_venv=resolved.installs_tools,
        runtime=resolved.runtime_version is not None,
        packages=resolved.packages,
        requirements_kind=reqs.kind if reqs is not None else None,
        requirements_files=tuple(f.source for f in reqs.files) if reqs is not None else (),
        env=tuple(sorted(spec.env.items())),
        labels=labels,
        entrypoint=tuple(spec.entrypoint) if spec.entrypoint is not None else None,
        copies=copies,
        copy_dirs=copy_dirs,
        apt_packages=resolved.apt_packages,
        commands=tuple(spec.commands),
        index_url=spec.pip_index_url,
        extra_index_urls=tuple(spec.pip_extra_index_urls),
    )
