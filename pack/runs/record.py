"""The run record: what one run was asked to do and how it went. Pure data, no I/O.

A record names things (task, backend, image, bundle digest, pod or container names)
and never says where to connect: no kubeconfig, Docker host, context, namespace to
use or store URL is read from it. Records live in a store anyone with write access
could plant one in, so `from_json` checks every name it hands on
(see `pack.runs.locate` for where connection settings come from instead).

A record changes by making a new one (`attempt_started`, `attempt_ended`,
`finished`): the frozen value written last is the truth.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

from pack.errors import StoreError

FORMAT = 1
Status = Literal["pending", "running", "succeeded", "failed", "aborted"]
STATUSES: tuple[str, ...] = ("pending", "running", "succeeded", "failed", "aborted")
TERMINAL: frozenset[str] = frozenset({"succeeded", "failed", "aborted"})
BACKEND_NAMES = ("local", "docker", "kubernetes")
KINDS = ("task", "workflow")
CACHE_STATES = (None, "hit", "miss", "shared")

# Run ids are lowercase alphanumerics (pack's own ids are `r` + base36): safe in keys,
# pod names, label values and URLs. Other writers (workflow children) use the same.
_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
# A pod, container or process name: a DNS-1123 subdomain, the strictest of the three.
_NAME = re.compile(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?")
_TASK = re.compile(r"[A-Za-z_][A-Za-z0-9_.<>-]{0,254}")
MAX_INPUTS_JSON = 16 * 1024


def check_run_id(run_id: object) -> str:
    """A run id as pack writes them, or StoreError naming the value."""
    if not isinstance(run_id, str) or not _ID.fullmatch(run_id):
        raise StoreError(
            f"invalid run id {run_id!r}: expected lowercase letters, digits and '-' "
            "(e.g. r1a2b3c4d5e6f7g8)"
        )
    return run_id


@dataclass(frozen=True)
class AttemptRecord:
    """One attempt: where it ran (a pod, container or process name) and how it ended."""

    attempt: int
    status: Status = "running"
    name: str | None = None
    started_at: float | None = None
    finished_at: float | None = None
    exit_code: int | None = None
    reason: str | None = None
    message: str | None = None
    # What errors.pb said: code, message, user (bool), recoverable (bool).
    error: dict[str, Any] | None = None


@dataclass(frozen=True)
class RunRecord:
    """One run of one task (or workflow), as kept at `runs/<id>/record.json`.

    `parent` and `index` place a workflow's child run in its tree (`index`: the
    element of a map_task); `kind` says whether it ran a @workflow or a task (either
    may have children: a task's body may call tasks too).
    `inputs` is a JSON rendering for people (Files by URL); `inputs.pb` is the truth.
    """

    id: str
    task: str  # module.name
    backend: str
    status: Status = "pending"
    created_at: float = 0.0
    updated_at: float = 0.0
    image: str | None = None
    bundle_digest: str | None = None
    inputs: dict[str, Any] = field(default_factory=dict)
    attempts: tuple[AttemptRecord, ...] = ()
    max_attempts: int = 1
    timings: dict[str, float] = field(default_factory=dict)
    parent: str | None = None
    index: int | None = None
    kind: str = "task"
    project: str = "default"
    domain: str = "development"
    detached: bool = False
    deck: bool = False
    # The final failure in one line (code and message), for lists.
    error: str | None = None
    # A task with cache=True: hit (stored outputs, no attempt), miss (ran, then stored),
    # shared (an identical call of the same driver ran it).
    cache: str | None = None

    @property
    def done(self) -> bool:
        return self.status in TERMINAL

    @property
    def latest(self) -> AttemptRecord | None:
        return self.attempts[-1] if self.attempts else None

    def attempt(self, n: int) -> AttemptRecord | None:
        return next((a for a in self.attempts if a.attempt == n), None)

    # --- changes -------------------------------------------------------------------------

    def attempt_started(self, n: int, *, name: str | None, now: float) -> RunRecord:
        """Attempt `n` begins (a pod/container/process called `name`)."""
        attempts = tuple(a for a in self.attempts if a.attempt != n)
        started = AttemptRecord(attempt=n, status="running", name=name, started_at=now)
        return replace(self, status="running", attempts=(*attempts, started), updated_at=now)

    def attempt_ended(
        self,
        n: int,
        *,
        succeeded: bool,
        now: float,
        started_at: float | None = None,
        finished_at: float | None = None,
        exit_code: int | None = None,
        reason: str | None = None,
        message: str | None = None,
        error: Mapping[str, Any] | None = None,
    ) -> RunRecord:
        """Attempt `n` ended; the run's own status changes only with `finished`."""
        old = self.attempt(n) or AttemptRecord(attempt=n)
        ended = replace(
            old,
            status="succeeded" if succeeded else "failed",
            started_at=started_at if started_at is not None else old.started_at,
            finished_at=finished_at if finished_at is not None else now,
            exit_code=exit_code,
            reason=reason,
            message=message,
            error=dict(error) if error is not None else None,
        )
        attempts = tuple(ended if a.attempt == n else a for a in self.attempts)
        if old not in self.attempts:
            attempts = (*attempts, ended)
        return replace(self, attempts=attempts, updated_at=now)

    def finished(
        self,
        status: Status,
        *,
        now: float,
        timings: Mapping[str, float] | None = None,
        error: str | None = None,
    ) -> RunRecord:
        if status not in TERMINAL:
            raise ValueError(f"finished() takes a final status, not {status!r}")
        return replace(
            self,
            status=status,
            updated_at=now,
            timings=dict(timings) if timings is not None else self.timings,
            error=error,
        )

    # --- wire form ---------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["format"] = FORMAT
        return data

    def to_json(self) -> bytes:
        # Not sorted: inputs keep the signature order `pack inputs` shows them in.
        return json.dumps(self.to_dict(), separators=(",", ":")).encode()

    def summary(self) -> RunRecord:
        """The record without its inputs: what the index and child pointers hold."""
        return replace(self, inputs={})

    @classmethod
    def from_dict(cls, raw: Any, origin: str) -> RunRecord:
        """A record from its JSON form; StoreError naming `origin` and the bad field."""
        if not isinstance(raw, dict):
            raise StoreError(f"run record {origin}: not a JSON object")

        def bad(name: str, valid: str) -> StoreError:
            return StoreError(
                f"run record {origin}: {name} = {raw.get(name)!r} is not valid; expected {valid}"
            )

        try:
            check_run_id(raw.get("id"))
        except StoreError:
            raise bad("id", "a run id") from None
        if not isinstance(raw.get("task"), str) or not _TASK.fullmatch(raw["task"]):
            raise bad("task", "a dotted task name")
        if raw.get("backend") not in BACKEND_NAMES:
            raise bad("backend", " or ".join(BACKEND_NAMES))
        if raw.get("status", "pending") not in STATUSES:
            raise bad("status", ", ".join(STATUSES))
        if raw.get("kind", "task") not in KINDS:
            raise bad("kind", ", ".join(KINDS))
        if raw.get("cache") not in CACHE_STATES:
            raise bad("cache", "hit, miss, shared or null")
        parent = raw.get("parent")
        if parent is not None:
            try:
                check_run_id(parent)
            except StoreError:
                raise bad("parent", "a run id") from None
        attempts = []
        for item in raw.get("attempts") or []:
            if not isinstance(item, dict):
                raise bad("attempts", "a list of objects")
            known = {k: v for k, v in item.items() if k in AttemptRecord.__dataclass_fields__}
            try:
                attempt = AttemptRecord(**known)
            except TypeError:
                raise bad("attempts", "objects with an attempt number") from None
            if not isinstance(attempt.attempt, int) or attempt.attempt < 1:
                raise bad("attempts", "attempt numbers from 1")
            if attempt.status not in STATUSES:
                raise bad("attempts", f"attempt statuses in {', '.join(STATUSES)}")
            if attempt.name is not None and (
                not isinstance(attempt.name, str) or not _NAME.fullmatch(attempt.name)
            ):
                raise bad("attempts", "pod or container names (DNS-1123)")
            attempts.append(attempt)
        known = {
            k: v for k, v in raw.items() if k in cls.__dataclass_fields__ and k not in ("attempts",)
        }
        try:
            record = cls(**known, attempts=tuple(attempts))
        except TypeError as exc:
            raise StoreError(f"run record {origin}: {exc}") from None
        for name in ("created_at", "updated_at"):
            if not isinstance(getattr(record, name), int | float):
                raise bad(name, "seconds since the epoch")
        if not isinstance(record.max_attempts, int) or record.max_attempts < 1:
            raise bad("max_attempts", "a positive integer")
        if record.index is not None and not isinstance(record.index, int):
            raise bad("index", "an integer")
        if not isinstance(record.inputs, dict) or not isinstance(record.timings, dict):
            raise bad("inputs", "objects for inputs and timings")
        return record

    @classmethod
    def from_json(cls, data: bytes, origin: str) -> RunRecord:
        try:
            raw = json.loads(data)
        except ValueError as exc:
            raise StoreError(f"run record {origin} is not JSON: {exc}") from None
        return cls.from_dict(raw, origin)


def inputs_for_record(values: Mapping[str, Any]) -> dict[str, Any]:
    """Inputs as JSON for people; any value whose JSON would make the record big is
    replaced by a note (`pack inputs ID` decodes inputs.pb in full)."""
    out: dict[str, Any] = {}
    budget = MAX_INPUTS_JSON
    for name, value in values.items():
        text = json.dumps(value, default=str)
        if len(text) > budget:
            out[name] = f"<{len(text)} bytes of JSON; see `pack inputs`>"
        else:
            out[name] = value
            budget -= len(text)
    return out
