"""What a fault loop counts, and the checks every loop shares."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from pack.errors import PackError

from .proxy import KINDS, Counters

_ONE_LINE = re.compile(r"pack: error: [^\n]+\n?(  hint: [^\n]+\n?)?\Z")


@dataclass
class Tally:
    """One loop's figures. `raw` holds anything that was not a one-line error (a
    traceback, an unexpected exception type, a hang): it must stay empty, as must
    `lost` (reported written, not in the store), `corrupt` (in the store, not matching
    its digest) and `partial` (a visible object that is not a whole one)."""

    name: str
    operations: int = 0
    succeeded: int = 0
    failed: int = 0  # one-line errors
    raw: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    corrupt: list[str] = field(default_factory=list)
    partial: list[str] = field(default_factory=list)
    checked: int = 0  # objects verified against their digest after the loop
    # Multipart uploads S3 began but nobody will finish: a CreateMultipartUpload whose
    # answer was lost is retried, and the first upload's id never reached pack. Never
    # visible as objects; storage until a lifecycle rule (AbortIncompleteMultipartUpload)
    # removes them.
    orphan_uploads: list[str] = field(default_factory=list)
    # kill -9 loops: processes killed (the rest finished first), what they had started
    # that outlived them, and what the kills left behind (not visible as objects).
    killed: int = 0
    finished_before_kill: int = 0
    orphans: int = 0
    temp_left: list[str] = field(default_factory=list)
    stale_records: list[str] = field(default_factory=list)
    requests: int = 0
    faults: Counter[str] = field(default_factory=Counter)
    retries: int = 0
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)  # a few of the one-line errors

    def add_proxy(self, counters: Counters) -> None:
        self.requests += counters.requests
        self.faults.update(counters.faults)
        self.retries += counters.retries

    def error(self, exc: BaseException) -> None:
        """An operation raised: a one-line PackError counts as `failed`, anything else as raw."""
        if (
            isinstance(exc, PackError)
            and "\n" not in exc.message
            and "Traceback" not in exc.message
        ):
            self.failed += 1
            if len(self.errors) < 5:
                self.errors.append(exc.message[:240])
        else:
            self.raw.append(f"{type(exc).__name__}: {exc}"[:2000])

    def cli_error(self, code: int, stderr: str) -> None:
        """A `pack` command exited non-zero: its stderr must be one `pack: error:` line
        (and perhaps a hint)."""
        tail = stderr.strip().splitlines()[-3:]
        if code not in (0, 130, -9) and _ONE_LINE.search(stderr) and "Traceback" not in stderr:
            self.failed += 1
            if len(self.errors) < 5:
                self.errors.append(tail[-1][:240] if tail else "")
        else:
            self.raw.append(f"exit {code}: {stderr[-2000:]}")

    @property
    def injected(self) -> int:
        return sum(self.faults.values())

    def problems(self) -> list[str]:
        out = []
        for label, items in (
            ("not one-line errors", self.raw),
            ("lost", self.lost),
            ("corrupt", self.corrupt),
            ("partial", self.partial),
        ):
            if items:
                out.append(f"{self.name}: {len(items)} {label}: {items[:3]}")
        return out

    def row(self) -> str:
        kinds = " ".join(f"{k}={self.faults[k]}" for k in KINDS if self.faults[k])
        return (
            f"{self.name:<22} ops={self.operations:<4} ok={self.succeeded:<4} "
            f"one-line-errors={self.failed:<3} other-errors={len(self.raw):<2} "
            f"requests={self.requests:<5} faults={self.injected:<4} retries={self.retries:<4} "
            f"lost={len(self.lost)} corrupt={len(self.corrupt)} partial={len(self.partial)} "
            f"verified={self.checked:<4} "
            + (f"orphan-uploads={len(self.orphan_uploads)} " if self.orphan_uploads else "")
            + f"{self.seconds:6.1f}s  [{kinds}]"
        )

    def kill_row(self) -> str:
        return (
            f"{self.name:<22} kills={self.killed:<3} finished-first={self.finished_before_kill:<3} "
            f"recovered={self.succeeded}/{self.operations} other-errors={len(self.raw)} "
            f"lost={len(self.lost)} corrupt={len(self.corrupt)} partial={len(self.partial)} "
            f"verified={self.checked:<4} orphan-processes={self.orphans} "
            f"temp-left={len(self.temp_left)} records-left-running={len(self.stale_records)} "
            f"{self.seconds:6.1f}s"
        )
