"""What the console shows, computed from run records: pure functions, no I/O."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from pack.runs.record import RunRecord
from pack.runs.runstore import RunTree

# Phases of a run in the order they happen (pack.launcher.run's timings).
PHASES = (
    ("package", "package"),
    ("publish", "publish"),
    ("image", "image"),
    ("inputs", "inputs"),
    ("render", "render"),
    ("spawn", "start"),
    ("task", "task"),
    ("exit", "exit"),
    ("read_back", "read back"),
)


def when(seconds: float | None) -> str:
    """Local date and time ('-' when unknown)."""
    if not seconds:
        return "-"
    return dt.datetime.fromtimestamp(seconds).strftime("%Y-%m-%d %H:%M:%S")


def took(record: RunRecord) -> str:
    total = record.timings.get("total")
    if isinstance(total, int | float):
        return f"{total:.2f}s"
    if not record.done and record.created_at:
        return "…"
    return "-"


@dataclass(frozen=True)
class Bar:
    name: str
    start: float  # percent of the total
    width: float  # percent of the total
    seconds: float


def timeline(timings: dict[str, float]) -> list[Bar]:
    """The run's phases as bars along its total time (phases it did not have are left out)."""
    present = [(label, timings[key]) for key, label in PHASES if timings.get(key, 0) > 0]
    total = timings.get("total") or sum(s for _, s in present)
    if not present or total <= 0:
        return []
    bars, offset = [], 0.0
    for label, seconds in present:
        start = min(100.0, 100.0 * offset / total)
        width = max(0.5, min(100.0 - start, 100.0 * seconds / total))
        bars.append(Bar(label, round(start, 2), round(width, 2), seconds))
        offset += seconds
    return bars


@dataclass(frozen=True)
class Node:
    record: RunRecord
    children: list[Node] = field(default_factory=list)


def tree_nodes(tree: RunTree) -> list[Node]:
    """The children of a run as nested nodes (the run itself is the page)."""

    def node(t: RunTree) -> Node:
        return Node(t.record, [node(c) for c in t.children])

    return [node(c) for c in tree.children]


def status_counts(tree: RunTree) -> dict[str, int]:
    counts: dict[str, int] = {}
    for depth, record in tree.walk():
        if depth:
            counts[record.status] = counts.get(record.status, 0) + 1
    return counts


def shown(value: Any) -> str:
    """A decoded value for a page: strings as they are, the rest as indented JSON."""
    import json

    if isinstance(value, str):
        return value
    if isinstance(value, dict | list):
        return json.dumps(value, indent=2, sort_keys=True, default=str)
    return json.dumps(value, default=str)
