"""One frozen Config, built once by the CLI from [tool.pack], PACK_* variables and flags.

Precedence, lowest to highest: built-in defaults < [tool.pack] in the nearest
pyproject.toml < PACK_* environment variables < command-line flags. Library code
never reads the environment; it receives this object.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pack.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def default_cache_dir(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    if env.get("PACK_CACHE_DIR"):
        return Path(env["PACK_CACHE_DIR"]).expanduser()
    base = env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "pack"


@dataclass(frozen=True)
class Config:
    """Everything a command needs to know about its surroundings."""

    cache_dir: Path = field(default_factory=default_cache_dir)
    # Images
    registry: str | None = None
    builder: str = "docker"
    default_image: str | None = None
    python_base: str | None = None  # FROM for specs without base_image; may use {python_version}
    build_ca_bundle: Path | None = None
    build_cache: str | None = None
    insecure_registries: tuple[str, ...] = ()
    docker_config: Path | None = None
    # DOCKER_HOST for builds (None: docker's default) and the docker CLI to build with.
    docker_host: str | None = None
    docker_cli: str | None = None
    record_ttl_seconds: int = 3600
    # Code bundles
    store: str | None = None
    compression: str = "zstd"
    max_bundle_bytes: int = 1_000_000_000
    s3_endpoint_url: str | None = None
    # Seconds to wait for a store or registry to connect and for each read before the
    # request counts as failed (and is retried); None: boto3's 60 s, the registry's 30 s.
    network_timeout: float | None = None
    # Runs
    backend: str = "local"
    project: str = "default"
    domain: str = "development"
    namespace: str = "default"
    kubeconfig: Path | None = None
    kube_context: str | None = None
    pod_template: Path | None = None
    # Where [tool.pack] was read from, if anywhere; relative paths in it resolve here.
    project_root: Path | None = None

    @property
    def store_url(self) -> str:
        """The store to use: the configured one, else a file:// store under the cache dir."""
        if self.store:
            return self.store
        return (self.cache_dir / "store").resolve().as_uri()

    def replace(self, **changes: Any) -> Config:
        return dataclasses.replace(self, **changes)


_FIELDS = {f.name: f for f in dataclasses.fields(Config) if f.name != "project_root"}
_PATH_FIELDS = {"cache_dir", "build_ca_bundle", "docker_config", "kubeconfig", "pod_template"}
_INT_FIELDS = {"record_ttl_seconds", "max_bundle_bytes"}
_FLOAT_FIELDS = {"network_timeout"}
_TUPLE_FIELDS = {"insecure_registries"}
_ENDPOINT_FIELDS = {"s3_endpoint_url"}
_CHOICES = {
    "builder": ("docker", "oci"),
    "backend": ("local", "docker", "kubernetes"),
    "compression": ("zstd", "gzip"),
}


def find_pyproject(start: Path) -> Path | None:
    for folder in [start, *start.parents]:
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            return candidate
    return None


def _coerce(name: str, value: Any, origin: str, base: Path | None) -> Any:
    if value is None:
        return None
    if name in _PATH_FIELDS:
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{origin}: {name} must be a path string, got {value!r}")
        path = Path(value).expanduser()
        if not path.is_absolute() and base is not None:
            path = base / path
        return path
    if name in _INT_FIELDS:
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{origin}: {name} must be an integer, got {value!r}") from None
        if number <= 0:
            raise ConfigError(f"{origin}: {name} must be positive, got {value!r}")
        return number
    if name in _FLOAT_FIELDS:
        try:
            seconds = float(value)
        except (TypeError, ValueError):
            seconds = float("nan")
        if isinstance(value, bool) or not 0 < seconds < float("inf"):
            raise ConfigError(
                f"{origin}: {name} must be a positive number of seconds, got {value!r}"
            )
        return seconds
    if name in _TUPLE_FIELDS:
        if isinstance(value, str):
            items = [v.strip() for v in value.split(",") if v.strip()]
        elif isinstance(value, list) and all(isinstance(v, str) for v in value):
            items = value
        else:
            raise ConfigError(f"{origin}: {name} must be a list of strings, got {value!r}")
        return tuple(items)
    if not isinstance(value, str):
        raise ConfigError(f"{origin}: {name} must be a string, got {value!r}")
    if name in _ENDPOINT_FIELDS:
        return _endpoint(name, value, origin)
    if name in _CHOICES and value not in _CHOICES[name]:
        valid = ", ".join(_CHOICES[name])
        raise ConfigError(f"{origin}: {name} = {value!r} is not one of: {valid}")
    return value


def _endpoint(name: str, value: str, origin: str) -> str:
    """An http(s)://host[:port][/path] URL. It goes into every pod's env, so one carrying
    credentials is refused (and not echoed back)."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        parts = None
    if parts is not None and (parts.username or parts.password):
        raise ConfigError(
            f"{origin}: {name} must not carry credentials; "
            "give them through AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or ~/.aws"
        )
    if (
        parts is None
        or parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.query
        or parts.fragment
        or value != value.strip()
    ):
        raise ConfigError(f"{origin}: {name} must be an http(s)://host[:port] URL, got {value!r}")
    return value


def _from_table(table: Mapping[str, Any], origin: str, base: Path | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in table.items():
        name = key.replace("-", "_")
        if name not in _FIELDS:
            valid = ", ".join(sorted(_FIELDS))
            raise ConfigError(f"{origin}: unknown key {key!r}; valid keys: {valid}")
        out[name] = _coerce(name, value, origin, base)
    return out


def load_config(
    cwd: Path,
    env: Mapping[str, str],
    overrides: Mapping[str, Any] | None = None,
) -> Config:
    """Build the Config for a command run in `cwd` with environment `env`."""
    values: dict[str, Any] = {"cache_dir": default_cache_dir(env)}
    pyproject = find_pyproject(cwd)
    project_root = None
    if pyproject is not None:
        try:
            data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"{pyproject}: cannot read [tool.pack]: {exc}") from None
        table = data.get("tool", {}).get("pack")
        if table is not None:
            if not isinstance(table, dict):
                raise ConfigError(f"{pyproject}: [tool.pack] must be a table")
            project_root = pyproject.parent
            values.update(_from_table(table, f"{pyproject} [tool.pack]", project_root))
    for name in _FIELDS:
        var = f"PACK_{name.upper()}"
        if env.get(var):
            values[name] = _coerce(name, env[var], var, cwd)
    for name, value in (overrides or {}).items():
        if value is not None:
            values[name] = (
                _coerce(name, value, f"--{name.replace('_', '-')}", cwd)
                if isinstance(value, str)
                else value
            )
    return Config(project_root=project_root, **values)
