"""What every store must do for run records: checked on file:// here and on real S3
in tests/integration/test_runs_s3.py (the same functions, another Store)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pack.packager.store import Store
from pack.runs import keys
from pack.runs.record import RunRecord
from pack.runs.runstore import RunStore, new_record

T0 = 1_760_000_000.0  # a fixed clock: 2025-10-09


class CountingStore:
    """A Store wrapper counting how many keys its listings handed out."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self.listed = 0

    def list_keys(
        self, prefix: str = "", *, start_after: str | None = None, page_size: int | None = None
    ) -> Iterator[str]:
        for key in self.inner.list_keys(prefix, start_after=start_after, page_size=page_size):
            self.listed += 1
            yield key

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def make_run(
    runs: RunStore,
    i: int,
    *,
    status: str = "succeeded",
    task: str = "wf.main",
    parent: str | None = None,
    index: int | None = None,
    kind: str = "task",
) -> RunRecord:
    run_id = f"r{i:04d}x"
    record = new_record(
        run_id,
        task=task,
        backend="local",
        now=T0 + i * 61.5,
        parent=parent,
        index=index,
        kind=kind,
        inputs={"x": i},
    )
    record = record.attempt_started(1, name=f"main-{run_id}-1", now=T0 + i * 61.5 + 1)
    runs.put(record)
    if status != "running":
        record = record.attempt_ended(1, succeeded=status == "succeeded", now=T0 + i * 61.5 + 2)
        record = record.finished(status, now=T0 + i * 61.5 + 2)  # type: ignore[arg-type]
        runs.put(record)
    return record


def check_newest_first_without_listing_everything(store: Store, url: str) -> None:
    counting = CountingStore(store)
    runs = RunStore(counting, url)  # type: ignore[arg-type]
    made = [make_run(runs, i, status="failed" if i % 3 == 0 else "succeeded") for i in range(40)]
    counting.listed = 0
    newest = runs.recent(limit=5)
    assert [r.id for r in newest] == [r.id for r in reversed(made)][:5]
    assert counting.listed == 5  # five index keys read, not forty
    assert newest[0].inputs == {}  # the index holds summaries
    assert runs.get(newest[0].id).inputs == {"x": 39}

    failed = runs.recent(limit=3, status="failed")
    assert [r.id for r in failed] == ["r0039x", "r0036x", "r0033x"]
    assert runs.recent(limit=100, task="main") == runs.recent(limit=100, task="wf.main")
    assert len(runs.recent(limit=100)) == 40
    assert runs.recent(limit=5, task="other") == []
    # Pages continue after a cursor.
    from pack.runs.runstore import cursor_of

    page2 = runs.recent(limit=5, before=cursor_of(newest[-1]))
    assert [r.id for r in page2] == [r.id for r in reversed(made)][5:10]


def check_tree_and_logs(store: Store, url: str) -> None:
    runs = RunStore(store, url)
    parent = make_run(runs, 1, status="running", kind="task", task="wf.fanout")
    for element in (2, 0, 1):
        make_run(
            runs,
            10 + element,
            parent=parent.id,
            index=element,
            task="wf.square",
            status="failed" if element == 1 else "succeeded",
        )
    tree = runs.tree(parent.id)
    assert [c.record.index for c in tree.children] == [0, 1, 2]
    assert [c.record.status for c in tree.children] == ["succeeded", "failed", "succeeded"]
    assert [depth for depth, _ in tree.walk()] == [0, 1, 1, 1]
    # Children are in their parent's tree, not in the top-level list.
    assert [r.id for r in runs.recent(limit=10)] == [parent.id]
    nested = tree.to_dict()
    assert [c["index"] for c in nested["children"]] == [0, 1, 2]  # type: ignore[index, union-attr]
    # The same children, as pack run -o json nests them, without the root's record.
    assert [t.to_dict() for t in runs.child_trees(parent.id)] == nested["children"]

    assert runs.get_log(parent.id, 1) is None
    runs.put_log(parent.id, 1, "line one\nlíne two\n")
    assert runs.get_log(parent.id, 1) == "line one\nlíne two\n"
    assert store.exists(keys.log_key(parent.id, 1))
