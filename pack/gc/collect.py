"""Reading a store (and the cache dir) into a gc plan, and carrying a plan out.

Deleting goes in an order that never leaves a visible half: first what makes a
run visible (its index entry, then its record), then the rest of its folder, so an
interrupted gc leaves record-less folders that the next gc collects by the time in
their ids. Just before bundles and stored files are deleted the index is read again, so
a run that started meanwhile keeps its bundle and the files its inputs name.
"""

from __future__ import annotations

import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pack.errors import StoreError
from pack.gc.plan import (
    Decision,
    RunEntry,
    bundles_to_delete,
    decide_runs,
    files_to_delete,
    image_entries_to_delete,
    keep_referenced,
)
from pack.runs import keys
from pack.runs.record import RunRecord, check_run_id
from pack.runs.runstore import RunStore

THREADS = 8
BUNDLES = "bundles/"
FILES = "files/"  # local Files passed in, by content (pack.launcher.types.files)


@dataclass
class GcPlan:
    store_url: str
    older_than: float
    now: float
    runs: dict[str, RunEntry]
    decision: Decision
    index_keys: list[str]
    bundles: list[str]
    bundles_kept: dict[str, str]
    files: list[str]
    files_kept: dict[str, str]
    image_refs: list[str]
    cache_dirs: list[Path]
    done: dict[str, int] = field(default_factory=dict)

    @property
    def cutoff(self) -> float:
        return self.now - self.older_than

    @property
    def run_objects(self) -> int:
        return sum(len(self.runs[r].keys) for r in self.decision.expired)

    def as_json(self, *, dry_run: bool) -> dict[str, Any]:
        def run(run_id: str, why: str) -> dict[str, Any]:
            record = self.runs[run_id].record
            return {
                "id": run_id,
                "task": record.task if record else None,
                "status": record.status if record else None,
                "parent": record.parent if record else None,
                "updated_at": self.runs[run_id].last_change,
                "why": why,
                "objects": len(self.runs[run_id].keys),
            }

        return {
            "store": self.store_url,
            "older_than_seconds": self.older_than,
            "cutoff": self.cutoff,
            "dry_run": dry_run,
            "runs": {
                "delete": [run(r, w) for r, w in sorted(self.decision.expired.items())],
                "keep": [run(r, w) for r, w in sorted(self.decision.kept.items())],
            },
            "run_objects": self.run_objects,
            "index_entries": len(self.index_keys),
            "bundles": {"delete": self.bundles, "keep": self.bundles_kept},
            "files": {"delete": self.files, "keep": self.files_kept},
            "image_records": self.image_refs,
            "cache_dirs": [str(p) for p in self.cache_dirs],
            "deleted": self.done,
        }


def _record(runs: RunStore, run_id: str, run_keys: list[str]) -> RunRecord | None:
    """The run's record, settled from its outputs/errors when it still says running
    (a detached run nobody looked at since it ended); None when it has none."""
    from pack.runs.settle import settle

    key = keys.record_key(run_id)
    if key not in run_keys:
        return None
    try:
        record = RunRecord.from_json(runs.store.get_bytes(key), runs.store.url(key))
        return settle(runs, record, write=False)
    except StoreError:
        return None


def _run_folders(runs: RunStore) -> dict[str, RunEntry]:
    groups: dict[str, list[str]] = {}
    for key in runs.store.list_keys(f"{keys.RUNS}/"):
        run_id = key.split("/")[1]
        try:
            check_run_id(run_id)
        except StoreError:
            continue  # not a folder pack made: left alone
        groups.setdefault(run_id, []).append(key)
    with ThreadPoolExecutor(THREADS) as pool:
        records = pool.map(lambda item: _record(runs, *item), groups.items())
        return {
            run_id: RunEntry(run_id, record, tuple(run_keys))
            for (run_id, run_keys), record in zip(groups.items(), records, strict=True)
        }


def _referenced(runs: RunStore, run_id: str) -> tuple[set[str], set[str]]:
    """What the inputs of `run_id` name: (the runs whose folders hold Files passed on by
    URL, the keys of files stored by content)."""
    from pack.runs.literals import blobs_in

    try:
        data = runs.store.get_bytes(keys.inputs_key(run_id))
    except StoreError:
        return set(), set()
    run_prefix, files_prefix = f"{runs.url}/{keys.RUNS}/", f"{runs.url}/"
    found, files = set(), set()
    for blob in blobs_in(data):
        if blob.uri.startswith(run_prefix):
            found.add(blob.uri[len(run_prefix) :].split("/")[0])
        elif blob.uri.startswith(files_prefix + FILES):
            files.add(blob.uri[len(files_prefix) :].rstrip("/"))
    return found - {run_id}, files


def plan_gc(
    runs: RunStore,
    *,
    older_than: float,
    now: float,
    cache_dir: Path | None = None,
    image_record: Any = None,
) -> GcPlan:
    """What gc would delete from `runs`' store (and, given them, from the cache dir's
    run folders and the image record)."""
    cutoff = now - older_than
    folders = _run_folders(runs)
    decision = decide_runs(folders, cutoff=cutoff)
    file_keys = list(runs.store.list_keys(FILES))
    with ThreadPoolExecutor(THREADS) as pool:
        files_written = dict(zip(file_keys, pool.map(runs.store.modified, file_keys), strict=True))
    old_files = any(w is None or w < cutoff for w in files_written.values())
    inputs_of: dict[str, tuple[set[str], set[str]]] = {}
    if decision.expired or old_files:
        # Kept runs whose inputs point into an expired run keep it (and so on, in turn).
        pending = list(decision.kept)
        while pending:
            with ThreadPoolExecutor(THREADS) as pool:
                inputs_of.update(
                    zip(pending, pool.map(lambda r: _referenced(runs, r), pending), strict=True)
                )
            pending = keep_referenced(decision, {r: inputs_of[r][0] for r in pending}, folders)
    named = {key for r in decision.kept if r in inputs_of for key in inputs_of[r][1]}
    files, files_kept = files_to_delete(files_written, named, cutoff=cutoff)
    index_keys = []
    for key in runs.store.list_keys(keys.INDEX):
        run_id = keys.run_id_of(key)
        when = keys.index_time(key)
        if run_id in decision.expired or (
            run_id not in folders and when is not None and when < cutoff
        ):
            index_keys.append(key)
    kept_records = [folders[r].record for r in decision.kept if folders[r].record is not None]
    kept_digests = {r.bundle_digest for r in kept_records if r and r.bundle_digest}
    bundle_keys = list(runs.store.list_keys(BUNDLES))
    with ThreadPoolExecutor(THREADS) as pool:
        written = dict(zip(bundle_keys, pool.map(runs.store.modified, bundle_keys), strict=True))
    bundles, bundles_kept = bundles_to_delete(written, kept_digests, cutoff=cutoff)
    image_refs: list[str] = []
    if image_record is not None:
        entries = {
            ref: (entry.confirmed_at, entry.digest) for ref, entry in image_record.entries().items()
        }
        kept_images = {r.image for r in kept_records if r and r.image}
        image_refs = image_entries_to_delete(entries, kept_images, cutoff=cutoff)
    cache_dirs = []
    if cache_dir is not None:
        cache_dirs = [
            cache_dir / "runs" / r for r in decision.expired if (cache_dir / "runs" / r).is_dir()
        ]
    return GcPlan(
        store_url=runs.url,
        older_than=older_than,
        now=now,
        runs=folders,
        decision=decision,
        index_keys=index_keys,
        bundles=bundles,
        bundles_kept=bundles_kept,
        files=files,
        files_kept=files_kept,
        image_refs=image_refs,
        cache_dirs=cache_dirs,
    )


def _delete_all(runs: RunStore, doomed: list[str]) -> None:
    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(runs.store.delete, doomed))


def _started_since(runs: RunStore, since: float) -> tuple[set[str], set[str]]:
    """The bundles of the runs listed in the index since `since` and the stored files
    their inputs name (newest first, so it stops early)."""
    digests: set[str] = set()
    files: set[str] = set()
    for key in runs.store.list_keys(keys.INDEX):
        when = keys.index_time(key)
        if when is None or when < since:
            break
        run_id = keys.run_id_of(key)
        if run_id is None:
            continue
        try:
            record = runs.get(run_id)
        except StoreError:
            continue
        if record.bundle_digest:
            digests.add(record.bundle_digest)
        files |= _referenced(runs, run_id)[1]
    return digests, files


def apply_plan(plan: GcPlan, runs: RunStore, *, image_record: Any = None) -> GcPlan:
    """Delete what `plan` lists, in the order the module docstring gives."""
    from pack.gc.plan import bundle_digest_of, stored_object_of
    from pack.launcher.types.files import MANIFEST

    expired = sorted(plan.decision.expired)
    _delete_all(runs, plan.index_keys)
    records = [keys.record_key(r) for r in expired if keys.record_key(r) in plan.runs[r].keys]
    _delete_all(runs, records)
    rest = [k for r in expired for k in plan.runs[r].keys if k != keys.record_key(r)]
    _delete_all(runs, rest)
    # A run may have started (and reused an old bundle) while this gc ran: keep its bundle.
    fresh, fresh_files = _started_since(runs, plan.now - 60)
    bundles = [b for b in plan.bundles if bundle_digest_of(b) not in fresh]
    _delete_all(runs, bundles)
    files = [f for f in plan.files if stored_object_of(f) not in fresh_files]
    # A directory's manifest first: without it, it is not there for a run that looks.
    _delete_all(runs, [f for f in files if f.endswith(f"/{MANIFEST}")])
    _delete_all(runs, [f for f in files if not f.endswith(f"/{MANIFEST}")])
    if image_record is not None:
        for ref in plan.image_refs:
            image_record.forget(ref)
    for folder in plan.cache_dirs:
        shutil.rmtree(folder, ignore_errors=True)
    plan.done = {
        "runs": len(expired),
        "run_objects": len(rest) + len(records),
        "index_entries": len(plan.index_keys),
        "bundles": len(bundles),
        "files": len(files),
        "image_records": len(plan.image_refs) if image_record is not None else 0,
        "cache_dirs": len(plan.cache_dirs),
    }
    return plan
