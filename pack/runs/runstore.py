"""RunStore: run records, their time-ordered index, child links and logs in one store.

The API every writer of runs uses (the run pipeline for every run, a workflow
driver for each child it starts):

    runs = RunStore.open(store_url)           # S3: the endpoint pack.packager.store uses
    record = new_record(run_id, task="wf.train", backend="kubernetes", now=time.time(),
                        parent=parent_id, index=3)          # index: a map_task element
    runs.put(record)                                        # record + index entry or child link
    runs.put(record := record.attempt_started(1, name=pod_name, now=time.time()))
    runs.put(record := record.attempt_ended(1, succeeded=True, now=time.time()))
    runs.put(record.finished("succeeded", now=time.time(), timings=...))
    runs.put_log(run_id, 1, text)

and what readers use: `get(id)`, `recent(limit=, status=, task=)` (top-level runs,
newest first), `children(id)`, `tree(id)`, `get_log(id, attempt)`.

A top-level run is listed in the index; a child run is linked from its parent
(`runs/<parent>/children/…`) instead, so a map over a thousand elements does not
flood `pack runs` and its tree is read without scanning other runs. Each writer
writes only its own keys, so concurrent children never race on a shared object.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

from pack.errors import StoreError
from pack.runs import keys
from pack.runs.record import RunRecord, Status

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

    from pack.packager.store import Store

READ_THREADS = 8


_T = TypeVar("_T")
_R = TypeVar("_R")


def _pool() -> ThreadPoolExecutor:
    """A thread pool for parallel reads; concurrent.futures is imported here, not by the
    writers (every `pack run` records its run through this module)."""
    from concurrent.futures import ThreadPoolExecutor

    return ThreadPoolExecutor(READ_THREADS)


def _map(fn: Callable[[_T], _R], items: Sequence[_T]) -> list[_R]:
    """`fn` over `items` in parallel reads; one item (the common case: a run with one
    call, a tree's root) is read here, without starting a pool."""
    if len(items) <= 1:
        return [fn(item) for item in items]
    with _pool() as pool:
        return list(pool.map(fn, items))


def new_record(
    run_id: str,
    *,
    task: str,
    backend: str,
    now: float,
    image: str | None = None,
    bundle_digest: str | None = None,
    inputs: dict[str, object] | None = None,
    max_attempts: int = 1,
    parent: str | None = None,
    index: int | None = None,
    kind: str = "task",
    cache: str | None = None,
    project: str = "default",
    domain: str = "development",
    detached: bool = False,
    deck: bool = False,
) -> RunRecord:
    """A pending run; checked as a record read back from a store would be."""
    record = RunRecord(
        id=run_id,
        task=task,
        backend=backend,
        status="pending",
        created_at=now,
        updated_at=now,
        image=image,
        bundle_digest=bundle_digest,
        inputs=dict(inputs or {}),
        max_attempts=max_attempts,
        parent=parent,
        index=index,
        kind=kind,
        cache=cache,
        project=project,
        domain=domain,
        detached=detached,
        deck=deck,
    )
    return RunRecord.from_dict(record.to_dict(), f"for run {run_id}")


@dataclass(frozen=True)
class RunTree:
    """A run and its children, each a tree in turn (children sorted by index, then time)."""

    record: RunRecord
    children: tuple[RunTree, ...] = field(default_factory=tuple)

    def walk(self) -> Iterator[tuple[int, RunRecord]]:
        """(depth, record) for this run and every descendant, depth first."""
        yield 0, self.record
        for child in self.children:
            for depth, record in child.walk():
                yield depth + 1, record

    def to_dict(self) -> dict[str, object]:
        data = self.record.to_dict()
        data["children"] = [c.to_dict() for c in self.children]
        return data


class RunStore:
    """Run records in a `Store` (file:// or s3://)."""

    def __init__(self, store: Store, url: str) -> None:
        self.store = store
        self.url = url  # the store's URL, for messages

    @classmethod
    def open(cls, store_url: str) -> RunStore:
        from pack.packager.store import open_store

        return cls(open_store(store_url), store_url.rstrip("/"))

    # --- writing -------------------------------------------------------------------------

    def put(self, record: RunRecord) -> None:
        """Write `record`, then its index entry (top-level) or its link in the parent.

        The record goes first: an index entry never names a record that is not there."""
        self.store.put_bytes(keys.record_key(record.id), record.to_json())
        summary = record.summary().to_json()
        if record.parent is None:
            self.store.put_bytes(keys.index_key(record.created_at, record.id), summary)
        else:
            self.store.put_bytes(
                keys.child_key(record.parent, record.created_at, record.id), summary
            )

    def put_log(self, run_id: str, attempt: int, text: str | bytes) -> None:
        data = text.encode("utf-8", errors="replace") if isinstance(text, str) else text
        self.store.put_bytes(keys.log_key(run_id, attempt), data)

    # --- reading -------------------------------------------------------------------------

    def missing(self, run_id: str) -> StoreError:
        return StoreError(f"no run {run_id} in store {self.url}")

    def get(self, run_id: str) -> RunRecord:
        """The record of `run_id`; StoreError naming the store when it has none."""
        key = keys.record_key(run_id)
        try:
            data = self.store.get_bytes(key)
        except StoreError:
            if not self.store.exists(key):
                raise self.missing(run_id) from None
            raise
        return RunRecord.from_json(data, self.store.url(key))

    def get_log(self, run_id: str, attempt: int) -> str | None:
        key = keys.log_key(run_id, attempt)
        try:
            return self.store.get_bytes(key).decode("utf-8", errors="replace")
        except StoreError:
            if self.store.exists(key):
                raise
            return None

    def recent(
        self,
        *,
        limit: int = 20,
        status: Status | None = None,
        task: str | None = None,
        before: str | None = None,
        refresh: Callable[[RunRecord], RunRecord] | None = None,
    ) -> list[RunRecord]:
        """Top-level runs, newest first: at most `limit`, matching `status` and `task`
        (a task matches its full `module.name` or its last part). `before`: an index
        key to continue after (the `cursor` of the last page's last run). `refresh`
        brings a record up to date before it is filtered (pack.runs.settle)."""

        def read(key: str) -> RunRecord | None:
            record = self._read_summary(key)
            return record if record is None or refresh is None else refresh(record)

        out: list[RunRecord] = []
        batch = max(limit, 1) if status is None and task is None else max(2 * limit, 16)
        listing = self.store.list_keys(keys.INDEX, start_after=before, page_size=batch)
        with _pool() as pool:
            while len(out) < limit:
                page = [k for _, k in zip(range(batch), listing, strict=False)]
                if not page:
                    break
                for record in pool.map(read, page):
                    if record is None or not _matches(record, status, task):
                        continue
                    out.append(record)
                    if len(out) == limit:
                        break
        return out

    def children(self, run_id: str) -> list[RunRecord]:
        """The child runs linked from `run_id`, by element index, then start time."""
        links = list(self.store.list_keys(keys.children_prefix(run_id)))
        if not links:  # most runs call no task
            return []
        found = [r for r in _map(self._read_summary, links) if r is not None]
        found = [r for r in found if r.parent == run_id]
        return sorted(found, key=lambda r: (r.index is None, r.index or 0, r.created_at, r.id))

    def tree(self, run_id: str, *, depth: int = 8) -> RunTree:
        """`run_id` and its descendants, `depth` levels deep. Any run may have children
        (a workflow, a map, a task that calls tasks), so each level's children are
        listed, a level at a time and in parallel; a call answered from the cache or by
        an identical call started nothing and is not listed."""
        return self._levels([self.get(run_id)], depth)[0]

    def child_trees(self, run_id: str, *, depth: int = 8) -> list[RunTree]:
        """`tree(run_id).children` without reading `run_id`'s own record."""
        return self._levels(self.children(run_id), depth - 1)

    def _levels(self, records: list[RunRecord], depth: int) -> list[RunTree]:
        if depth <= 0 or not records:
            return [RunTree(r) for r in records]

        def kids(record: RunRecord) -> list[RunRecord]:
            return [] if record.cache in ("hit", "shared") else self.children(record.id)

        found = _map(kids, records)
        below = iter(self._levels([c for group in found for c in group], depth - 1))
        return [
            RunTree(record, tuple(next(below) for _ in group))
            for record, group in zip(records, found, strict=True)
        ]

    def _read_summary(self, key: str) -> RunRecord | None:
        """An index entry or child link; one that vanished (gc) or is unreadable is skipped."""
        try:
            return RunRecord.from_json(self.store.get_bytes(key), self.store.url(key))
        except StoreError:
            return None


def _matches(record: RunRecord, status: str | None, task: str | None) -> bool:
    if status is not None and record.status != status:
        return False
    if task is not None and task not in (record.task, record.task.rpartition(".")[2]):
        return False
    return True


def cursor_of(record: RunRecord) -> str:
    """The index key to pass as `before` to list the runs older than `record`."""
    return keys.index_key(record.created_at, record.id)
