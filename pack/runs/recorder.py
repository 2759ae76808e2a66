"""Recorder: the run record of one run kept current while it runs.

The run pipeline (and anything else that runs attempts) calls it at each step;
each call writes the new record through a RunStore. The log of each attempt is
stored while it runs (from a LogCapture, when the caller has one) and when it
ends (else the tail the backend reported).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from pack.runs.logs import LiveLog, LogCapture
from pack.runs.record import RunRecord, Status
from pack.runs.runstore import RunStore

if TYPE_CHECKING:
    from pack.background import Background


class Recorder:
    def __init__(
        self,
        runs: RunStore,
        record: RunRecord,
        *,
        capture: LogCapture | None = None,
        clock: Callable[[], float] = time.time,
        live_interval: float = 2.0,
    ) -> None:
        self.runs = runs
        self.record = record
        self.capture = capture
        self.clock = clock
        self.live_interval = live_interval

    def _put(self, record: RunRecord) -> None:
        self.runs.put(record)
        self.record = record

    @contextmanager
    def attempt(
        self, n: int, *, name: str | None, writes: Background | None = None
    ) -> Iterator[None]:
        """Attempt `n` (pod/container `name`) runs inside the block. An exception
        out of it (Ctrl-C, a backend error) marks the run aborted or failed, with
        the log so far, before it propagates. `writes`: the record saying the
        attempt started is written there, beside the block (the pod is created
        meanwhile); the block waits for it before the attempt can end."""
        if self.capture is not None:
            self.capture.take()  # what came before this attempt is not its log
        started = self.record.attempt_started(n, name=name, now=self.clock())
        if writes is None:
            self._put(started)
        else:
            self.record = started
            writes.start("record", self.runs.put, started)
        try:
            if self.capture is None:
                yield
            else:
                capture = self.capture
                with LiveLog(
                    capture,
                    lambda text: self.runs.put_log(self.record.id, n, text),
                    interval=self.live_interval,
                ):
                    yield
        except BaseException as exc:
            status: Status = "aborted" if isinstance(exc, KeyboardInterrupt) else "failed"
            if getattr(exc, "exit_code", None) == 130:  # the backends' RunInterrupted
                status = "aborted"
            message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            if writes is not None:
                writes.settle()  # the failed record is written after the started one
            now = self.clock()
            record = self.record.attempt_ended(
                n, succeeded=False, now=now, reason=type(exc).__name__, message=message
            )
            try:
                if self.capture is not None:
                    self.runs.put_log(self.record.id, n, self.capture.take())
                self._put(record.finished(status, now=now, error=message))
            except Exception:  # noqa: BLE001, S110 - the original error is the one to report
                pass
            raise

    def attempt_ended(
        self,
        n: int,
        *,
        succeeded: bool,
        log_tail: str = "",
        started_at: float | None = None,
        finished_at: float | None = None,
        exit_code: int | None = None,
        reason: str | None = None,
        message: str | None = None,
        error: Mapping[str, Any] | None = None,
        write: bool = True,
    ) -> None:
        """Store attempt `n`'s log and outcome (`write=False`: the record is written
        by the `finish` that follows at once)."""
        log = self.capture.take() if self.capture is not None else log_tail
        self.runs.put_log(self.record.id, n, log)
        record = self.record.attempt_ended(
            n,
            succeeded=succeeded,
            now=self.clock(),
            started_at=started_at,
            finished_at=finished_at,
            exit_code=exit_code,
            reason=reason,
            message=message,
            error=error,
        )
        if write:
            self._put(record)
        else:
            self.record = record

    def submitted(self) -> None:
        """A detached attempt was started: the record stays running; `pack status`
        and `pack runs` bring it up to date from the store's outputs or errors."""
        self._put(self.record)

    def finish(
        self, status: Status, *, timings: Mapping[str, float], error: str | None = None
    ) -> None:
        self._put(self.record.finished(status, now=self.clock(), timings=timings, error=error))
