"""What a run on a remote backend (docker, kubernetes) needs beyond a local one.

- the image built or reused and named by digest (`repo@sha256:…`), so a moved tag
  can never change what a run executes;
- the cluster's default pod template plus the credentials the user named, as the
  lowest layer of every pod;
- a small run record (backend, where the attempt runs, the store prefix) so
  `pack status ID` / `pack logs ID` find a run again, in the cache dir and beside
  the run's artifacts in the store (`runs/<id>/run.json`). It holds names, never
  credential values.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pack.errors import PackError, UsageError

if TYPE_CHECKING:
    from pack.config import Config
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
        from pack.imagespec.ensure import ensure_image

        outcome = ensure_image(choice.spec, config, environ, progress=progress)
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


# --- run records --------------------------------------------------------------------------


@dataclass(frozen=True)
class RunRecord:
    """Where a run's attempts execute and where its artifacts are. No secrets."""

    execution_id: str
    backend: str
    task: str  # module.name
    task_name: str  # what pod names are made from
    store_url: str
    run_prefix: str
    attempts: int = 1  # the latest attempt started
    max_attempts: int = 1
    namespace: str | None = None
    docker_host: str | None = None
    kube_context: str | None = None
    kubeconfig: str | None = None
    image: str | None = None
    detached: bool = False
    created_at: float = 0.0
    extra: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), indent=2, sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: bytes, origin: str) -> RunRecord:
        try:
            raw = json.loads(data)
            known = {f for f in cls.__dataclass_fields__}
            return cls(**{k: v for k, v in raw.items() if k in known})
        except (ValueError, TypeError) as exc:
            raise UsageError(f"run record {origin} is not readable: {exc}") from None


def record_path(cache_dir: Path, execution_id: str) -> Path:
    return cache_dir / "runs" / execution_id / "run.json"


def record_url(store_url: str, execution_id: str) -> str:
    from pack.launcher.execution import join_url

    return join_url(store_url, "runs", execution_id, "run.json")


def write_run_record(record: RunRecord, cache_dir: Path) -> None:
    """Atomically in the cache dir, and beside the artifacts in the store."""
    from pack.atomic import atomic_write
    from pack.packager.store import write_url

    data = record.to_json()
    atomic_write(record_path(cache_dir, record.execution_id), lambda f: f.write(data))
    write_url(record_url(record.store_url, record.execution_id), data)


def read_run_record(execution_id: str, cache_dir: Path, store_url: str) -> RunRecord:
    """From the cache dir, else from the configured store; UsageError naming both if absent."""
    from pack.errors import StoreError
    from pack.packager.store import read_url

    path = record_path(cache_dir, execution_id)
    if path.is_file():
        return RunRecord.from_json(path.read_bytes(), str(path))
    url = record_url(store_url, execution_id)
    try:
        return RunRecord.from_json(read_url(url), url)
    except StoreError:
        raise UsageError(
            f"no run {execution_id}: no record at {path} or {url}",
            hint="pass the store the run used with --store, or check the execution id",
        ) from None
