"""`pack status ID` and `pack logs ID`: any run, found again by its id.

The run record in the store (pack.runs) says which backend ran it and the names
of its pods or containers; the store answers first (a finished run needs no
backend), then, for a run still going on a remote backend, the backend is asked,
reached with the user's own settings only (pack.runs.locate).
"""

from __future__ import annotations

import os
import sys
import time
from typing import TYPE_CHECKING, Any

import click

from pack.cli.common import config_from, echo_json, output_option

if TYPE_CHECKING:
    from pack.config import Config
    from pack.launcher.backends.base import Backend, RunHandle
    from pack.runs.locate import Located
    from pack.runs.record import RunRecord

store_option = click.option(
    "--store",
    default=None,
    help="The store to look in (default: the one this machine's run used, else the configured one).",
)
LOG_POLL_SECONDS = 1.0


def _open(located: Located, config: Config) -> Backend:
    from pack.launcher.run import open_backend
    from pack.runs.locate import backend_config

    return open_backend(located.record.backend, backend_config(config, located), os.environ)


def _handle(record: RunRecord, attempt: int) -> RunHandle | None:
    from pack.launcher.backends.base import RunHandle

    found = record.attempt(attempt)
    if found is None or found.name is None:
        return None
    # No namespace: the backend uses the one the user's settings give it.
    return RunHandle(record.backend, record.id, attempt, found.name, None)


def _read(located: Located, key: str) -> bytes | None:
    from pack.errors import StoreError

    try:
        return located.runs.store.get_bytes(key)
    except StoreError:
        return None


def run_status(located: Located, config: Config) -> dict[str, Any]:
    """The state of a run as a JSON-able dict: the record, brought up to date from
    the store and, for a run still going on a remote backend, from the backend."""
    from pack.errors import PackError
    from pack.runs import keys
    from pack.runs.literals import literal_map_values
    from pack.runs.settle import settle

    record = settle(located.runs, located.record)
    latest = record.latest
    report: dict[str, Any] = {
        "execution_id": record.id,
        "state": record.status,
        "task": record.task,
        "backend": record.backend,
        "image": record.image,
        "bundle_digest": record.bundle_digest,
        "artifacts": f"{located.runs.url}/{keys.run_prefix_key(record.id)}".rstrip("/"),
        "attempt": latest.attempt if latest else None,
        "name": latest.name if latest else None,
        "created_at": record.created_at,
        "updated_at": record.updated_at,
        "timings": record.timings,
        "parent": record.parent,
        "index": record.index,
    }
    if located.connection is not None and located.connection.namespace:
        report["namespace"] = located.connection.namespace
    if record.detached:
        # Nothing stays behind to start attempt 2 when attempt 1 fails recoverably.
        report["note"] = (
            "detached run: one attempt only, a failure is not retried "
            "(run without --detach for the task's retries)"
        )
    if latest is not None and record.status == "succeeded":
        data = _read(located, keys.attempt_key(record.id, latest.attempt, "outputs.pb"))
        if data is not None:
            report["outputs"] = literal_map_values(data)
    elif latest is not None and record.status in ("failed", "aborted"):
        error = latest.error or {"code": latest.reason, "message": latest.message or record.error}
        report["error"] = {"code": error.get("code"), "message": error.get("message") or ""}
    elif latest is not None and record.backend != "local" and latest.name:
        handle = _handle(record, latest.attempt)
        try:
            backend = _open(located, config)
            try:
                assert handle is not None
                result = backend.status(handle)
            finally:
                backend.close()
        except PackError as exc:
            report["note"] = f"recorded state; the {record.backend} backend did not answer: {exc}"
        else:
            state = result.phase.lower()
            if state == "succeeded":
                state = "finishing"  # the container ended; outputs.pb is on its way
            report.update(state=state, reason=result.reason, exit_code=result.exit_code)
            if result.message:
                report["error"] = {"code": result.reason, "message": result.message}
    if record.cache is not None:
        report["cache"] = record.cache
    children = [c.to_dict() for c in located.runs.tree(record.id).children]
    if children or record.kind != "task":
        report["children"] = children
    return report


def _echo_tree(children: list[dict[str, Any]], indent: str) -> None:
    for i, child in enumerate(children):
        last = i == len(children) - 1
        branch = "└─ " if last else "├─ "
        where = f"[{child['index']}] " if child.get("index") is not None else ""
        took = child.get("timings", {}).get("total")
        extra = f" {took:.2f}s" if isinstance(took, int | float) else ""
        click.echo(
            f"{indent}{branch}{where}{child['task']} {child['id']}: {child['status']}{extra}"
        )
        _echo_tree(child.get("children") or [], indent + ("   " if last else "│  "))


@click.command("status")
@click.argument("execution_id")
@store_option
@output_option
def status(execution_id: str, store: str | None, output: str) -> None:
    """Show the state of run EXECUTION_ID: attempt, pod or container, outputs when done."""
    from pack.runs.literals import plain
    from pack.runs.locate import locate

    config = config_from(store=store)
    report = run_status(locate(execution_id, config, store=store), config)
    if output == "json":
        echo_json(report)
    else:
        click.echo(f"{report['execution_id']}: {report['state']}")
        for key in (
            "task",
            "backend",
            "attempt",
            "name",
            "namespace",
            "cache",
            "artifacts",
            "note",
        ):
            if report.get(key) is not None:
                click.echo(f"  {key}: {report[key]}")
        for name, value in (report.get("outputs") or {}).items():
            click.echo(f"  output {name}: {plain(value)}")
        if report.get("error"):
            message = str(report["error"]["message"]).rstrip()
            click.echo("  error: " + message.replace("\n", "\n    "))
        if report.get("children") is not None:
            click.echo(f"  children: {len(report['children'])}")
            _echo_tree(report["children"], "    ")
    if report["state"] in ("failed", "aborted", "unknown"):
        sys.exit(1)


@click.command("logs")
@click.argument("execution_id")
@click.option("--follow", "-f", is_flag=True, help="Keep printing as the run writes.")
@click.option("--attempt", type=int, default=None, help="Which attempt (default: the latest).")
@store_option
def logs(execution_id: str, follow: bool, attempt: int | None, store: str | None) -> None:
    """Print the log of run EXECUTION_ID (kept in the store; a running remote
    attempt is read from its pod or container)."""
    from pack.errors import PackError, UsageError
    from pack.runs.locate import locate
    from pack.runs.settle import settle

    config = config_from(store=store)
    located = locate(execution_id, config, store=store)
    record = settle(located.runs, located.record)
    latest = record.latest
    if latest is None:
        if record.cache in ("hit", "shared"):
            raise UsageError(
                f"run {record.id} was answered from the cache ({record.cache}): nothing ran, no log"
            )
        raise UsageError(f"run {record.id} has not started an attempt; no log yet")
    n = attempt or latest.attempt
    if record.attempt(n) is None:
        numbers = ", ".join(str(a.attempt) for a in record.attempts)
        raise UsageError(f"run {record.id} has no attempt {n}; attempts: {numbers}")
    kept = located.runs.get_log(record.id, n)
    running = not record.done and n == latest.attempt
    if record.backend != "local" and (running or kept is None):
        try:
            _backend_log(located, config, record, n, follow=follow)
            return
        except PackError:
            if kept is None and running:
                raise
    if kept is None and not running:
        raise UsageError(f"run {record.id} attempt {n}: no log was kept in {located.runs.url}")
    if follow and running:
        _follow_store(located, n, kept or "")
    else:
        click.echo(kept or "", nl=False)


def _backend_log(
    located: Located, config: Config, record: RunRecord, n: int, *, follow: bool
) -> None:
    """Print attempt `n`'s log from its pod or container; once that attempt is over
    and the store has no copy, keep one there (a detached run's log outlives its pod)."""
    from pack.errors import LaunchError
    from pack.runs.settle import settle

    handle = _handle(record, n)
    if handle is None:
        raise LaunchError(f"run {record.id} attempt {n}: no pod or container name recorded")
    backend = _open(located, config)
    lines: list[str] = []
    try:
        for line in backend.logs(handle, follow=follow):
            click.echo(line)
            lines.append(line)
    finally:
        backend.close()
    now = settle(located.runs, located.runs.get(record.id))
    if now.done and located.runs.get_log(record.id, n) is None:
        located.runs.put_log(record.id, n, "".join(f"{line}\n" for line in lines))


def _follow_store(located: Located, n: int, shown: str) -> None:
    """Print the stored log as the run's client keeps it current, until the run ends."""
    click.echo(shown, nl=False)
    while True:
        time.sleep(LOG_POLL_SECONDS)
        record = located.runs.get(located.record.id)
        text = located.runs.get_log(record.id, n) or ""
        if text.startswith(shown):
            click.echo(text[len(shown) :], nl=False)
        else:  # the kept log was cut at its front: print what is new by length
            click.echo(text[len(shown) :] if len(text) > len(shown) else "", nl=False)
        shown = text
        if record.done or (record.latest is not None and record.latest.attempt != n):
            return
