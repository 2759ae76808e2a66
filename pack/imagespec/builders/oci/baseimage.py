"""The base image as the oci builder sees it: manifest and config only, never its layers.

The layers stay in the registry: the new manifest points at them and the push mounts
them into the target repository (or, from another registry, streams them across).
What the builder must know about the base's Python comes from the config alone:
- an image pack's oci builder made carries labels naming its interpreter, Python
  version and every distribution in its venv (`org.pack.python*`, `org.pack.packages`);
- an official `python:*` image says its version in `PYTHON_VERSION` and keeps python3
  in /usr/local/bin;
- any other base is taken to have python3 in /usr/bin (Debian, Ubuntu), and the spec
  must say which version (`python_version`): guessing would install wheels for the
  wrong interpreter.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pack.errors import BuildError, UsageError
from pack.imagespec.builders.oci.image import MediaTypes, family_of
from pack.imagespec.builders.oci.platforms import Target
from pack.imagespec.dockerfile import VENV
from pack.imagespec.ref import ImageRef
from pack.imagespec.registry import (
    INDEX_TYPES,
    Descriptor,
    RegistryClient,
    parse_descriptor,
)

LABEL_PYTHON = "org.pack.python"
LABEL_PYTHON_VERSION = "org.pack.python-version"
LABEL_PACKAGES = "org.pack.packages"
CONFIG_LIMIT = 4 << 20


@dataclass(frozen=True)
class BaseImage:
    ref: ImageRef
    media: MediaTypes
    layers: tuple[Mapping[str, Any], ...]  # the manifest's layer descriptors, verbatim
    blobs: tuple[Descriptor, ...]  # the same, parsed
    config: Mapping[str, Any]

    def env(self) -> list[str]:
        return list((self.config.get("config") or {}).get("Env") or [])

    def labels(self) -> dict[str, str]:
        return dict((self.config.get("config") or {}).get("Labels") or {})


@dataclass(frozen=True)
class PythonFacts:
    interpreter: str
    python_version: str
    has_venv: bool  # /opt/pack/venv is already there
    installed: tuple[str, ...] = ()  # name==version of what that venv holds


def _matches(entry: Mapping[str, Any], target: Target) -> bool:
    plat = entry.get("platform") or {}
    if plat.get("os") != target.os or plat.get("architecture") != target.architecture:
        return False
    variant = plat.get("variant")
    if target.variant is not None:
        return variant in (None, target.variant)
    return variant in (None, "v8") if target.architecture == "arm64" else True


def load_base(registry: RegistryClient, image: str, target: Target) -> BaseImage:
    try:
        ref = ImageRef.parse(image)
    except ValueError as exc:
        raise UsageError(f"base_image: {exc}") from None
    manifest = registry.get_manifest(ref)
    if manifest is None:
        raise BuildError(f"base_image {image} is not in its registry")
    where = f"base_image {image}"
    if manifest.media_type in INDEX_TYPES:
        entries = manifest.json().get("manifests") or []
        chosen = next((e for e in entries if isinstance(e, dict) and _matches(e, target)), None)
        if chosen is None:
            raise BuildError(f"{where} has no {target.platform} image (its index lists none)")
        child = parse_descriptor(chosen, where)
        manifest = registry.get_manifest(ImageRef(ref.registry, ref.repository, None, child.digest))
        if manifest is None:
            raise BuildError(f"{where}: its {target.platform} manifest {child.digest} is missing")
    body = manifest.json()
    media = family_of(manifest.media_type)
    layers = body.get("layers") or []
    if not isinstance(layers, list):
        raise BuildError(f"{where}: `layers` is not a list")
    blobs = tuple(parse_descriptor(layer, where) for layer in layers)
    config_desc = parse_descriptor(body.get("config"), where)
    raw = registry.read_blob(ref.registry, ref.repository, config_desc.digest, limit=CONFIG_LIMIT)
    try:
        config = json.loads(raw)
    except ValueError:
        raise BuildError(f"{where}: its config is not JSON") from None
    if not isinstance(config, dict):
        raise BuildError(f"{where}: its config is not a JSON object")
    arch = config.get("architecture")
    if arch != target.architecture or config.get("os", "linux") != target.os:
        raise BuildError(
            f"{where} is a {config.get('os')}/{arch} image; platform {target.platform} needs a "
            "base that has that platform (a multi-platform index, or one built for it)"
        )
    return BaseImage(ref, media, tuple(dict(x) for x in layers), blobs, config)


def _env_value(env: Sequence[str], key: str) -> str | None:
    for item in env:
        name, sep, value = item.partition("=")
        if sep and name == key:
            return value
    return None


def python_facts(
    base: BaseImage, image: str, python_version: str, version_given: bool
) -> PythonFacts:
    """Where the base's Python is and which version it is; refuses to guess (pure)."""
    env, labels = base.env(), base.labels()
    if _env_value(env, "VIRTUAL_ENV") == VENV:
        if LABEL_PACKAGES not in labels or LABEL_PYTHON_VERSION not in labels:
            raise BuildError(
                f"base_image {image} has pack's venv but no record of what is in it (it was "
                "not built by the oci builder); build it with builder='oci', or build this "
                "spec with the docker builder"
            )
        version = labels[LABEL_PYTHON_VERSION]
        _same(version, python_version, version_given, image, "its label")
        return PythonFacts(
            labels.get(LABEL_PYTHON, "/usr/bin/python3"),
            version,
            True,
            tuple(labels[LABEL_PACKAGES].split()),
        )
    official = _env_value(env, "PYTHON_VERSION")
    if official:
        version = ".".join(official.split(".")[:2])
        _same(version, python_version, version_given, image, "its PYTHON_VERSION")
        return PythonFacts("/usr/local/bin/python3", version, False)
    if not version_given:
        raise UsageError(
            f"python_version: the oci builder cannot see which Python base_image {image} has "
            "(its config sets no PYTHON_VERSION); set python_version to it, e.g. "
            f"python_version={python_version!r}"
        )
    return PythonFacts("/usr/bin/python3", python_version, False)


def _same(actual: str, wanted: str, given: bool, image: str, source: str) -> None:
    if given and actual != wanted:
        raise UsageError(
            f"python_version: base_image {image} has Python {actual} ({source}), the spec "
            f"says {wanted}; set python_version={actual!r} or pick another base"
        )


def venv_labels(facts: PythonFacts, added: Sequence[str]) -> dict[str, str]:
    """The labels a child build reads: interpreter, version, and all the venv now holds."""
    replaced = {a.split("==", 1)[0] for a in added}
    kept = [n for n in facts.installed if n.split("==", 1)[0] not in replaced]
    return {
        LABEL_PYTHON: facts.interpreter,
        LABEL_PYTHON_VERSION: facts.python_version,
        LABEL_PACKAGES: " ".join(sorted([*kept, *added])),
    }
