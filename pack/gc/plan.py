"""What `pack gc` would delete, decided from what the store holds. Pure, no I/O.

A run expires when it is over (succeeded, failed, aborted) and was last updated
before the cutoff; a run still going is never collected. Children go with the root
of their tree and never alone. A run is kept, whatever its age, when a kept run's
inputs name a file in it (a File passed on by URL). A bundle goes when no kept run
was made from it and it was written before the cutoff (a bundle uploaded by
`pack package` for a run about to start is younger than any sensible cutoff). A file
stored by content (`files/<sha256>/<name>`, a local File passed in) goes when no kept
run's inputs name it and it was written before the cutoff: a run that reused it, however
old it is, keeps it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from pack.errors import UsageError
from pack.runs.record import RunRecord

_AGE = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
_ID_TIME = re.compile(r"r([0-9a-z]{5,7})[0-9a-z]{8}")


def parse_age(text: str) -> float:
    """`7d`, `12h`, `30m`, `2w`, `90s` -> seconds; UsageError naming the value otherwise."""
    found = _AGE.fullmatch(text.strip()) if isinstance(text, str) else None
    if found is None or float(found.group(1)) <= 0:
        raise UsageError(
            f"--older-than {text!r} is not an age: use a number and a unit s, m, h, d or w "
            "(e.g. 7d, 12h)"
        )
    return float(found.group(1)) * _UNITS[found.group(2)]


def id_time(run_id: str) -> float | None:
    """When a pack-made run id was made (its base-36 seconds), else None."""
    found = _ID_TIME.fullmatch(run_id)
    return float(int(found.group(1), 36)) if found else None


@dataclass(frozen=True)
class RunEntry:
    """One run's folder in the store: its record (None when there is none) and keys."""

    id: str
    record: RunRecord | None
    keys: tuple[str, ...]

    @property
    def last_change(self) -> float | None:
        if self.record is not None:
            return self.record.updated_at or self.record.created_at
        return id_time(self.id)


@dataclass
class Decision:
    expired: dict[str, str] = field(default_factory=dict)  # run id -> why
    kept: dict[str, str] = field(default_factory=dict)  # run id -> why


def root_of(run_id: str, runs: Mapping[str, RunEntry]) -> str:
    """The top of `run_id`'s tree among `runs` (a parent that is gone ends the walk)."""
    seen = {run_id}
    current = run_id
    while True:
        entry = runs.get(current)
        parent = entry.record.parent if entry and entry.record else None
        if parent is None or parent not in runs or parent in seen:
            return current
        seen.add(parent)
        current = parent


def decide_runs(runs: Mapping[str, RunEntry], *, cutoff: float) -> Decision:
    """Expire or keep each tree of runs by its root (see the module docstring)."""
    trees: dict[str, list[str]] = {}
    for run_id in runs:
        trees.setdefault(root_of(run_id, runs), []).append(run_id)
    decision = Decision()
    for root, members in trees.items():
        entry = runs[root]
        record = entry.record
        when = entry.last_change
        if record is not None and not record.done:
            why, expire = f"{record.status}: a run still going is never collected", False
        elif when is None:
            why, expire = "no record and no time in its id", False
        elif when >= cutoff:
            why, expire = "newer than the cutoff", False
        else:
            why, expire = ("over" if record else "no record; made") + " before the cutoff", True
        for member in members:
            (decision.expired if expire else decision.kept)[member] = (
                why if member == root else f"in the tree of {root}"
            )
    return decision


def keep_referenced(
    decision: Decision, references: Mapping[str, Iterable[str]], runs: Mapping[str, RunEntry]
) -> list[str]:
    """Move to `kept` every expired tree a kept run's inputs point into; returns the
    runs newly kept (their own inputs must be read in turn)."""
    moved: list[str] = []
    for holder, targets in references.items():
        if holder not in decision.kept:
            continue
        for target in targets:
            if target not in decision.expired:
                continue
            root = root_of(target, runs)
            for member in [m for m in decision.expired if root_of(m, runs) == root]:
                decision.expired.pop(member)
                decision.kept[member] = f"its outputs are inputs of kept run {holder}"
                moved.append(member)
    return moved


def bundle_digest_of(key: str) -> str | None:
    """`bundles/<hex>.tar.zst` -> `sha256:<hex>`."""
    name = key.rpartition("/")[2]
    hexpart = name.partition(".")[0]
    return f"sha256:{hexpart}" if re.fullmatch(r"[0-9a-f]{64}", hexpart) else None


def _old_and_unnamed(
    written: Mapping[str, float | None],
    name_of: Callable[[str], str | None],
    named: set[str],
    *,
    cutoff: float,
    what: str,
    why_named: str,
) -> tuple[list[str], dict[str, str]]:
    """(keys to delete, kept key -> why) among objects (key -> when written) that pack
    names by content: one goes when written before the cutoff and not `named` by a kept
    run (`name_of`: how runs name a key; None for a key pack does not write)."""
    delete, kept = [], {}
    for key, when in sorted(written.items()):
        name = name_of(key)
        if name is None:
            kept[key] = f"not a {what} name pack writes"
        elif name in named:
            kept[key] = why_named
        elif when is None or when >= cutoff:
            kept[key] = "newer than the cutoff"
        else:
            delete.append(key)
    return delete, kept


def bundles_to_delete(
    bundles: Mapping[str, float | None], kept_digests: set[str], *, cutoff: float
) -> tuple[list[str], dict[str, str]]:
    """(keys to delete, kept key -> why) for `bundles` (key -> when written)."""
    return _old_and_unnamed(
        bundles,
        bundle_digest_of,
        kept_digests,
        cutoff=cutoff,
        what="bundle",
        why_named="a kept run was made from it",
    )


def image_entries_to_delete(
    entries: Mapping[str, tuple[float, str | None]], kept_images: set[str], *, cutoff: float
) -> list[str]:
    """Image-record refs (ref -> (confirmed_at, manifest digest)) to forget: older than
    the cutoff and named by no kept run (by ref or by the digest it pins)."""
    out = []
    for ref, (confirmed, digest) in sorted(entries.items()):
        named = ref in kept_images or (
            digest is not None and any(digest in image for image in kept_images)
        )
        if confirmed < cutoff and not named:
            out.append(ref)
    return out


# A File stored by content, or a Directory's manifest or files below it.
_FILE_KEY = re.compile(r"(files/[0-9a-f]{64}/[^/]+)(/.+)?")


def stored_object_of(key: str) -> str | None:
    """The File or Directory stored by content that `key` belongs to (`files/<hex>/<name>`,
    as its URL names it), else None."""
    found = _FILE_KEY.fullmatch(key)
    return found.group(1) if found else None


def files_to_delete(
    files: Mapping[str, float | None], referenced: set[str], *, cutoff: float
) -> tuple[list[str], dict[str, str]]:
    """(keys to delete, kept object -> why) for the files and directories stored by
    content (key -> when written); `referenced`: the objects kept runs' inputs name. A
    directory goes whole or not at all, dated by its newest key."""
    objects: dict[str, float | None] = {}
    members: dict[str, list[str]] = {}
    for key, when in files.items():
        name = stored_object_of(key) or key
        members.setdefault(name, []).append(key)
        if name not in objects:
            objects[name] = when
        else:
            newest = objects[name]
            objects[name] = None if when is None or newest is None else max(newest, when)
    names, kept = _old_and_unnamed(
        objects,
        stored_object_of,
        referenced,
        cutoff=cutoff,
        what="file",
        why_named="a kept run's inputs name it",
    )
    return sorted(key for name in names for key in members[name]), kept
