"""The image record alone pins an unchanged spec's image (pack.imagespec.reuse)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from pack.config import Config
from pack.imagespec.hashing import ResolvedSpec, defaults_from_config, resolve
from pack.imagespec.record import ImageRecord
from pack.imagespec.reuse import recorded_pin
from pack.imagespec.spec import ImageSpec

DIGEST = "sha256:" + "ab" * 32


def config_in(tmp_path: Path) -> Config:
    return Config(cache_dir=tmp_path / "cache", registry="127.0.0.1:5000")


def test_a_recorded_push_pins_the_image_and_anything_else_does_not(tmp_path: Path) -> None:
    config = config_in(tmp_path)
    spec = ImageSpec(name="reuse/me", registry="127.0.0.1:5000", packages=["six"])
    resolutions: dict[int, ResolvedSpec] = {}
    assert recorded_pin(spec, config, resolutions) is None  # nothing recorded yet
    assert resolutions[id(spec)].spec is spec  # for ensure_image to go on from
    resolved = resolve(spec, defaults_from_config(config))
    record = ImageRecord.in_cache(config.cache_dir, config.record_ttl_seconds)
    record.remember(str(resolved.ref), str(resolved.digest), DIGEST)
    pinned = recorded_pin(spec, config, {})
    assert pinned == (f"{resolved.ref.name}@{DIGEST}", resolved.digest)
    changed = ImageSpec(name="reuse/me", registry="127.0.0.1:5000", packages=["six", "idna"])
    assert recorded_pin(changed, config, {}) is None  # another content: another tag


def test_a_recorded_image_is_pinned_without_loading_the_registry_or_builders(
    tmp_path: Path,
) -> None:
    config = config_in(tmp_path)
    spec = ImageSpec(name="reuse/light", registry="127.0.0.1:5000")
    resolved = resolve(spec, defaults_from_config(config))
    ImageRecord.in_cache(config.cache_dir, config.record_ttl_seconds).remember(
        str(resolved.ref), str(resolved.digest), DIGEST
    )
    code = f"""
import sys
from pathlib import Path
from pack.config import Config
from pack.imagespec.spec import ImageSpec
from pack.launcher.images import ImageChoice
from pack.launcher.remote import prepare_image
config = Config(cache_dir=Path({str(config.cache_dir)!r}), registry="127.0.0.1:5000")
spec = ImageSpec(name="reuse/light", registry="127.0.0.1:5000")
choice, info = prepare_image(ImageChoice("unused", None, spec), config, {{}})
print(choice.ref, info["status"])
print(sorted(m for m in ("pack.imagespec.ensure", "pack.imagespec.registry") if m in sys.modules))
"""
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert out == [f"{resolved.ref.name}@{DIGEST} reused", "[]"]
