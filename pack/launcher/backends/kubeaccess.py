"""Where the Kubernetes API is and how to authenticate to it, from a kubeconfig or
the pod's service account, for `kubehttp` (pack's own small API client).

Pure except for reading the kubeconfig and the service account's files. Only what
pack can honour exactly is accepted: a server URL, its CA (file or data) or
insecure-skip-tls-verify, tls-server-name, and a bearer token (inline or a file),
a client certificate and key (files or data), or a username and password. Anything
else a kubeconfig may ask for (exec credential plugins, auth-provider, proxy-url,
impersonation, unknown keys) raises `NeedsOfficialClient`: `make_api` then uses the
official `kubernetes` client, which implements them, at the cost of its import.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")

_CLUSTER_KEYS = {
    "server",
    "certificate-authority",
    "certificate-authority-data",
    "insecure-skip-tls-verify",
    "tls-server-name",
    "disable-compression",  # pack never asks for compressed answers
    "extensions",
}
_USER_KEYS = {
    "token",
    "tokenFile",
    "client-certificate",
    "client-certificate-data",
    "client-key",
    "client-key-data",
    "username",
    "password",
    "extensions",
}


class NeedsOfficialClient(Exception):
    """The configuration asks for something only the official client implements."""


class AccessError(Exception):
    """The configuration is broken (names a context, cluster or user it lacks; bad data)."""


@dataclass(frozen=True)
class ClusterAccess:
    server: str  # https://host:port[/path]
    ca_pem: bytes | None = None  # None: the system's CA certificates
    insecure: bool = False
    tls_server_name: str | None = None
    token: str | None = None
    token_file: str | None = None  # re-read: service account tokens rotate
    client_cert_pem: bytes | None = None
    client_key_pem: bytes | None = None
    username: str | None = None
    password: str | None = None

    def __repr__(self) -> str:  # never print a credential
        return f"ClusterAccess(server={self.server!r})"


def _named(items: Any, name: str, what: str, origin: str) -> Mapping[str, Any]:
    for item in items or []:
        if isinstance(item, Mapping) and item.get("name") == name:
            body = item.get(what)
            return body if isinstance(body, Mapping) else {}
    raise AccessError(f"{origin}: no {what} named {name!r}")


def _file_or_data(entry: Mapping[str, Any], key: str, base: Path, origin: str) -> bytes | None:
    data = entry.get(f"{key}-data")
    if data:
        try:
            return base64.b64decode(str(data), validate=True)
        except ValueError:
            raise AccessError(f"{origin}: {key}-data is not valid base64") from None
    path = entry.get(key)
    if path:
        full = Path(os.path.expanduser(str(path)))
        if not full.is_absolute():
            full = base / full  # relative to the kubeconfig's folder, as kubectl reads it
        try:
            return full.read_bytes()
        except OSError as exc:
            raise AccessError(f"{origin}: cannot read {key} {full}: {exc.strerror}") from None
    return None


def from_kubeconfig(doc: Any, path: Path, context: str | None) -> ClusterAccess:
    """Pure but for the files the kubeconfig names: the access of `context` (else the
    current context) of the parsed kubeconfig at `path`."""
    origin = str(path)
    if not isinstance(doc, Mapping):
        raise AccessError(f"{origin}: not a kubeconfig (expected a mapping)")
    name = context or doc.get("current-context")
    if not name:
        raise AccessError(f"{origin}: no current-context; pass a context")
    ctx = _named(doc.get("contexts"), str(name), "context", origin)
    cluster = _named(doc.get("clusters"), str(ctx.get("cluster", "")), "cluster", origin)
    user_name = ctx.get("user")
    user = _named(doc.get("users"), str(user_name), "user", origin) if user_name else {}
    odd = sorted(set(cluster) - _CLUSTER_KEYS) + sorted(set(user) - _USER_KEYS)
    if odd:
        raise NeedsOfficialClient(f"{origin} uses {odd[0]}")
    server = str(cluster.get("server") or "")
    if not server.startswith(("https://", "http://")):
        raise AccessError(f"{origin}: cluster {ctx.get('cluster')!r} has no server URL")
    base = path.parent
    token_file = user.get("tokenFile")
    if token_file and not os.path.isabs(str(token_file)):
        token_file = str(base / str(token_file))
    return ClusterAccess(
        server=server.rstrip("/"),
        ca_pem=_file_or_data(cluster, "certificate-authority", base, origin),
        insecure=bool(cluster.get("insecure-skip-tls-verify")),
        tls_server_name=cluster.get("tls-server-name") or None,
        token=str(user["token"]) if user.get("token") else None,
        token_file=str(token_file) if token_file else None,
        client_cert_pem=_file_or_data(user, "client-certificate", base, origin),
        client_key_pem=_file_or_data(user, "client-key", base, origin),
        username=str(user["username"]) if user.get("username") else None,
        password=str(user["password"]) if user.get("password") else None,
    )


def in_cluster(env: Mapping[str, str], account: Path = SERVICE_ACCOUNT) -> ClusterAccess:
    """The pod's own service account, as the official client's load_incluster_config."""
    host, port = env.get("KUBERNETES_SERVICE_HOST"), env.get("KUBERNETES_SERVICE_PORT")
    if not host or not port:
        raise AccessError("KUBERNETES_SERVICE_HOST/PORT are not set")
    token = account / "token"
    try:
        ca = (account / "ca.crt").read_bytes()
    except OSError as exc:
        raise AccessError(f"cannot read {account / 'ca.crt'}: {exc.strerror}") from None
    if not token.is_file():
        raise AccessError(f"no service account token at {token}")
    if ":" in host:  # an IPv6 address
        host = f"[{host}]"
    return ClusterAccess(server=f"https://{host}:{port}", ca_pem=ca, token_file=str(token))
