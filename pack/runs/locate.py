"""Finding a run again by its id, and what a command may use to reach its backend.

The store a run is read from is the one the user names (`--store`), else the one
the user's own run remembered in the cache dir (pack.runs.connection), else the
configured store, then the other stores this user's runs went to (a workflow's
child has no note of its own). Connection settings for the backend (namespace, Docker host,
kube context, kubeconfig) come from the user's configuration and flags, or from
that same cache-dir record. The store's run record contributes the backend's name
and the pod or container names only: a record planted in a shared store cannot
choose a kubeconfig (whose exec plugin would run), a Docker host or another store.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pack.errors import StoreError, UsageError
from pack.runs.connection import Connection, read_connection, remembered_stores
from pack.runs.record import RunRecord, check_run_id
from pack.runs.runstore import RunStore

if TYPE_CHECKING:
    from pack.config import Config


@dataclass(frozen=True)
class Located:
    record: RunRecord
    runs: RunStore
    connection: Connection | None  # the user's own, from the cache dir


def locate(run_id: str, config: Config, *, store: str | None = None) -> Located:
    """The record of `run_id`; UsageError naming the store looked in when it has none."""
    try:
        check_run_id(run_id)
    except StoreError as exc:
        raise UsageError(str(exc)) from None
    connection = read_connection(config.cache_dir, run_id)
    if store:
        candidates = [store]
    elif connection is not None:
        candidates = [connection.store_url]
    else:
        # A run this machine started has a note; a workflow's child has none, but its
        # store is one this user's runs went to.
        candidates = [config.store_url]
        candidates += [s for s in remembered_stores(config.cache_dir) if s != config.store_url]
    for store_url in candidates:
        runs = RunStore.open(store_url)
        try:
            return Located(runs.get(run_id), runs, connection)
        except StoreError as exc:
            if exc.message != runs.missing(run_id).message:
                raise
    others = f" (nor in {', '.join(candidates[1:])})" if len(candidates) > 1 else ""
    raise UsageError(f"no run {run_id} in store {candidates[0].rstrip('/')}{others}")


def backend_config(config: Config, located: Located) -> Config:
    """`config` (the user's own) for the run's backend: its store is the one the
    record was found in; the cache-dir record of the user's run may fill in the
    connection settings the user did not set. Nothing comes from the store's record."""
    overrides: dict[str, Any] = {"store": located.runs.url}
    connection = located.connection
    if connection is not None and connection.backend == located.record.backend:
        from pathlib import Path

        if connection.namespace:
            overrides["namespace"] = connection.namespace
        if connection.docker_host and not config.docker_host:
            overrides["docker_host"] = connection.docker_host
        if connection.kube_context and not config.kube_context:
            overrides["kube_context"] = connection.kube_context
        if connection.kubeconfig and not config.kubeconfig:
            overrides["kubeconfig"] = Path(connection.kubeconfig)
    return config.replace(**overrides)
