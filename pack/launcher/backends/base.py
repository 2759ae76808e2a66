"""The backend protocol: run one attempt of a rendered pod, somewhere.

A backend sees only a pod (the manifest dict `pack.launcher.podspec.render_manifest`
returns; a `kubernetes.client.V1Pod` is accepted too) and the `Execution` it belongs
to; it never sees the task, the type engine or the user's files. The inputs are in the store at
`execution.inputs_url` once `ready()` returns (a backend calls it before the container could
read them: after creating a pod, which takes a while to start, or before starting a process),
and the attempt writes `outputs.pb` or `errors.pb` under
`execution.output_prefix`; the run pipeline reads them back, so a backend only has
to report how the container ended.

`run` blocks until the attempt ends. Backends that can leave a run going
(Kubernetes) also implement `submit`, `status` and `logs`; the defaults say the
backend cannot.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from pack.errors import Interrupted, LaunchError

if TYPE_CHECKING:
    from pack.launcher.execution import Execution

Phase = Literal["Pending", "Running", "Succeeded", "Failed", "Unknown"]
Ready = Callable[[], None]


@dataclass(frozen=True)
class AttemptResult:
    """How one attempt's container ended (Kubernetes pod phase vocabulary).

    `reason` is a short machine word when the backend knows one (`Error`,
    `OOMKilled`, `DeadlineExceeded`, `ImagePullBackOff`, `Unschedulable`); `message`
    is human text; `log_tail` the last lines of the container's output.
    Times are wall-clock seconds since the epoch (`time.time()`).
    """

    attempt: int
    phase: Phase
    exit_code: int | None = None
    reason: str | None = None
    message: str | None = None
    log_tail: str = ""
    started_at: float | None = None
    finished_at: float | None = None
    details: dict[str, str] = field(default_factory=dict)
    # Seconds the backend spent in its own steps (pod_create, pod_start, pull, ...).
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def succeeded(self) -> bool:
        return self.phase == "Succeeded"


@dataclass(frozen=True)
class RunHandle:
    """What `submit` returns: enough to find the attempt again (`pack status`/`pack logs`)."""

    backend: str
    execution_id: str
    attempt: int
    name: str
    namespace: str | None = None


class RunInterrupted(LaunchError, Interrupted):
    """Ctrl-C during an attempt: the backend stopped what it started; the message says
    what was stopped and where the partial run lives."""

    exit_code = 130


class Backend:
    """Base class; subclasses implement `run` and, when they can detach, the rest."""

    name: str = "backend"

    def run(self, pod: Any, execution: Execution, *, ready: Ready | None = None) -> AttemptResult:
        """Run the pod's primary container to completion and say how it ended.
        `ready()` waits for the store writes the container reads and raises what failed
        in them; a backend that has started something by then stops and removes it."""
        raise NotImplementedError

    def submit(self, pod: Any, execution: Execution) -> RunHandle:
        """Start the attempt and return at once."""
        raise LaunchError(f"the {self.name} backend cannot detach a run; run it in the foreground")

    def status(self, handle: RunHandle) -> AttemptResult:
        raise LaunchError(f"the {self.name} backend cannot report on detached runs")

    def logs(self, handle: RunHandle, *, follow: bool = False) -> Iterator[str]:
        raise LaunchError(f"the {self.name} backend keeps no logs to fetch")

    def cancel(self, execution_id: str) -> list[str]:
        """Remove run `execution_id`'s pods or containers and those of every run it
        started (found by their labels), wherever their drivers are; returns their names."""
        raise LaunchError(f"the {self.name} backend cannot cancel runs by id")

    def stop(self) -> None:
        """Stop every attempt this backend is running, from any thread, and refuse new
        ones: their `run` calls end (a failed attempt or RunInterrupted). A workflow's
        driver calls it on Ctrl-C, `pack cancel` or a failure that ends the run, so no
        child outlives it. A backend that has nothing running has nothing to stop."""
        return None

    def close(self) -> None:
        """Release clients, threads and temp dirs."""
        return None
