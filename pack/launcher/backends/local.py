"""The local backend: a pod's primary container run as a subprocess on this machine.

It runs exactly the container's args (`pack-fast-execute ... -- pack-execute ...`)
in a fresh temporary directory (standing for the container's working dir) with the
environment a pod gets: the container's env (what the renderer sets, and the values
--pass-env names) plus only what a process needs to run at all (PROCESS_ENV). Nothing
else of the caller's environment reaches the task (no PYTHONPATH: it imports only what
the bundle or the installed environment holds, never the user's working tree; no
credentials unless named). The image is not used; this machine's Python is, so the
code must come in a bundle (see refuse_unsupported). What the task prints is streamed
with its traceback frames pointing at the user's source files, not the extracted copy.

Like a container, the process has a filesystem of its own that goes away with it:
its TMPDIR is inside that directory, which is removed however the attempt ends. It
runs in a session of its own, so a Ctrl-C at the terminal reaches pack only; pack
stops it as Kubernetes stops a container (SIGTERM, a grace period, then SIGKILL to
its whole process group), on Ctrl-C and on a timeout alike.
"""

from __future__ import annotations

import collections
import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from pack.errors import LaunchError, UsageError
from pack.launcher.backends.base import AttemptResult, Backend, Ready, RunInterrupted
from pack.launcher.entrypoint import program_for
from pack.launcher.podspec import (
    container_env,
    kubernetes_only_env,
    manifest_of,
    primary_container,
)
from pack.launcher.sourcepaths import CODE_DIR, SOURCE_ROOT, attempt_source_paths
from pack.scratch import Scratch, scratch_dir

if TYPE_CHECKING:
    from pack.config import Config
    from pack.launcher.execution import Execution

LOG_TAIL_LINES = 200
STOP_GRACE_SECONDS = 10.0
# Kept from the caller's environment: finding programs, a home folder, the user's name,
# the locale (and LC_*) and the time zone; TMPDIR is the attempt's own (see run).
# Documented in the README.
PROCESS_ENV = ("PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TZ")


def process_env(environ: Mapping[str, str]) -> dict[str, str]:
    """Pure: the part of `environ` a local task process starts with (before the pod's env)."""
    return {k: v for k, v in environ.items() if k in PROCESS_ENV or k.startswith("LC_")}


def refuse_unsupported(
    *, copy: str, detach: bool, keep: bool, env_from_secret: tuple[str, ...]
) -> None:
    """UsageError for run options the local backend cannot honour, before anything is
    uploaded (it runs this machine's Python, not the task's image or a cluster)."""
    if copy == "none":
        raise UsageError(
            "--copy none cannot work on the local backend: it runs the task with this "
            "machine's Python, not in the task's image, so no image brings the code; "
            "ship it with --copy auto or --copy all, or run the image with --backend docker "
            "or kubernetes"
        )
    if detach or keep:
        raise UsageError("--detach and --keep need --backend docker or kubernetes")
    if env_from_secret:
        raise UsageError(
            "--env-from-secret needs --backend kubernetes (there are no Kubernetes Secrets "
            "locally); pass the variables with --pass-env VAR"
        )


class LocalBackend(Backend):
    name = "local"

    def __init__(
        self,
        *,
        base_env: Mapping[str, str],
        log_sink: IO[str] | None = None,
        work_root: Path | None = None,
        keep_workdir: bool = False,
        source_root: Path | None = None,
    ) -> None:
        self.base_env = process_env(base_env)
        self.log_sink = log_sink
        self.work_root = work_root
        self.keep_workdir = keep_workdir
        # The folder the bundle was packaged from: tracebacks printed by the task point
        # there rather than at the extracted copy (pack.launcher.sourcepaths).
        self.source_root = source_root
        self._lock = threading.Lock()
        self._procs: set[subprocess.Popen[str]] = set()
        self._stopped = False

    def command(self, pod: Any) -> list[str]:
        container = primary_container(manifest_of(pod))
        argv = [str(a) for a in (*(container.get("command") or []), *(container.get("args") or []))]
        if not argv:
            raise LaunchError("the pod's primary container has no args")
        return program_for(argv)

    def run(self, pod: Any, execution: Execution, *, ready: Ready | None = None) -> AttemptResult:
        if self._stopped:
            raise RunInterrupted(f"not started: the run of {execution.id} is being stopped")
        if ready is not None:  # a process reads its inputs at once
            ready()
        pod = manifest_of(pod)
        container = primary_container(pod)
        argv = self.command(pod)
        unresolved = kubernetes_only_env(container)
        if unresolved:  # a pod would have these variables: never run without them
            raise LaunchError(
                f"{unresolved}: the local backend cannot resolve it; set a plain value or "
                "pass the variables with --pass-env VAR"
            )
        env = {**self.base_env, **container_env(container)}
        # A scratch folder whose lock the task shares: the next run sweeps the folders of
        # runs whose client was killed (kill -9) once their task has ended too.
        with scratch_dir(
            f"pack-{execution.id}-{execution.attempt}-",
            self.work_root,
            keep=self.keep_workdir,
            kind="pack-",
        ) as scratch:
            return self._run_in(scratch, pod, container, argv, env, execution)

    def _run_in(
        self,
        scratch: Scratch,
        pod: Mapping[str, Any],
        container: Mapping[str, Any],
        argv: list[str],
        env: dict[str, str],
        execution: Execution,
    ) -> AttemptResult:
        workdir = scratch.path
        (workdir / "tmp").mkdir()
        env["TMPDIR"] = str(workdir / "tmp")
        paths = self._source_paths(container, workdir)
        deadline = (pod.get("spec") or {}).get("activeDeadlineSeconds")
        tail: collections.deque[str] = collections.deque(maxlen=LOG_TAIL_LINES)
        started = time.time()
        try:
            proc = subprocess.Popen(
                argv,
                cwd=workdir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                errors="replace",
                start_new_session=True,
                pass_fds=(scratch.lock_fd,),
            )
        except OSError as exc:
            raise LaunchError(f"cannot start {argv[0]}: {exc.strerror or exc}") from None
        with self._lock:
            self._procs.add(proc)
            stopped = self._stopped
        if stopped:  # stop() came while this attempt was starting
            stop_process_group(proc)
        muted = threading.Event()
        reader = threading.Thread(
            target=self._pump, args=(proc.stdout, tail, muted, paths), daemon=True
        )
        reader.start()
        reason = None
        try:
            code = proc.wait(timeout=deadline)
        except subprocess.TimeoutExpired:
            code = stop_process_group(proc)
            reason = "DeadlineExceeded"
        except KeyboardInterrupt:
            muted.set()  # what the task prints while it stops is not the user's business
            stop_process_group(proc)
            raise RunInterrupted(
                f"interrupted: stopped the task; the partial run is under {execution.run_prefix}"
            ) from None
        except BaseException:
            stop_process_group(proc)
            raise
        finally:
            with self._lock:
                self._procs.discard(proc)
            reader.join(timeout=5)
        finished = time.time()
        ok = code == 0 and reason is None
        message = None
        if reason == "DeadlineExceeded":
            message = f"the task ran longer than its timeout of {deadline}s and was stopped"
        elif code != 0:
            reason = "Error"
            message = f"exit code {code}"
        return AttemptResult(
            attempt=execution.attempt,
            phase="Succeeded" if ok else "Failed",
            exit_code=code,
            reason=reason,
            message=message,
            log_tail="".join(tail),
            started_at=started,
            finished_at=finished,
            details={"workdir": str(workdir), **paths},
        )

    def stop(self) -> None:
        """Stop every running attempt like Ctrl-C stops one (SIGTERM to its process
        group, SIGKILL after the grace period; a driver among them stops its own
        children first), all at once, and start no new one."""
        with self._lock:
            self._stopped = True
            procs = list(self._procs)
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for proc in procs:
            stop_process_group(proc, max(0.0, deadline - time.monotonic()))

    def _source_paths(self, container: Mapping[str, Any], workdir: Path) -> dict[str, str]:
        """CODE_DIR (where pack-fast-execute extracts the bundle, as the task sees it:
        its cwd-based paths are real paths) and SOURCE_ROOT, when both are known."""
        args = [str(a) for a in container.get("args") or []]
        if self.source_root is None or "--dest-dir" not in args[:-1]:
            return {}
        dest = workdir / args[args.index("--dest-dir") + 1]
        return {CODE_DIR: os.path.realpath(dest), SOURCE_ROOT: str(self.source_root)}

    def _pump(
        self,
        stream: Any,
        tail: collections.deque[str],
        muted: threading.Event,
        paths: Mapping[str, str],
    ) -> None:
        for line in stream:
            line = attempt_source_paths(line, paths)
            tail.append(line)
            if self.log_sink is not None and not muted.is_set():
                self.log_sink.write(line)
                self.log_sink.flush()
        stream.close()


def stop_process_group(proc: subprocess.Popen[str], grace: float = STOP_GRACE_SECONDS) -> int:
    """SIGTERM to the process group `proc` leads (its own session), up to `grace` seconds
    for it to clean up and exit, then SIGKILL to whatever of the group is left."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, None)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            code = proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
        try:  # children of the task that outlived it
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        return code
    raise AssertionError("unreachable: wait(None) returns")


def open_backend(
    config: Config,
    env: Mapping[str, str],
    *,
    log_sink: IO[str] | None = None,
    source_root: Path | None = None,
) -> Backend:
    """The factory every backend module exposes (see pack.launcher.run.open_backend)."""
    return LocalBackend(base_env=env, log_sink=log_sink, source_root=source_root)
