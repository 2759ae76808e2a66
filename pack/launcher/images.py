"""Which image a task runs in: its ImageSpec's ref, its image string, or the default.

Default (no `image=` on the task): `Config.default_image` when set, else the ref of
the default spec `ImageSpec(name="pack-default")` (the python base plus the pack
runtime, under the configured registry) - the image `pack build` of an empty spec
would produce, which has `pack-fast-execute` and `pack-execute` on its PATH. The
local backend never pulls it; remote backends need it built and pushed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pack.config import Config
    from pack.digest import Digest

DEFAULT_SPEC_NAME = "pack-default"


@dataclass(frozen=True)
class ImageChoice:
    ref: str
    spec_digest: Digest | None = None
    spec: Any = None  # the ImageSpec, when the image comes from one


def image_for(
    task_image: Any, config: Config, *, on_warning: Callable[[str], None] | None = None
) -> ImageChoice:
    """Pure apart from reading the spec's files (requirements, copy) to hash them.
    `on_warning` hears what the spec's copy= left out that looks like a secret."""
    if isinstance(task_image, str):
        return ImageChoice(task_image)
    from pack.imagespec.hashing import copy_warnings, defaults_from_config, resolve
    from pack.imagespec.spec import ImageSpec

    if task_image is None:
        if config.default_image:
            return ImageChoice(config.default_image)
        task_image = ImageSpec(name=DEFAULT_SPEC_NAME)
    resolved = resolve(task_image, defaults_from_config(config))
    if on_warning is not None:
        for warning in copy_warnings(resolved):
            on_warning(warning)
    return ImageChoice(str(resolved.ref), resolved.digest, task_image)
