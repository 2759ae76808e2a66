"""Settling a detached run from the store; where status/logs may connect."""

from __future__ import annotations

from pathlib import Path

from flyteidl.core import errors_pb2
from flyteidl.core.literals_pb2 import LiteralMap

from pack.config import Config
from pack.packager.store import FileStore
from pack.runs import keys
from pack.runs.connection import Connection, write_connection
from pack.runs.locate import backend_config, locate
from pack.runs.runstore import RunStore, new_record
from pack.runs.settle import settle


def started(runs: RunStore, run_id: str, *, detached: bool, max_attempts: int = 1):  # type: ignore[no-untyped-def]
    record = new_record(
        run_id,
        task="wf.main",
        backend="kubernetes",
        now=10.0,
        detached=detached,
        max_attempts=max_attempts,
    ).attempt_started(1, name=f"main-{run_id}-1", now=11.0)
    runs.put(record)
    return record


def test_a_detached_run_is_settled_and_rewritten_from_its_outputs(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    runs = RunStore(store, tmp_path.as_uri())
    record = started(runs, "rdet", detached=True)
    assert settle(runs, record) == record  # nothing in the store yet
    store.put_bytes(keys.attempt_key("rdet", 1, "outputs.pb"), LiteralMap().SerializeToString())
    (tmp_path / keys.attempt_key("rdet", 1, "outputs.pb")).touch()
    import os

    os.utime(tmp_path / keys.attempt_key("rdet", 1, "outputs.pb"), (20.0, 20.0))
    settled = settle(runs, record, clock=lambda: 99.0)
    # Ended when outputs.pb was written, not when it was noticed.
    assert settled.status == "succeeded" and settled.updated_at == 20.0
    assert runs.get("rdet").status == "succeeded"
    assert runs.recent(limit=1)[0].status == "succeeded"  # the index entry too


def test_an_attached_run_is_shown_settled_but_not_rewritten(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    runs = RunStore(store, tmp_path.as_uri())
    record = started(runs, "ratt", detached=False, max_attempts=2)
    doc = errors_pb2.ErrorDocument(
        error=errors_pb2.ContainerError(
            code="E", message="boom", kind=errors_pb2.ContainerError.RECOVERABLE
        )
    )
    store.put_bytes(keys.attempt_key("ratt", 1, "errors.pb"), doc.SerializeToString())
    # Recoverable, with an attempt left: its client may be starting attempt 2.
    assert settle(runs, record).status == "running"
    doc.error.kind = errors_pb2.ContainerError.NON_RECOVERABLE
    store.put_bytes(keys.attempt_key("ratt", 1, "errors.pb"), doc.SerializeToString())
    shown = settle(runs, record)
    assert shown.status == "failed" and shown.error == "E: boom"
    assert runs.get("ratt").status == "running"  # the client's record is left alone


def test_only_the_users_own_cache_record_supplies_connection_settings(tmp_path: Path) -> None:
    store_url = (tmp_path / "store").as_uri()
    runs = RunStore.open(store_url)
    started(runs, "rmine", detached=True)
    started(runs, "rtheirs", detached=True)
    config = Config(cache_dir=tmp_path / "cache", store=store_url, namespace="default")
    write_connection(
        Connection(
            run_id="rmine",
            backend="kubernetes",
            store_url=store_url,
            namespace="team-a",
            kubeconfig="/home/me/.kube/team-a",
            kube_context="team-a",
        ),
        config.cache_dir,
    )
    mine = backend_config(config, locate("rmine", config))
    assert mine.namespace == "team-a" and str(mine.kubeconfig) == "/home/me/.kube/team-a"
    assert mine.kube_context == "team-a"
    theirs = backend_config(config, locate("rtheirs", config))
    assert theirs.namespace == "default" and theirs.kubeconfig is None
    assert theirs.kube_context is None and theirs.store == store_url
    # The user's own settings win over the remembered ones.
    own = config.replace(kubeconfig=Path("/etc/mine"))
    assert str(backend_config(own, locate("rmine", own)).kubeconfig) == "/etc/mine"
