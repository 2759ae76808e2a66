"""How the user's own run reached its backend and store, kept in the user's cache dir.

This is the only place connection settings of a past run are remembered: the
store, the namespace, the Docker host, the kube context and kubeconfig. It is
written by `pack run` on this machine, for this user, and never copied to a store:
a record read from a store (which others may write to) says which backend and
names, never where to connect or what to execute (issue 15.1).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from pack.runs.record import check_run_id

FILE_NAME = "connection.json"


@dataclass(frozen=True)
class Connection:
    run_id: str
    backend: str
    store_url: str
    namespace: str | None = None
    docker_host: str | None = None
    kube_context: str | None = None
    kubeconfig: str | None = None


def connection_path(cache_dir: Path, run_id: str) -> Path:
    return cache_dir / "runs" / check_run_id(run_id) / FILE_NAME


def write_connection(connection: Connection, cache_dir: Path) -> None:
    from pack.atomic import atomic_write

    data = json.dumps(asdict(connection), indent=2, sort_keys=True).encode()
    atomic_write(
        connection_path(cache_dir, connection.run_id), lambda f: f.write(data), durable=False
    )


def read_connection(cache_dir: Path, run_id: str) -> Connection | None:
    """The connection this user's run wrote, or None (not run here, or unreadable)."""
    path = connection_path(cache_dir, run_id)
    try:
        raw = json.loads(path.read_bytes())
        known = {k: v for k, v in raw.items() if k in Connection.__dataclass_fields__}
        connection = Connection(**known)
    except (OSError, ValueError, TypeError, AttributeError):
        return None
    if connection.run_id != run_id or not isinstance(connection.store_url, str):
        return None
    return connection


def remembered_stores(cache_dir: Path, *, limit: int = 200) -> list[str]:
    """The stores this user's recent runs went to (newest first, each once): where a
    run without a note of its own (a workflow's child) is looked for next."""
    try:
        notes = [p / FILE_NAME for p in (cache_dir / "runs").iterdir()]
    except OSError:
        return []
    dated = []
    for note in notes:
        try:
            dated.append((note.stat().st_mtime, note))
        except OSError:
            continue
    stores: list[str] = []
    for _, note in sorted(dated, reverse=True)[:limit]:
        connection = read_connection(cache_dir, note.parent.name)
        if connection is not None and connection.store_url not in stores:
            stores.append(connection.store_url)
    return stores
