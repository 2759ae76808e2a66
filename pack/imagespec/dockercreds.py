"""Registry credentials from a Docker config file, the way the docker CLI finds them.

Order for a registry host: `credHelpers[host]` (a `docker-credential-<name>`
helper), else `credsStore` (the helper for every registry), else the `auths`
entry (base64 `user:password`, or an `identitytoken`). A helper that has no entry
falls back to `auths`, as docker does. Nothing here prints or logs a secret; the
`Credentials` repr hides it.
"""

from __future__ import annotations

import base64
import binascii
import json
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pack.errors import ConfigError, RegistryError

DOCKER_HUB_KEY = "https://index.docker.io/v1/"
_HUB_ALIASES = {"docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"}

# (helper name, host) -> the helper's JSON answer, or None when it has no entry.
HelperRunner = Callable[[str, str], "Mapping[str, Any] | None"]


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str = field(repr=False)
    # An OAuth2 refresh token (`identitytoken`, or a helper's `<token>` user).
    identity_token: str | None = field(default=None, repr=False)


def default_config_path(docker_config: Path | None, home: Path) -> Path:
    """`config.json` inside `docker_config` (Config.docker_config / $DOCKER_CONFIG) or ~/.docker."""
    folder = docker_config if docker_config is not None else home / ".docker"
    return folder / "config.json" if folder.suffix != ".json" else folder


def normalize_host(key: str) -> str:
    """`https://host:5000/v1/` -> `host:5000`; Docker Hub spellings -> `docker.io`."""
    host = key.split("://", 1)[-1].split("/", 1)[0].lower()
    return "docker.io" if host in _HUB_ALIASES else host


def _helper_key(host: str) -> str:
    return DOCKER_HUB_KEY if normalize_host(host) == "docker.io" else host


def run_helper(name: str, server: str) -> Mapping[str, Any] | None:
    """`docker-credential-<name> get` with the server on stdin; None when it has no entry."""
    program = f"docker-credential-{name}"
    try:
        proc = subprocess.run(
            [program, "get"], input=server, capture_output=True, text=True, timeout=30
        )
    except FileNotFoundError:
        raise RegistryError(
            f"{server}: credential helper {program} named in the Docker config is not on PATH"
        ) from None
    except subprocess.TimeoutExpired:
        raise RegistryError(f"{server}: credential helper {program} timed out") from None
    if proc.returncode != 0:
        # Helpers say "credentials not found in native keychain" for a missing entry.
        if "not found" in (proc.stdout + proc.stderr).lower():
            return None
        raise RegistryError(
            f"{server}: credential helper {program} failed (exit {proc.returncode})"
        )
    try:
        answer = json.loads(proc.stdout)
    except json.JSONDecodeError:
        raise RegistryError(f"{server}: credential helper {program} did not answer JSON") from None
    if not isinstance(answer, dict):
        raise RegistryError(f"{server}: credential helper {program} did not answer an object")
    return answer


def _from_helper(answer: Mapping[str, Any]) -> Credentials | None:
    user = str(answer.get("Username") or "")
    secret = str(answer.get("Secret") or "")
    if not secret:
        return None
    if user == "<token>":
        return Credentials(username="", password="", identity_token=secret)
    return Credentials(username=user, password=secret)


def _from_auths_entry(entry: Mapping[str, Any], origin: str) -> Credentials | None:
    token = entry.get("identitytoken")
    auth = entry.get("auth")
    user, password = entry.get("username"), entry.get("password")
    if isinstance(auth, str) and auth:
        try:
            decoded = base64.b64decode(auth, validate=False).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise ConfigError(f"{origin}: `auth` is not base64 of user:password") from None
        user, sep, password = decoded.partition(":")
        if not sep:
            raise ConfigError(f"{origin}: `auth` is not base64 of user:password")
    if isinstance(token, str) and token:
        return Credentials(username=str(user or ""), password="", identity_token=token)
    if isinstance(user, str) and isinstance(password, str) and user:
        return Credentials(username=user, password=password)
    return None


def credentials_for(
    host: str, config: Mapping[str, Any], *, origin: str, helper: HelperRunner = run_helper
) -> Credentials | None:
    """Credentials for registry `host` from a parsed Docker config (pure but for the helper)."""
    wanted = normalize_host(host)
    helpers = config.get("credHelpers") or {}
    helper_name = None
    if isinstance(helpers, dict):
        for key, name in helpers.items():
            if normalize_host(key) == wanted and isinstance(name, str):
                helper_name = name
                break
    if helper_name is None and isinstance(config.get("credsStore"), str):
        helper_name = config["credsStore"]
    if helper_name:
        answer = helper(helper_name, _helper_key(host))
        creds = _from_helper(answer) if answer else None
        if creds is not None:
            return creds
    auths = config.get("auths") or {}
    if isinstance(auths, dict):
        for key, entry in auths.items():
            if normalize_host(key) == wanted and isinstance(entry, dict):
                return _from_auths_entry(entry, f"{origin}: auths[{key!r}]")
    return None


def load_docker_config(path: Path) -> dict[str, Any]:
    """The parsed config.json; an absent file is an empty config."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read Docker config: {exc.strerror}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not valid JSON (line {exc.lineno}): fix or remove it") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a Docker config must be a JSON object")
    return data


class DockerCredentials:
    """Reads the Docker config once and answers per host (cached: helpers are slow)."""

    def __init__(self, path: Path, helper: HelperRunner = run_helper) -> None:
        self.path = path
        self._helper = helper
        self._config: dict[str, Any] | None = None
        self._cache: dict[str, Credentials | None] = {}

    def get(self, host: str) -> Credentials | None:
        if host not in self._cache:
            if self._config is None:
                self._config = load_docker_config(self.path)
            self._cache[host] = credentials_for(
                host, self._config, origin=str(self.path), helper=self._helper
            )
        return self._cache[host]
