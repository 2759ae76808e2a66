"""Image config, manifest and index documents (pure: values in, canonical JSON bytes out).

The new image keeps the base's media type family: a Docker v2 base gets a Docker v2
manifest (and a Docker manifest list for several platforms), an OCI base OCI ones, so
nothing in the chain mixes the two. Every document is canonical JSON (sorted keys, no
spaces), so equal inputs give equal digests.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pack.errors import BuildError
from pack.imagespec.registry import (
    DOCKER_LIST,
    DOCKER_MANIFEST,
    OCI_INDEX,
    OCI_MANIFEST,
)

# Keys of a base config that describe how the *base* was built, not the new image.
_BUILD_ONLY_KEYS = ("container", "container_config", "docker_version", "id", "parent")


@dataclass(frozen=True)
class MediaTypes:
    manifest: str
    config: str
    layer: str  # gzip layers
    index: str


DOCKER = MediaTypes(
    DOCKER_MANIFEST,
    "application/vnd.docker.container.image.v1+json",
    "application/vnd.docker.image.rootfs.diff.tar.gzip",
    DOCKER_LIST,
)
OCI = MediaTypes(
    OCI_MANIFEST,
    "application/vnd.oci.image.config.v1+json",
    "application/vnd.oci.image.layer.v1.tar+gzip",
    OCI_INDEX,
)


def family_of(media_type: str) -> MediaTypes:
    if media_type in (DOCKER_MANIFEST, DOCKER_LIST):
        return DOCKER
    if media_type in (OCI_MANIFEST, OCI_INDEX):
        return OCI
    raise BuildError(f"base image manifest type {media_type!r} is neither Docker v2 nor OCI")


@dataclass(frozen=True)
class Layer:
    """One layer this build adds: its blob digest and size, and the uncompressed digest."""

    digest: str
    size: int
    diff_id: str
    created_by: str


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def iso_time(epoch: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def merge_env(env: Sequence[str], updates: Sequence[tuple[str, str]]) -> list[str]:
    """Docker's ENV: a key already set keeps its place with the new value, new keys append."""
    out: dict[str, str] = {}
    for item in env:
        key, _, value = item.partition("=")
        out[key] = value
    for key, value in updates:
        out[key] = value
    return [f"{k}={v}" for k, v in out.items()]


def image_config(
    base: Mapping[str, Any],
    layers: Sequence[Layer],
    *,
    env: Sequence[str],
    labels: Mapping[str, str],
    entrypoint: Sequence[str] | None,
    created: int,
) -> bytes:
    """The new config: the base's, with our env, labels, entrypoint, history and diff_ids."""
    config = {k: v for k, v in base.items() if k not in _BUILD_ONLY_KEYS}
    run = dict(config.get("config") or {})
    run["Env"] = list(env)
    merged = dict(run.get("Labels") or {})
    merged.update(labels)
    run["Labels"] = merged
    if entrypoint is not None:
        run["Entrypoint"] = list(entrypoint)
        run["Cmd"] = None  # as docker does: a new ENTRYPOINT drops the inherited CMD
    config["config"] = run
    stamp = iso_time(created)
    config["created"] = stamp
    rootfs = dict(config.get("rootfs") or {"type": "layers"})
    rootfs["diff_ids"] = [*(rootfs.get("diff_ids") or []), *(layer.diff_id for layer in layers)]
    config["rootfs"] = rootfs
    history = list(config.get("history") or [])
    history += [{"created": stamp, "created_by": layer.created_by} for layer in layers]
    config["history"] = history
    return canonical_json(config)


def image_manifest(
    media: MediaTypes,
    config_digest: str,
    config_size: int,
    base_layers: Sequence[Mapping[str, Any]],
    layers: Sequence[Layer],
) -> bytes:
    """Base layer descriptors verbatim (their media types, annotations, urls), then ours."""
    return canonical_json(
        {
            "schemaVersion": 2,
            "mediaType": media.manifest,
            "config": {"mediaType": media.config, "digest": config_digest, "size": config_size},
            "layers": [
                *(dict(d) for d in base_layers),
                *(
                    {"mediaType": media.layer, "digest": layer.digest, "size": layer.size}
                    for layer in layers
                ),
            ],
        }
    )


def platform_entry(config: Mapping[str, Any]) -> dict[str, str]:
    plat = {"architecture": str(config.get("architecture", "")), "os": str(config.get("os", ""))}
    if config.get("variant"):
        plat["variant"] = str(config["variant"])
    return plat


def image_index(
    media: MediaTypes, manifests: Sequence[tuple[str, int, Mapping[str, str]]]
) -> bytes:
    """An index (or Docker manifest list) of (digest, size, platform) children."""
    return canonical_json(
        {
            "schemaVersion": 2,
            "mediaType": media.index,
            "manifests": [
                {"mediaType": media.manifest, "digest": d, "size": s, "platform": dict(p)}
                for d, s, p in manifests
            ],
        }
    )
