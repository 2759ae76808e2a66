"""Where run records, the time-ordered index and logs live in a store. Pure.

    runs/<id>/record.json                          the run record (pack.runs.record)
    runs/<id>/inputs.pb                            (pack.launcher.execution's layout)
    runs/<id>/attempts/<n>/outputs.pb | errors.pb  (ditto)
    runs/<id>/attempts/<n>/log.txt                 attempt n's output (stdout and stderr)
    runs/<id>/attempts/<n>/pod-log.txt             the same, as a pod stored it at its end
                                                   (pack.launcher.logcapture; kubernetes)
    runs/<id>/children/<ms>-<child-id>.json        a child's summary, one per child run
    index/runs/<inverted day>/<inverted ms>-<id>.json    a top-level run's summary

Index keys sort newest first: both numbers count down from a fixed ceiling, zero
padded, so S3's ascending key order (and a sorted folder walk) is reverse time and
`pack runs --limit N` reads N entries, never the whole bucket. The day folder
keeps each folder of a file:// store small. Children sort oldest first (the order
a workflow started them).
"""

from __future__ import annotations

from pack.runs.record import check_run_id

RUNS = "runs"
INDEX = "index/runs/"
_MS_CEILING = 10**13 - 1  # milliseconds: good until the year 2286
_DAY_CEILING = 10**5 - 1
_DAY_MS = 86_400_000


def record_key(run_id: str) -> str:
    return f"{RUNS}/{check_run_id(run_id)}/record.json"


def run_prefix_key(run_id: str) -> str:
    """Everything of one run (record, inputs, attempts, children pointers) is under this."""
    return f"{RUNS}/{check_run_id(run_id)}/"


def log_key(run_id: str, attempt: int) -> str:
    return f"{RUNS}/{check_run_id(run_id)}/attempts/{int(attempt)}/log.txt"


def inputs_key(run_id: str) -> str:
    return f"{RUNS}/{check_run_id(run_id)}/inputs.pb"


def attempt_key(run_id: str, attempt: int, name: str) -> str:
    """`outputs.pb`, `errors.pb`, `timings.json`, … of one attempt (pack.launcher.execution)."""
    return f"{RUNS}/{check_run_id(run_id)}/attempts/{int(attempt)}/{name}"


def deck_key(run_id: str, attempt: int) -> str:
    return f"{RUNS}/{check_run_id(run_id)}/attempts/{int(attempt)}/deck.html"


def _ms(created_at: float) -> int:
    return max(0, min(_MS_CEILING, int(created_at * 1000)))


def index_key(created_at: float, run_id: str) -> str:
    ms = _ms(created_at)
    day = _DAY_CEILING - ms // _DAY_MS
    return f"{INDEX}{day:05d}/{_MS_CEILING - ms:013d}-{check_run_id(run_id)}.json"


def children_prefix(parent_id: str) -> str:
    return f"{RUNS}/{check_run_id(parent_id)}/children/"


def child_key(parent_id: str, created_at: float, child_id: str) -> str:
    return f"{children_prefix(parent_id)}{_ms(created_at):013d}-{check_run_id(child_id)}.json"


def run_id_of(key: str) -> str | None:
    """The run id an index or child key names (None for any other key)."""
    name = key.rpartition("/")[2]
    if not name.endswith(".json") or "-" not in name:
        return None
    candidate = name[: -len(".json")].partition("-")[2]
    try:
        return check_run_id(candidate)
    except Exception:  # noqa: BLE001 - a stray key is not a run
        return None


def index_time(key: str) -> float | None:
    """When the run an index key names was created (seconds), from the key alone."""
    name = key.rpartition("/")[2]
    digits = name.partition("-")[0]
    if not digits.isdigit():
        return None
    return (_MS_CEILING - int(digits)) / 1000
