"""gc decisions, pure: ages, trees, references, bundles, image-record entries."""

from __future__ import annotations

import pytest

from pack.errors import UsageError
from pack.gc.plan import (
    RunEntry,
    bundles_to_delete,
    decide_runs,
    id_time,
    image_entries_to_delete,
    keep_referenced,
    parse_age,
)
from pack.launcher.execution import new_execution_id
from pack.runs.runstore import new_record

DAY = 86_400.0
NOW = 1_800_000_000.0
CUTOFF = NOW - 7 * DAY


def entry(
    run_id: str,
    *,
    age_days: float,
    status: str = "succeeded",
    parent: str | None = None,
    kind: str = "task",
    bundle: str | None = None,
) -> RunEntry:
    when = NOW - age_days * DAY
    record = new_record(
        run_id,
        task="wf.t",
        backend="local",
        now=when,
        parent=parent,
        kind=kind,
        bundle_digest=bundle,
    )
    if status != "pending":
        record = record.attempt_started(1, name=None, now=when)
    if status in ("succeeded", "failed"):
        record = record.finished(status, now=when)  # type: ignore[arg-type]
    return RunEntry(run_id, record, (f"runs/{run_id}/record.json",))


def test_ages() -> None:
    assert (
        parse_age("7d") == 7 * DAY
        and parse_age("12h") == 43_200
        and parse_age("1.5w") == 1.5 * 604_800
    )
    for bad in ("7", "d", "-1d", "0d", "7 days", "7d\n1"):
        with pytest.raises(UsageError, match="--older-than"):
            parse_age(bad)
    assert id_time(new_execution_id(now=1_700_000_123)) == 1_700_000_123
    assert id_time("rnotanid") is None and id_time("custom-id") is None


def test_trees_expire_by_their_root_and_running_runs_stay() -> None:
    runs = {
        e.id: e
        for e in [
            entry("rold", age_days=30, kind="workflow"),
            entry("roldchild", age_days=30, parent="rold", kind="task"),
            entry("roldgrand", age_days=30, parent="roldchild"),
            entry("rnew", age_days=1, kind="workflow"),
            entry("rnewchild", age_days=30, parent="rnew"),  # old, but its root is kept
            entry("rrunning", age_days=30, status="pending"),
            entry("rfailed", age_days=8, status="failed"),
        ]
    }
    runs["rorphan"] = RunEntry(new_execution_id(now=NOW - 20 * DAY), None, ("x",))
    orphan_id = runs["rorphan"].id
    runs[orphan_id] = runs.pop("rorphan")
    runs["custom"] = RunEntry("custom", None, ("y",))
    decision = decide_runs(runs, cutoff=CUTOFF)
    assert sorted(decision.expired) == sorted(
        ["rold", "roldchild", "roldgrand", "rfailed", orphan_id]
    )
    assert decision.expired["roldgrand"] == "in the tree of rold"
    assert "still going" in decision.kept["rrunning"]
    assert decision.kept["rnewchild"] == "in the tree of rnew"
    assert "no time" in decision.kept["custom"]


def test_a_kept_runs_inputs_keep_the_runs_they_point_into() -> None:
    runs = {
        e.id: e
        for e in [
            entry("rsource", age_days=30, kind="workflow"),
            entry("rsourcechild", age_days=30, parent="rsource"),
            entry("ruser", age_days=1),
        ]
    }
    decision = decide_runs(runs, cutoff=CUTOFF)
    moved = keep_referenced(decision, {"ruser": ["rsourcechild"]}, runs)
    assert sorted(moved) == ["rsource", "rsourcechild"] and decision.expired == {}
    assert decision.kept["rsourcechild"] == "its outputs are inputs of kept run ruser"


def test_bundles_go_only_when_unreferenced_and_old() -> None:
    hexes = [c * 64 for c in "abcd"]
    bundles = {
        f"bundles/{hexes[0]}.tar.zst": NOW - 30 * DAY,  # old, unreferenced: goes
        f"bundles/{hexes[1]}.tar.zst": NOW - 30 * DAY,  # old, a kept run's: stays
        f"bundles/{hexes[2]}.tar.gz": NOW - 1 * DAY,  # new: stays
        f"bundles/{hexes[3]}.tar.zst": None,  # vanished meanwhile: stays
        "bundles/README": NOW - 30 * DAY,  # not ours: stays
    }
    delete, kept = bundles_to_delete(bundles, {f"sha256:{hexes[1]}"}, cutoff=CUTOFF)
    assert delete == [f"bundles/{hexes[0]}.tar.zst"]
    assert kept[f"bundles/{hexes[1]}.tar.zst"] == "a kept run was made from it"
    assert kept["bundles/README"] == "not a bundle name pack writes"


def test_image_entries_named_by_kept_runs_stay() -> None:
    entries = {
        "reg/a:1": (NOW - 30 * DAY, "sha256:aaa"),
        "reg/b:1": (NOW - 30 * DAY, "sha256:bbb"),
        "reg/c:1": (NOW - 30 * DAY, None),
        "reg/d:1": (NOW - 1 * DAY, None),
    }
    kept_images = {"reg/b@sha256:bbb", "reg/c:1"}
    assert image_entries_to_delete(entries, kept_images, cutoff=CUTOFF) == ["reg/a:1"]


def test_stored_files_go_when_old_and_named_by_no_kept_run() -> None:
    from pack.gc.plan import files_to_delete

    a, b, c = ("a" * 64, "b" * 64, "c" * 64)
    files = {
        f"files/{a}/data.csv": NOW - 30 * DAY,  # old, named by nobody
        f"files/{b}/data.csv": NOW - 30 * DAY,  # old, but a kept run reused it
        f"files/{c}/x.bin": NOW - 1 * DAY,
        "files/notes.txt": NOW - 30 * DAY,
    }
    delete, kept = files_to_delete(files, {f"files/{b}/data.csv"}, cutoff=CUTOFF)
    assert delete == [f"files/{a}/data.csv"]
    assert kept == {
        f"files/{b}/data.csv": "a kept run's inputs name it",
        f"files/{c}/x.bin": "newer than the cutoff",
        "files/notes.txt": "not a file name pack writes",
    }


def test_a_stored_directory_goes_whole_dated_by_its_newest_key() -> None:
    from pack.gc.plan import files_to_delete

    a, b = "a" * 64, "b" * 64
    old, new = NOW - 30 * DAY, NOW - 1 * DAY
    files = {
        f"files/{a}/data/.pack-manifest.json": old,
        f"files/{a}/data/x.csv": old,
        f"files/{a}/data/sub/y.csv": old,
        # An old directory whose manifest was written again lately: all of it stays.
        f"files/{b}/data/.pack-manifest.json": new,
        f"files/{b}/data/x.csv": old,
    }
    delete, kept = files_to_delete(files, set(), cutoff=CUTOFF)
    assert delete == sorted(k for k in files if f"/{a}/" in k)
    assert kept == {f"files/{b}/data": "newer than the cutoff"}
    delete, kept = files_to_delete(files, {f"files/{a}/data"}, cutoff=CUTOFF)
    assert delete == [] and kept[f"files/{a}/data"] == "a kept run's inputs name it"
