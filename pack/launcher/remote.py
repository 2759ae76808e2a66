"""What a run on a remote backend (docker, kubernetes) needs beyond a local one.

- the image built or reused and named by digest (`repo@sha256:…`), so a moved tag
  can never change what a run executes;
- the cluster's default pod template plus the credentials the user named, as the
  lowest layer of every pod.

Run records (every backend) are pack.runs'.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pack.errors import PackError

if TYPE_CHECKING:
    from pack.config import Config
    from pack.imagespec.hashing import ResolvedSpec
    from pack.launcher.images import ImageChoice


# --- images -------------------------------------------------------------------------------


def prepare_image(
    choice: ImageChoice,
    config: Config,
    environ: Mapping[str, str],
    *,
    progress: Any = None,
) -> tuple[ImageChoice, dict[str, Any]]:
    """An ImageSpec's image reused or built and pushed, its ref pinned by digest.

    A plain image string is pinned too when the registry answers with a digest;
    when it cannot (no registry access), the string is used as given.
    """
    from pack.launcher.images import ImageChoice

    if choice.spec is not None:
        from pack.imagespec.reuse import recorded_pin

        resolutions: dict[int, ResolvedSpec] = {}  # the spec's files are read once
        recorded = recorded_pin(choice.spec, config, resolutions)
        if recorded is not None:
            pinned, spec_digest = recorded
            reused: dict[str, Any] = {"ref": pinned, "status": "reused", "digest": pinned}
            return ImageChoice(pinned, spec_digest, choice.spec), reused
        from pack.imagespec.ensure import ensure_image

        outcome = ensure_image(
            choice.spec, config, environ, progress=progress, resolved=resolutions
        )
        ref = outcome.pinned or str(outcome.ref)
        info = {"ref": ref, "status": outcome.status, "digest": outcome.pinned}
        return ImageChoice(ref, outcome.spec_digest, choice.spec), info
    if "@sha256:" in choice.ref:
        return choice, {"ref": choice.ref, "status": "given", "digest": choice.ref}
    from pack.imagespec.ensure import ensurer_from_config
    from pack.imagespec.ref import ImageRef

    try:
        parsed = ImageRef.parse(choice.ref)
        digest = ensurer_from_config(config, environ).registry.lookup(parsed)
    except (PackError, ValueError):
        digest = None
    if digest is None:
        return choice, {"ref": choice.ref, "status": "given", "digest": None}
    pinned = parsed.with_digest(digest).by_digest
    return ImageChoice(pinned, choice.spec_digest, None), {
        "ref": pinned,
        "status": "given",
        "digest": pinned,
    }


# --- pod defaults -------------------------------------------------------------------------


def base_template(
    pod_template: Path | None,
    pass_env: Sequence[str],
    env_from_secret: Sequence[str],
    environ: Mapping[str, str],
    primary: str,
) -> dict[str, Any] | None:
    """The lowest pod layer: the operator's default template, then the named credentials."""
    from pack.launcher.credentials import credentials_manifest, pod_credentials
    from pack.launcher.podspec import merge_manifests
    from pack.launcher.podtemplate_file import load_pod_template

    layer: dict[str, Any] = {}
    if pod_template is not None:
        layer = load_pod_template(pod_template, primary)
    creds = pod_credentials(pass_env, env_from_secret, environ)
    if creds:
        layer = merge_manifests(layer, credentials_manifest(creds, primary))
    return layer or None
