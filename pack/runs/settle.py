"""Bringing a record that says "running" up to date from what its attempt left in the store.

A detached run has no client to write its end: its latest attempt's `outputs.pb`
or `errors.pb` says how it ended, and the record is rewritten to say so. A run
whose client is (or was) still writing is only shown settled, never rewritten,
so a late read here cannot overwrite what that client writes next.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from pack.errors import StoreError
from pack.runs import keys
from pack.runs.record import RunRecord
from pack.runs.runstore import RunStore


def read_error(runs: RunStore, run_id: str, attempt: int) -> dict[str, object] | None:
    """errors.pb of an attempt as {code, message, user, recoverable}; None when absent."""
    from flyteidl.core import errors_pb2, execution_pb2

    try:
        data = runs.store.get_bytes(keys.attempt_key(run_id, attempt, "errors.pb"))
    except StoreError:
        return None
    try:
        err = errors_pb2.ErrorDocument.FromString(data).error
    except Exception:  # noqa: BLE001 - an unreadable document is still an error
        return {"code": "Unreadable", "message": "errors.pb is not an ErrorDocument"}
    return {
        "code": err.code,
        "message": err.message,
        "user": err.origin != execution_pb2.ExecutionError.SYSTEM,
        "recoverable": err.kind == errors_pb2.ContainerError.RECOVERABLE,
    }


def settle(
    runs: RunStore,
    record: RunRecord,
    *,
    clock: Callable[[], float] = time.time,
    write: bool = True,
) -> RunRecord:
    """`record`, finished if its latest attempt's outputs or errors are in the store
    (`write=False`: never rewritten, e.g. by a dry run)."""
    latest = record.latest
    if record.done or latest is None:
        return record
    n = latest.attempt
    # The attempt ended when its outputs.pb or errors.pb was written, not when it is noticed.
    ended = runs.store.modified(keys.attempt_key(record.id, n, "outputs.pb"))
    if ended is not None:
        settled = record.attempt_ended(n, succeeded=True, now=ended, finished_at=ended)
        settled = settled.finished("succeeded", now=ended)
    else:
        error = read_error(runs, record.id, n)
        if error is None:
            return record
        final = record.detached or n >= record.max_attempts or not error.get("recoverable")
        if not final:
            return record  # its client may be starting the next attempt
        ended = runs.store.modified(keys.attempt_key(record.id, n, "errors.pb")) or clock()
        lines = [ln for ln in str(error.get("message", "")).splitlines() if ln.strip()]
        line = f"{error.get('code')}: {lines[-1] if lines else ''}".strip()
        settled = record.attempt_ended(
            n, succeeded=False, now=ended, finished_at=ended, error=error
        )
        settled = settled.finished("failed", now=ended, error=line)
    if record.detached and write:
        try:
            runs.put(settled)
        except StoreError:
            pass  # a read-only store: shown settled all the same
    return settled
