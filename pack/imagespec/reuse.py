"""An ImageSpec's image known to be pushed, from this machine's image record alone.

The path every `pack run` of unchanged specs takes: resolving the spec and reading the
record is all it needs, so neither the registry client nor the builders are loaded
(pack.imagespec.ensure, ~20 ms of imports). Anything the record does not vouch for
goes through ensure_image, which asks the registry and builds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pack.config import Config
    from pack.digest import Digest
    from pack.imagespec.hashing import ResolvedSpec
    from pack.imagespec.spec import ImageSpec


def recorded_pin(
    spec: ImageSpec, config: Config, resolutions: dict[int, ResolvedSpec]
) -> tuple[str, Digest] | None:
    """`registry/repo@sha256:…` of `spec`'s image and the spec's digest, if the record
    confirmed that image in the registry within its TTL for this same content.
    `resolutions`: hashing.resolve's cache, for ensure_image to go on from on a miss."""
    from pack.imagespec.hashing import defaults_from_config, resolve
    from pack.imagespec.record import ImageRecord

    resolved = resolve(spec, defaults_from_config(config), resolutions)
    if resolved.registry is None:  # a local image: the engine is asked, as ensure does
        return None
    record = ImageRecord.in_cache(config.cache_dir, config.record_ttl_seconds)
    entry = record.fresh(str(resolved.ref), str(resolved.digest))
    if entry is None or not entry.digest:
        return None
    return resolved.ref.with_digest(entry.digest).by_digest, resolved.digest
