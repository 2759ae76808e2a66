"""What the pod may know of the user's credentials: only what the user names.

pack never copies local credentials into a pod by itself. Two explicit ways in:

- `--pass-env VAR` (repeatable): the *value* of a named local variable goes into
  the primary container's env — e.g. AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and
  boto3's endpoint variables AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL, so the same
  settings work on a laptop, in CI and in the pod. The rendered manifest names
  them in the `pack.dev/pass-env` annotation; the kubernetes backend moves their
  values into a per-pod Secret (`pass_env_secret`) so that the pod spec, which
  anyone who can list pods reads, holds only `secretKeyRef`s; the docker backend
  writes them to a private `--env-file`.
- `--env-from-secret NAME` (repeatable): `envFrom: [{secretRef: {name: NAME}}]`, for
  a Kubernetes Secret that already holds them (the docker backend cannot use it).

A service account set in the default pod template is the third way, and needs
nothing here. Pure: the CLI hands in its environment; nothing reads os.environ.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pack.errors import UsageError
from pack.packager.store import ENV_NETWORK_TIMEOUT, ENV_S3_ENDPOINT

# Names (never values) of the env entries that came from --pass-env.
PASS_ENV_ANNOTATION = "pack.dev/pass-env"
# The name of the Secret a pod's --pass-env values come from (not a value).
ENV_PASS_ENV_SECRET = "PACK_PASS_ENV_SECRET"
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\Z")
# Secret names are DNS subdomains.
_SECRET_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\Z")


@dataclass(frozen=True)
class PodCredentials:
    """Env values the user asked to pass, and secrets to expose as env."""

    env: Mapping[str, str] = field(default_factory=dict)
    secrets: tuple[str, ...] = ()

    @property
    def names(self) -> list[str]:
        """The variable names only: safe to print or record, unlike `env`."""
        return sorted(self.env)

    def __repr__(self) -> str:  # never show values
        return f"PodCredentials(env={self.names!r}, secrets={self.secrets!r})"

    def __bool__(self) -> bool:
        return bool(self.env or self.secrets)


def pod_credentials(
    pass_env: Iterable[str], env_from_secret: Iterable[str], environ: Mapping[str, str]
) -> PodCredentials:
    """Check the names and look up the values of `pass_env` in `environ`.

    A named variable that is unset is an error rather than silently empty: a pod
    without its endpoint would talk to real AWS.
    """
    env: dict[str, str] = {}
    for name in pass_env:
        if not _ENV_NAME.match(name):
            raise UsageError(f"--pass-env {name!r}: not a variable name (letters, digits, _)")
        if name.startswith("PACK_EXECUTION") or name in (
            "PACK_ATTEMPT",
            ENV_S3_ENDPOINT,
            ENV_NETWORK_TIMEOUT,
        ):
            raise UsageError(f"--pass-env {name}: pack sets this variable in the pod itself")
        if name not in environ:
            raise UsageError(
                f"--pass-env {name}: not set in your environment",
                hint=f"export {name}=... first, or drop --pass-env {name}",
            )
        env[name] = environ[name]
    secrets: list[str] = []
    for name in env_from_secret:
        if not _SECRET_NAME.match(name) or len(name) > 253:
            raise UsageError(
                f"--env-from-secret {name!r}: not a valid Secret name "
                "(lowercase letters, digits, '-' and '.')"
            )
        if name not in secrets:
            secrets.append(name)
    return PodCredentials(env=env, secrets=tuple(secrets))


def credentials_manifest(creds: PodCredentials, primary: str) -> dict[str, Any]:
    """Pure: a pod-template layer putting `creds` on the container named `primary`."""
    if not creds:
        return {}
    container: dict[str, Any] = {"name": primary}
    layer: dict[str, Any] = {"spec": {"containers": [container]}}
    if creds.env:
        container["env"] = [{"name": k, "value": v} for k, v in creds.env.items()]
        layer["metadata"] = {"annotations": {PASS_ENV_ANNOTATION: ",".join(creds.names)}}
    if creds.secrets:
        container["envFrom"] = [{"secretRef": {"name": s}} for s in creds.secrets]
    return layer


def pass_env_secret(
    manifest: Mapping[str, Any], secret_name: str, container_name: str | None = None
) -> tuple[dict[str, Any], dict[str, str]]:
    """Pure: `manifest` with the values of its `--pass-env` variables (named in the
    PASS_ENV_ANNOTATION) replaced by `secretKeyRef`s to `secret_name`, and the data
    that Secret must hold. Nothing to move: the manifest (a copy) and `{}`.

    Only the primary container (`container_name`, else the first) gets the values:
    that is where `credentials_manifest` put them.
    """
    out = copy.deepcopy(dict(manifest))
    annotations = (out.get("metadata") or {}).get("annotations") or {}
    names = {n for n in str(annotations.get(PASS_ENV_ANNOTATION, "")).split(",") if n}
    containers = (out.get("spec") or {}).get("containers") or []
    if not names or not containers:
        return out, {}
    container = next((c for c in containers if c.get("name") == container_name), containers[0])
    data: dict[str, str] = {}
    for item in container.get("env") or []:
        if item.get("name") in names and item.get("valueFrom") is None:
            value = item.pop("value", None)
            data[str(item["name"])] = "" if value is None else str(value)
            item["valueFrom"] = {"secretKeyRef": {"name": secret_name, "key": item["name"]}}
    if data:
        # A driver in this pod hands the same Secret to the children it starts.
        env = container.setdefault("env", [])
        env[:] = [e for e in env if e.get("name") != ENV_PASS_ENV_SECRET]
        env.append({"name": ENV_PASS_ENV_SECRET, "value": secret_name})
    return out, data
