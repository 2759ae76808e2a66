"""The driver of an attached workflow, run in the client's own process.

A Backend like the others to the run pipeline: it receives the workflow's rendered
pod and runs that pod's `pack-execute` here (the same entrypoint code a pod runs:
inputs.pb in, outputs.pb or errors.pb out), with a driver in place whose children
go to the real backend. The bundle is not fetched: the client has the code loaded.

Ctrl-C, or SIGTERM from `pack cancel` (the CLI turns it into the same interrupt),
stops the body and every child; the workflow's `timeout` stops them too and
reports DeadlineExceeded.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from pack.errors import LaunchError
from pack.launcher.backends.base import AttemptResult, Backend, Ready, RunInterrupted

if TYPE_CHECKING:
    from pack.launcher.execution import Execution
    from pack.launcher.workflow.driver import Driver


class InProcessBackend(Backend):
    def __init__(
        self,
        make_driver: Callable[[str], Driver],
        environ: Mapping[str, str],
        *,
        name: str,
        body_env: Mapping[str, str] | None = None,
    ) -> None:
        # The children's backend: the run's record names where the work ran.
        self.name = name
        self.make_driver = make_driver
        self.environ = environ
        # The workflow's own env=: its body reads os.environ, as it would in its pod.
        self.body_env = dict(body_env or {})
        self.driver: Driver | None = None  # the last attempt's, once built

    def run(self, pod: Any, execution: Execution, *, ready: Ready | None = None) -> AttemptResult:
        from pack.launcher.entrypoint import EXECUTE, execute_status
        from pack.launcher.podspec import container_env, manifest_of, primary_container
        from pack.launcher.workflow.active import built_driver, driving

        manifest = manifest_of(pod)
        container = primary_container(manifest)
        args = [str(a) for a in container.get("args") or []]
        if EXECUTE not in args:
            raise LaunchError("the workflow's pod does not run pack-execute")
        if ready is not None:  # the body reads its inputs at once
            ready()
        argv = args[args.index(EXECUTE) + 1 :]
        env = {**self.environ, **container_env(container)}
        deadline = (manifest.get("spec") or {}).get("activeDeadlineSeconds")
        timed_out = threading.Event()
        shown: list[str] = []

        main = threading.current_thread() is threading.main_thread()

        def on_deadline() -> None:
            timed_out.set()
            driver = built_driver()
            if driver is not None:
                driver.stop()
            if main:  # a body busy in its own code: interrupt it too
                import _thread

                _thread.interrupt_main()

        timer = threading.Timer(float(deadline), on_deadline) if deadline else None
        started = time.time()
        try:
            if timer is not None:
                timer.daemon = True
                timer.start()
            with driving(lambda: self._driver(execution.id)), _environ(self.body_env):
                code = execute_status(argv, env, echo=shown.append)
            for text in shown:  # the body's traceback, as a pod's log would show it
                sys.stderr.write(text)
        except KeyboardInterrupt as exc:
            if not timed_out.is_set():
                raise RunInterrupted(
                    f"interrupted: stopped workflow run {execution.id} and its children "
                    f"({exc or 'Ctrl-C'}); the partial run is under {execution.run_prefix}"
                ) from None
            code = 1
        finally:
            if timer is not None:
                timer.cancel()
        finished = time.time()
        if timed_out.is_set():
            return AttemptResult(
                attempt=execution.attempt,
                phase="Failed",
                exit_code=code,
                reason="DeadlineExceeded",
                message=(
                    f"the workflow ran longer than its timeout of {deadline}s; its children "
                    "were stopped"
                ),
                started_at=started,
                finished_at=finished,
                details={"driver": "client", "recoverable": "false"},
            )
        return AttemptResult(
            attempt=execution.attempt,
            phase="Succeeded" if code == 0 else "Failed",
            exit_code=code,
            reason=None if code == 0 else "Error",
            message=None if code == 0 else f"exit code {code}",
            log_tail="".join(shown),
            started_at=started,
            finished_at=finished,
            details={"driver": "client"},
        )

    def _driver(self, parent: str) -> Driver:
        self.driver = self.make_driver(parent)
        return self.driver


@contextmanager
def _environ(values: Mapping[str, str]) -> Iterator[None]:
    """`values` in os.environ inside the block, the variables as they were after it.
    Children never see them: the local backend took its base environment when it was
    opened, and the driver hands on --pass-env values from the client's environment as
    it was when the run began (Launch keeps a copy)."""
    old = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in old.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
