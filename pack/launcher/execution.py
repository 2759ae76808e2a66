"""An execution: its id and where its artifacts live in the store.

Layout under the store (one prefix per run, one per attempt):
    <store>/files/<sha256>/<name>[/...]               local files (folders) passed in, by content
    <store>/runs/<execution-id>/inputs.pb
    <store>/runs/<execution-id>/inputs-raw/...        other values offloaded from inputs
    <store>/runs/<execution-id>/attempts/<n>/outputs.pb | errors.pb | timings.json
    <store>/runs/<execution-id>/attempts/<n>/pod-log.txt  the log a pod stored itself
    <store>/runs/<execution-id>/attempts/<n>/raw/...  files and arrays the task returned
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, replace

from pack.launcher.logcapture import POD_LOG_NAME

ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"


def _base36(number: int) -> str:
    digits = ""
    while True:
        number, rem = divmod(number, 36)
        digits = ALPHABET[rem] + digits
        if number == 0:
            return digits


def new_execution_id(now: float | None = None) -> str:
    """`r` + seconds since the epoch in base 36 (sortable) + 8 random base-36 chars.

    Lowercase alphanumerics only, so it is valid in pod names and label values.
    """
    stamp = _base36(int(time.time() if now is None else now))
    tail = "".join(secrets.choice(ALPHABET) for _ in range(8))
    return f"r{stamp}{tail}"


def join_url(prefix: str, *parts: str) -> str:
    return "/".join([prefix.rstrip("/"), *(p.strip("/") for p in parts)])


@dataclass(frozen=True)
class Execution:
    """One run of one task; `attempt` is 1-based and names the attempt's output prefix."""

    id: str
    project: str
    domain: str
    store_url: str
    attempt: int = 1

    @property
    def run_prefix(self) -> str:
        return join_url(self.store_url, "runs", self.id)

    @property
    def inputs_url(self) -> str:
        return join_url(self.run_prefix, "inputs.pb")

    @property
    def files_prefix(self) -> str:
        """Local files and directories passed as inputs, named by their digest (a
        directory by its manifest's): shared by every run of the store, so each is
        uploaded once and always has the same URL."""
        return join_url(self.store_url, "files")

    @property
    def inputs_raw_prefix(self) -> str:
        return join_url(self.run_prefix, "inputs-raw")

    @property
    def output_prefix(self) -> str:
        return join_url(self.run_prefix, "attempts", str(self.attempt))

    @property
    def raw_output_prefix(self) -> str:
        return join_url(self.output_prefix, "raw")

    @property
    def outputs_url(self) -> str:
        return join_url(self.output_prefix, "outputs.pb")

    @property
    def errors_url(self) -> str:
        return join_url(self.output_prefix, "errors.pb")

    @property
    def timings_url(self) -> str:
        return join_url(self.output_prefix, "timings.json")

    @property
    def pod_log_url(self) -> str:
        """The log the pod stored itself (pack.launcher.logcapture), when it did."""
        return join_url(self.output_prefix, POD_LOG_NAME)

    def with_attempt(self, attempt: int) -> Execution:
        return replace(self, attempt=attempt)
