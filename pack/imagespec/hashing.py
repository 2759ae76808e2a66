"""Resolve an ImageSpec, then hash it: the digest that decides "reuse or build".

Two steps, deliberately separate:

- `resolve(spec, defaults)` fills in every default that changes what gets installed
  (Python version, platform, base image, pack runtime version, uv version) and reads
  the files the image will contain (requirements, copy entries) into content entries.
  This is the only step that touches the disk.
- `canonical_inputs(resolved)` / `spec_digest(resolved)` are pure: a versioned,
  canonical JSON document (sorted keys, compact separators) hashed with sha256 after a
  version salt. Change the encoding and you must change `ENCODING`; the golden tests in
  tests/unit/imagespec fail loudly otherwise.

What does not count: the spec's name and registry (they place the image, they do not
change it: the same content can be retagged into another registry), the builder,
`tag_format`, `source_root` (code travels as a bundle, not in the image), credentials
in index URLs (an index URL counts as its host plus a fingerprint of the rest, never as text
that could hold a token), secret sources and contents (secret *ids* count), absolute paths, mtimes.
"""

from __future__ import annotations

import functools
import json
import os
import stat
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pack.digest import Digest
from pack.errors import ListingError, SpecError
from pack.imagespec.ref import ImageRef
from pack.imagespec.spec import DEFAULT_PLATFORM, ImageSpec, format_tag, index_url_identity

if TYPE_CHECKING:
    from pack.config import Config
    from pack.filetree.entry import Excluded

ENCODING = "pack.imagespec/1"
SALT = b"pack.imagespec/1\n"
# 20 hex chars = 80 bits: a collision needs ~2^40 distinct specs in one repository, and
# the tag stays a prefix of the digest printed by --explain and stored in the image label.
TAG_LENGTH = 20
DEFAULT_PYTHON_BASE = "python:{python_version}-slim"
# The uv the rendered Dockerfile installs into /opt/pack/venv; it counts in the digest.
UV_VERSION = "0.13.9"


@dataclass(frozen=True)
class ResolveDefaults:
    """The defaults a spec's unset fields resolve to; built once by the caller."""

    python_version: str
    runtime_version: str
    platform: str = DEFAULT_PLATFORM
    python_base: str = DEFAULT_PYTHON_BASE
    registry: str | None = None

    @classmethod
    def current(
        cls,
        *,
        registry: str | None = None,
        python_base: str | None = None,
        platform: str | None = None,
    ) -> ResolveDefaults:
        """Defaults for this interpreter and this pack runtime."""
        from pack.runtime import runtime_version

        return cls(
            python_version=f"{sys.version_info.major}.{sys.version_info.minor}",
            runtime_version=runtime_version(),
            platform=platform or DEFAULT_PLATFORM,
            python_base=python_base or DEFAULT_PYTHON_BASE,
            registry=registry,
        )


def defaults_from_config(config: Config) -> ResolveDefaults:
    return ResolveDefaults.current(registry=config.registry, python_base=config.python_base)


@dataclass(frozen=True)
class ImageFile:
    """One file the image will contain: where it sits relative to the spec, not on this disk."""

    path: str  # posix, relative to the spec's base_dir
    executable: bool
    sha256: str
    source: Path = field(compare=False, repr=False)  # where to read it now (not hashed)

    def canonical(self) -> dict[str, Any]:
        return {"path": self.path, "executable": self.executable, "sha256": self.sha256}


@dataclass(frozen=True)
class RequirementsInput:
    kind: str  # "requirements.txt" | "uv.lock" | "pyproject.toml"
    files: tuple[ImageFile, ...]  # the named file first; uv.lock brings its pyproject.toml


@dataclass(frozen=True)
class CopyInput:
    entry: str  # as written in the spec (posix, relative)
    is_dir: bool
    files: tuple[ImageFile, ...]


@dataclass(frozen=True)
class ResolvedSpec:
    """A spec with every default filled in and its files read; the input of hash and render."""

    spec: ImageSpec
    python_version: str
    platforms: tuple[str, ...]
    registry: str | None
    base_image: str  # what FROM names
    base: ResolvedSpec | None  # set when base_image is an ImageSpec
    installs_tools: bool  # this Dockerfile creates /opt/pack/venv and installs uv
    runtime_version: str | None  # set when this Dockerfile installs the pack runtime wheel
    requirements: RequirementsInput | None
    copy: tuple[CopyInput, ...]
    packages: tuple[str, ...]  # normalized, sorted, unique
    apt_packages: tuple[str, ...]  # sorted, unique
    left_out: tuple[Excluded, ...] = ()  # paths under copy= entries the ignore rules left out
    warnings: tuple[str, ...] = ()  # one per left-out path that looks like a secret

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def provides_venv(self) -> bool:
        return self.installs_tools or (self.base is not None and self.base.provides_venv)

    @property
    def provides_runtime(self) -> bool:
        return self.runtime_version is not None or (
            self.base is not None and self.base.provides_runtime
        )

    @functools.cached_property
    def digest(self) -> Digest:
        return spec_digest(self)

    @functools.cached_property
    def ref(self) -> ImageRef:
        return image_ref(self)


# ---------------------------------------------------------------- normalization


def normalize_requirement(text: str) -> str:
    """One spelling per requirement: `NumPy [B,a] >= 1 ,<2` -> `numpy[a,b]<2,>=1`."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    req = Requirement(text)
    out: str = canonicalize_name(req.name)
    if req.extras:
        out += "[" + ",".join(sorted(canonicalize_name(e) for e in req.extras)) + "]"
    if req.url:
        out += f" @ {req.url}"
        if req.marker:
            out += " "
    else:
        out += ",".join(sorted(str(s) for s in req.specifier))
    if req.marker:
        out += f"; {req.marker}"
    return out


# ---------------------------------------------------------------- resolve (reads files)


def resolve(
    spec: ImageSpec,
    defaults: ResolveDefaults,
    _cache: dict[int, ResolvedSpec] | None = None,
) -> ResolvedSpec:
    """Fill in defaults and read the spec's files; raises SpecError for a missing file."""
    cache = {} if _cache is None else _cache
    hit = cache.get(id(spec))
    if hit is not None and hit.spec is spec:
        return hit

    base: ResolvedSpec | None = None
    if isinstance(spec.base_image, ImageSpec):
        base = resolve(spec.base_image, defaults, cache)
        # A child inherits what its parent image really has.
        python_version = spec.python_version or base.python_version
        platform_text = spec.platform or ",".join(base.platforms)
        base_image = str(base.ref)
    else:
        python_version = spec.python_version or defaults.python_version
        platform_text = spec.platform or defaults.platform
        base_image = spec.base_image or defaults.python_base.replace(
            "{python_version}", python_version
        )

    packages = tuple(sorted({normalize_requirement(p) for p in spec.packages}))
    requirements = _resolve_requirements(spec)
    copies, left_out, warnings = _resolve_copy(spec)
    wants_python = bool(packages) or requirements is not None
    base_has_venv = base is not None and base.provides_venv
    base_has_runtime = base is not None and base.provides_runtime
    installs_runtime = spec.runtime and not base_has_runtime
    installs_tools = not base_has_venv and (installs_runtime or wants_python)

    resolved = ResolvedSpec(
        spec=spec,
        python_version=python_version,
        platforms=tuple(sorted({p.strip() for p in platform_text.split(",") if p.strip()})),
        registry=spec.registry or defaults.registry,
        base_image=base_image,
        base=base,
        installs_tools=installs_tools,
        runtime_version=defaults.runtime_version if installs_runtime else None,
        requirements=requirements,
        copy=copies,
        packages=packages,
        apt_packages=tuple(sorted(set(spec.apt_packages))),
        left_out=left_out,
        warnings=warnings,
    )
    cache[id(spec)] = resolved
    return resolved


def copy_warnings(resolved: ResolvedSpec) -> list[str]:
    """The copy= warnings of `resolved` and of the specs it builds on, bases first."""
    chain: list[ResolvedSpec] = []
    current: ResolvedSpec | None = resolved
    while current is not None:
        chain.append(current)
        current = current.base
    return [w for r in reversed(chain) for w in r.warnings]


def _fail(spec: ImageSpec, fieldname: str, message: str) -> SpecError:
    return SpecError(f"ImageSpec {spec.name!r}: {fieldname}: {message}")


def _rel(spec: ImageSpec, path: Path) -> str:
    return Path(os.path.relpath(path, spec.folder)).as_posix()


def _file_entry(
    spec: ImageSpec,
    path: Path,
    fieldname: str,
    rel: str | None = None,
    executable: bool | None = None,
) -> ImageFile:
    """`path` read and hashed; `rel` (its place relative to the spec's folder) and
    `executable` default to what `path` itself says."""
    try:
        if executable is None:
            executable = bool(path.stat().st_mode & stat.S_IXUSR)
        digest = Digest.of_file(path)
    except OSError as exc:
        raise _fail(spec, fieldname, f"cannot read {path}: {exc.strerror}") from None
    return ImageFile(
        path=rel if rel is not None else _rel(spec, path),
        executable=executable,
        sha256=digest.hex,
        source=path,
    )


def _resolve_requirements(spec: ImageSpec) -> RequirementsInput | None:
    if spec.requirements is None:
        return None
    path = spec.folder / spec.requirements
    if not path.is_file():
        raise _fail(
            spec,
            "requirements",
            f"file not found: {path} (a requirements.txt, uv.lock or pyproject.toml)",
        )
    if path.name == "uv.lock":
        project = path.parent / "pyproject.toml"
        if not project.is_file():
            raise _fail(spec, "requirements", f"{path} needs its pyproject.toml next to it")
        files = (
            _file_entry(spec, path, "requirements"),
            _file_entry(spec, project, "requirements"),
        )
        return RequirementsInput("uv.lock", files)
    kind = "pyproject.toml" if path.name == "pyproject.toml" else "requirements.txt"
    return RequirementsInput(kind, (_file_entry(spec, path, "requirements"),))


def _resolve_copy(
    spec: ImageSpec,
) -> tuple[tuple[CopyInput, ...], tuple[Excluded, ...], tuple[str, ...]]:
    """The copy= entries as listed by the bundle's rules, what they left out, and warnings."""
    if not spec.copy:
        return (), (), ()
    from pack.filetree.walk import list_files

    entries = [Path(e.replace("\\", "/")).as_posix() for e in spec.copy]
    try:
        listing = list_files(
            spec.folder,
            only=tuple(entries),
            links_as_files=True,  # the image gets files; a link could dangle there
            follow_links=spec.follow_links,
            follow_option="follow_links=True on the ImageSpec",
        )
    except ListingError as exc:
        raise _fail(spec, "copy", exc.message) from None
    copies: list[CopyInput] = []
    for entry in entries:
        is_dir = (spec.folder / entry).is_dir()
        prefix = entry + "/"
        files = [f for f in listing.files if f.path == entry or f.path.startswith(prefix)]
        if not files:
            why = next((x for x in listing.excluded if x.covers(entry)), None)
            if why is not None:
                raise _fail(spec, "copy", f"{entry} is left out by {why.reason}")
            raise _fail(
                spec,
                "copy",
                f"{entry} has no file to copy (empty, or every file in it is left out: "
                "`pack hash --explain` lists them)",
            )
        copies.append(
            CopyInput(
                entry,
                is_dir,
                tuple(_file_entry(spec, f.source, "copy", f.path, f.executable) for f in files),
            )
        )
    warnings = tuple(f"ImageSpec {spec.name!r}: copy: {w}" for w in listing.warnings)
    return tuple(copies), tuple(listing.excluded), warnings


# ---------------------------------------------------------------- canonical encoding (pure)


def canonical_inputs(resolved: ResolvedSpec) -> dict[str, Any]:
    """Everything that goes into the digest, as plain JSON values (shown by `pack hash --explain`)."""
    spec = resolved.spec
    base: dict[str, Any]
    if resolved.base is not None:
        base = {"spec_digest": str(resolved.base.digest)}
    else:
        base = {"image": resolved.base_image}
    requirements = None
    if resolved.requirements is not None:
        requirements = {
            "kind": resolved.requirements.kind,
            "files": [f.canonical() for f in resolved.requirements.files],
        }
    return {
        "encoding": ENCODING,
        "base": base,
        "python": resolved.python_version,
        "platforms": list(resolved.platforms),
        "runtime": resolved.runtime_version,
        "tools": {"uv": UV_VERSION} if resolved.installs_tools else None,
        "apt_packages": list(resolved.apt_packages),
        "packages": list(resolved.packages),
        "requirements": requirements,
        "pip_index_url": index_url_identity(spec.pip_index_url) if spec.pip_index_url else None,
        "pip_extra_index_urls": [index_url_identity(u) for u in spec.pip_extra_index_urls],
        "env": dict(spec.env),
        "commands": list(spec.commands),
        "copy": [
            {"entry": c.entry, "dir": c.is_dir, "files": [f.canonical() for f in c.files]}
            for c in resolved.copy
        ],
        "secret_ids": sorted(spec.secret_mounts),
        "labels": dict(spec.labels),
        "entrypoint": list(spec.entrypoint) if spec.entrypoint is not None else None,
    }


def encode(inputs: Mapping[str, Any]) -> bytes:
    return json.dumps(
        inputs, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def spec_digest(resolved: ResolvedSpec) -> Digest:
    return Digest.of_bytes(SALT + encode(canonical_inputs(resolved)))


def image_tag(resolved: ResolvedSpec) -> str:
    digest = resolved.digest
    if resolved.spec.tag_format:
        return format_tag(
            resolved.spec.tag_format,
            digest_hex=digest.hex,
            name=resolved.name,
            python=resolved.python_version,
        )
    return digest.hex[:TAG_LENGTH]


def image_ref(resolved: ResolvedSpec) -> ImageRef:
    """`[registry/]name:tag`; a registry with a path (`ghcr.io/org`) prefixes the repository."""
    host: str | None = None
    repository = resolved.name
    if resolved.registry:
        host, _, path = resolved.registry.partition("/")
        if path:
            repository = f"{path}/{repository}"
    return ImageRef(registry=host, repository=repository, tag=image_tag(resolved))
