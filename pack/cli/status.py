"""`pack status ID` and `pack logs ID`: a run on a remote backend, found again by its id.

The run record (`runs/<id>/run.json` in the cache dir, else in the store) says
which backend ran it and where. The store answers first — `outputs.pb` or
`errors.pb` of an attempt mean it is over, even when its pod is long gone —
then the backend says how a still-running attempt is doing.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from pack.cli.common import config_from, echo_json, output_option


def _literal_value(lit: Any) -> Any:
    """A typeless reading of a flyteidl Literal: enough to show a run's outputs."""
    kind = lit.WhichOneof("value")
    if kind == "scalar":
        scalar = lit.scalar
        which = scalar.WhichOneof("value")
        if which == "primitive":
            prim = scalar.primitive
            field = prim.WhichOneof("value")
            value: Any = getattr(prim, field) if field else None
            return value.ToJsonString() if hasattr(value, "ToJsonString") else value
        if which == "none_type":
            return None
        if which == "blob":
            return scalar.blob.uri
        if which == "binary":
            import msgpack

            try:
                return msgpack.unpackb(scalar.binary.value)
            except Exception:  # noqa: BLE001 - not MessagePack: show its size
                return f"<{len(scalar.binary.value)} bytes>"
        if which == "generic":
            from google.protobuf.json_format import MessageToDict

            return MessageToDict(scalar.generic)
        return f"<{which}>"
    if kind == "collection":
        return [_literal_value(v) for v in lit.collection.literals]
    if kind == "map":
        return {k: _literal_value(v) for k, v in lit.map.literals.items()}
    return None


def _open(record: Any, config: Any) -> Any:
    from pack.launcher.run import open_backend

    overrides: dict[str, Any] = {}
    if record.namespace:
        overrides["namespace"] = record.namespace
    if record.docker_host and not config.docker_host:
        overrides["docker_host"] = record.docker_host
    if record.kube_context and not config.kube_context:
        overrides["kube_context"] = record.kube_context
    if record.kubeconfig and not config.kubeconfig:
        from pathlib import Path

        overrides["kubeconfig"] = Path(record.kubeconfig)
    # The record's store, not the configured one: the run's artifacts are there.
    return open_backend(
        record.backend, config.replace(store=record.store_url, **overrides), os.environ
    )


def _handle(record: Any, attempt: int) -> Any:
    from pack.launcher.backends.base import RunHandle
    from pack.launcher.execution import Execution
    from pack.launcher.podspec import pod_name

    execution = Execution(record.execution_id, "", "", record.store_url, attempt)
    return RunHandle(
        record.backend,
        record.execution_id,
        attempt,
        pod_name(record.task_name, execution),
        record.namespace,
    )


def _read(url: str) -> bytes | None:
    from pack.errors import StoreError
    from pack.packager.store import read_url

    try:
        return read_url(url)
    except StoreError:
        return None


def run_status(execution_id: str, config: Any) -> dict[str, Any]:
    """The state of run `execution_id` as a JSON-able dict (see module docstring)."""
    from flyteidl.core import errors_pb2
    from flyteidl.core.literals_pb2 import LiteralMap

    from pack.errors import PackError
    from pack.launcher.execution import Execution
    from pack.launcher.remote import read_run_record

    record = read_run_record(execution_id, config.cache_dir, config.store_url)
    report: dict[str, Any] = {
        "execution_id": record.execution_id,
        "backend": record.backend,
        "task": record.task,
        "artifacts": record.run_prefix,
        "namespace": record.namespace,
    }
    if record.detached:
        # Nothing stays behind to start attempt 2 when attempt 1 fails recoverably.
        report["note"] = (
            "detached run: one attempt only, a failure is not retried "
            "(run without --detach for the task's retries)"
        )
    backend = None
    try:
        # Latest attempt first: the first one with a trace is where the run stands.
        for attempt in range(max(record.max_attempts, record.attempts), 0, -1):
            execution = Execution(record.execution_id, "", "", record.store_url, attempt)
            handle = _handle(record, attempt)
            report.update(attempt=attempt, name=handle.name)
            outputs = _read(execution.outputs_url)
            if outputs is not None:
                lits = LiteralMap.FromString(outputs).literals
                report.update(
                    state="succeeded", outputs={k: _literal_value(v) for k, v in lits.items()}
                )
                return report
            errors = _read(execution.errors_url)
            if errors is not None:
                err = errors_pb2.ErrorDocument.FromString(errors).error
                report.update(state="failed", error={"code": err.code, "message": err.message})
                return report
            if backend is None:
                backend = _open(record, config)
            try:
                result = backend.status(handle)
            except PackError:
                continue  # no pod/container for this attempt (never started, or removed)
            state = result.phase.lower()
            if state == "succeeded":
                state = "finishing"  # the container ended; outputs.pb is on its way
            report.update(state=state, reason=result.reason, exit_code=result.exit_code)
            if result.message:
                report["error"] = {"code": result.reason, "message": result.message}
            return report
        report.update(state="unknown", attempt=None, name=None)
        report["error"] = {
            "code": "Gone",
            "message": "no outputs, no error document and no pod or container for any attempt",
        }
        return report
    finally:
        if backend is not None:
            backend.close()


@click.command("status")
@click.argument("execution_id")
@click.option("--store", default=None, help="The store the run used (when not in the cache).")
@output_option
def status(execution_id: str, store: str | None, output: str) -> None:
    """Show the state of run EXECUTION_ID: attempt, pod or container, outputs when done."""
    config = config_from(store=store)
    report = run_status(execution_id, config)
    if output == "json":
        echo_json(report)
    else:
        click.echo(f"{report['execution_id']}: {report['state']}")
        for key in ("task", "backend", "attempt", "name", "namespace", "artifacts", "note"):
            if report.get(key) is not None:
                click.echo(f"  {key}: {report[key]}")
        for name, value in (report.get("outputs") or {}).items():
            click.echo(f"  output {name}: {value}")
        if report.get("error"):
            message = report["error"]["message"].rstrip()
            click.echo("  error: " + message.replace("\n", "\n    "))
    if report["state"] in ("failed", "unknown"):
        sys.exit(1)


@click.command("logs")
@click.argument("execution_id")
@click.option("--follow", "-f", is_flag=True, help="Keep printing as the run writes.")
@click.option("--attempt", type=int, default=None, help="Which attempt (default: the latest).")
@click.option("--store", default=None, help="The store the run used (when not in the cache).")
def logs(execution_id: str, follow: bool, attempt: int | None, store: str | None) -> None:
    """Print the logs of run EXECUTION_ID (its pod or container must still exist)."""
    from pack.errors import PackError
    from pack.launcher.remote import read_run_record

    config = config_from(store=store)
    record = read_run_record(execution_id, config.cache_dir, config.store_url)
    backend = _open(record, config)
    try:
        attempts = (
            [attempt] if attempt else list(range(max(record.max_attempts, record.attempts), 0, -1))
        )
        last: PackError | None = None
        for n in attempts:
            try:
                lines = backend.logs(_handle(record, n), follow=follow)
                first = next(lines, None)
            except PackError as exc:
                last = exc
                continue
            if first is not None:
                click.echo(first)
            for line in lines:
                click.echo(line)
            return
        if last is not None:
            raise last
    finally:
        backend.close()
