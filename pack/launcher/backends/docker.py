"""The docker backend: run a rendered pod's primary container on a Docker engine.

The same image ref (pulled first, skipped when a digest ref is already present),
the same command/args, env and working dir as the pod; cpu and memory limits
become `--cpus` / `--memory`; GPUs `--gpus N` when the engine has the nvidia
runtime (a clear error otherwise); `--network host` when the pod asks for the
host network or the engine has no bridge. Each attempt is its own container,
named like the pod (which carries the attempt), labelled with the pod's labels
so `pack status` can find it, and removed afterwards unless `keep`.

Env values never appear on a command line (`ps` would show them): they go
through an `--env-file` readable only by the user, deleted once the container
is created.

`docker_run_argv` and `docker_outcome` are pure; `DockerBackend` is the adapter.
"""

from __future__ import annotations

import collections
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse

from pack.errors import LaunchError
from pack.launcher.backends.base import (
    AttemptResult,
    Backend,
    Phase,
    Ready,
    RunHandle,
    RunInterrupted,
)
from pack.launcher.backends.sink import line_writer
from pack.launcher.resources import GPU_RESOURCE, quantity_value

if TYPE_CHECKING:
    from pack.config import Config
    from pack.launcher.execution import Execution

LOG_TAIL_LINES = 40
STOP_GRACE_SECONDS = 10


@dataclass(frozen=True)
class DockerRun:
    """What `docker create` needs: argv (without the CLI) and the env file's contents."""

    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    timeout_seconds: int | None = None
    memory_limit: str | None = None


def _cpus(value: str) -> str:
    return format(quantity_value("limits.cpu", value).normalize(), "f")


def _store_mounts(store_urls: Sequence[str]) -> list[str]:
    mounts: list[str] = []
    for url in store_urls:
        parsed = urlparse(url)
        if parsed.scheme != "file":
            continue
        path = unquote(parsed.path)
        # The same path inside: the pod's args name file:// URLs of the host's store.
        if f"{path}:{path}" not in mounts:
            mounts.append(f"{path}:{path}")
    return mounts


def docker_run_argv(
    pod: Any,
    *,
    name: str,
    host_network: bool,
    gpu_runtime: bool,
    store_urls: Sequence[str] = (),
    env_file: str = "ENV_FILE",
    container_name: str | None = None,
) -> DockerRun:
    """Pure: the `docker create` argv for `pod`'s primary container (`pod`: a manifest
    dict, or a `V1Pod`).

    Raises LaunchError for what Docker cannot do: env from Kubernetes secrets or
    fields, volumes other than emptyDir/hostPath, GPUs without the nvidia runtime.
    """
    from pack.launcher.podspec import (
        container_env,
        kubernetes_only_env,
        manifest_of,
        primary_container,
    )

    pod = manifest_of(pod)
    spec = pod.get("spec") or {}
    container = primary_container(pod, container_name)
    argv = ["create", "--name", name]
    labels = (pod.get("metadata") or {}).get("labels") or {}
    for key, value in sorted((str(k), str(v)) for k, v in labels.items()):
        argv += ["--label", f"{key}={value}"]
    if host_network or spec.get("hostNetwork"):
        argv += ["--network", "host"]

    unresolved = kubernetes_only_env(container)
    if unresolved:
        raise LaunchError(
            f"{unresolved}: the docker backend cannot resolve it; set a plain value or pass "
            "the variables with --pass-env VAR"
        )
    env = container_env(container)
    for name, value in env.items():
        if "\n" in value:
            raise LaunchError(f"env {name}: values with newlines cannot be passed to docker")
    if env:
        argv += ["--env-file", env_file]

    resources = container.get("resources") or {}
    limits = {str(k): str(v) for k, v in (resources.get("limits") or {}).items()}
    if "cpu" in limits:
        argv += ["--cpus", _cpus(limits["cpu"])]
    if "memory" in limits:
        memory = int(quantity_value("limits.memory", limits["memory"]))
        # Swap equal to memory: over the limit the task is OOM-killed, as in a pod.
        argv += ["--memory", str(memory), "--memory-swap", str(memory)]
    gpus = int(limits.get(GPU_RESOURCE, "0") or 0)
    if gpus:
        if not gpu_runtime:
            raise LaunchError(
                f"the task asks for {gpus} GPU(s) ({GPU_RESOURCE}) but this Docker engine has no "
                "nvidia runtime; run it with --backend kubernetes or drop the GPU request"
            )
        argv += ["--gpus", str(gpus)]

    volumes = {v.get("name"): v for v in spec.get("volumes") or []}
    for mount in container.get("volumeMounts") or []:
        volume = volumes.get(mount.get("name"))
        path = mount.get("mountPath")
        suffix = ":ro" if mount.get("readOnly") else ""
        if volume is not None and volume.get("hostPath") is not None:
            argv += ["-v", f"{volume['hostPath'].get('path')}:{path}{suffix}"]
        elif volume is not None and volume.get("emptyDir") is not None:
            argv += ["-v", str(path)]  # an anonymous volume, removed with the container
        else:
            raise LaunchError(
                f"volume {mount.get('name')!r} mounted at {path}: the docker backend supports "
                "only emptyDir and hostPath volumes"
            )
    for bind in _store_mounts(store_urls):
        argv += ["-v", bind]

    if container.get("workingDir"):
        argv += ["-w", str(container["workingDir"])]
    command = [str(c) for c in container.get("command") or []]
    if command:
        argv += ["--entrypoint", command[0]]
    argv.append(str(container.get("image")))
    argv += command[1:] + [str(a) for a in container.get("args") or []]
    return DockerRun(argv, env, spec.get("activeDeadlineSeconds"), limits.get("memory"))


_STAMP = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)?\Z")


def _timestamp(text: str | None) -> float | None:
    """Docker's RFC 3339 time with nanoseconds → epoch seconds; None for "never"."""
    match = _STAMP.match(text or "")
    if match is None or (text or "").startswith("0001-"):
        return None
    head, frac, tz = match.groups()
    stamp = f"{head}.{(frac or '0')[:6]}{'+00:00' if tz in (None, 'Z') else tz}"
    return datetime.fromisoformat(stamp).timestamp()


def docker_outcome(
    state: Mapping[str, Any], *, memory_limit: str | None, timed_out: bool, timeout: int | None
) -> tuple[Phase, str | None, str | None]:
    """Pure: `docker inspect`'s State → (phase, reason, one-line message)."""
    status = state.get("Status")
    code = state.get("ExitCode")
    if timed_out:
        return (
            "Failed",
            "DeadlineExceeded",
            f"the task exceeded its timeout of {timeout} s and was stopped; "
            "raise @task(timeout=...) or make it faster",
        )
    if status in ("created", "running", "restarting", "paused"):
        return ("Running" if status != "created" else "Pending", None, None)
    if state.get("OOMKilled") or (code == 137 and memory_limit):
        limit = f"its memory limit of {memory_limit}" if memory_limit else "the memory available"
        return (
            "Failed",
            "OOMKilled",
            f"the task ran out of memory: it was killed (OOMKilled, exit {code}) for going over "
            f"{limit}; raise limits=Resources(mem=...) or use less memory",
        )
    if code == 0:
        return ("Succeeded", "Completed", None)
    error = state.get("Error") or ""
    message = f"the task's container exited with code {code}" + (f": {error}" if error else "")
    return ("Failed", "Error", message)


class DockerBackend(Backend):
    """Runs pods as containers through a docker CLI (`cli -H host ...`)."""

    name = "docker"

    def __init__(
        self,
        *,
        cli: str | None = None,
        host: str | None = None,
        keep: bool = False,
        log: Callable[[str], None] | None = None,
        extra_store_urls: Sequence[str] = (),
        container_name: str | None = None,
    ) -> None:
        found = cli or shutil.which("docker")
        if not found:
            raise LaunchError(
                "no docker CLI found for --backend docker; install one or set "
                "[tool.pack] docker_cli / PACK_DOCKER_CLI"
            )
        self.cli = found
        self.host = host
        self.keep = keep
        self.log = log or (lambda line: None)
        self.extra_store_urls = tuple(extra_store_urls)
        self.container_name = container_name
        self._engine: tuple[bool, bool] | None = None
        self._lock = threading.Lock()
        self._running: set[str] = set()  # containers whose attempt run() follows
        self._stopped = False

    # --- engine -------------------------------------------------------------------------

    def _base(self) -> list[str]:
        return [self.cli, *(["-H", self.host] if self.host else [])]

    def _docker(
        self, *args: str, check: bool = True, timeout: float | None = 120
    ) -> subprocess.CompletedProcess[str]:
        try:
            proc = subprocess.run(
                [*self._base(), *args], capture_output=True, text=True, timeout=timeout, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise LaunchError(f"docker {args[0]}: {exc}") from None
        if check and proc.returncode != 0:
            last = (proc.stderr.strip().splitlines() or ["no message"])[-1]
            raise LaunchError(
                f"docker {args[0]} failed on {self.host or 'the default engine'}: {last}"
            )
        return proc

    def _docker_all(
        self, *calls: Sequence[str], timeout: float = 120
    ) -> list[subprocess.CompletedProcess[str]]:
        """Independent CLI calls started together (each costs a CLI start, ~20-50 ms),
        their results in order; a non-zero exit is the caller's to judge."""
        procs: list[tuple[Sequence[str], subprocess.Popen[str]]] = []
        try:
            for args in calls:
                procs.append(
                    (
                        args,
                        subprocess.Popen(
                            [*self._base(), *args],
                            stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE,
                            text=True,
                        ),
                    )
                )
            results = []
            for args, proc in procs:
                out, err = proc.communicate(timeout=timeout)
                results.append(subprocess.CompletedProcess(list(args), proc.returncode, out, err))
            return results
        except (OSError, subprocess.TimeoutExpired) as exc:
            for _, proc in procs:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
            raise LaunchError(f"docker {calls[len(procs) - 1][0]}: {exc}") from None

    def _engine_calls(self) -> list[tuple[str, ...]]:
        if self._engine is not None:
            return []
        return [("network", "inspect", "bridge"), ("info", "--format", "{{json .Runtimes}}")]

    def _set_engine(self, bridge: subprocess.CompletedProcess[str], info: Any) -> None:
        self._engine = (bridge.returncode == 0, "nvidia" in info.stdout)

    def engine_features(self) -> tuple[bool, bool]:
        """(has a bridge network, has the nvidia runtime), asked once."""
        if self._engine is None:
            self._set_engine(*self._docker_all(*self._engine_calls()))
        assert self._engine is not None
        return self._engine

    def _probe(self, image: str) -> bool:
        """Engine features (if not known yet) and whether `image` is a digest ref that is
        present, asked in one round of concurrent CLI calls."""
        calls = self._engine_calls()
        by_digest = "@sha256:" in image
        if by_digest:
            calls.append(("image", "inspect", image))
        results = self._docker_all(*calls)
        if self._engine is None:
            self._set_engine(results[0], results[1])
        return by_digest and results[-1].returncode == 0

    def ensure_image(self, image: str, *, present: bool | None = None) -> None:
        """Pull `image` unless it is a digest ref already present (a tag may have moved).
        `present`: what an inspect made just before said (`_probe`)."""
        if present is None:
            present = (
                "@sha256:" in image
                and self._docker("image", "inspect", image, check=False).returncode == 0
            )
        if present:
            return
        proc = self._docker("pull", "--quiet", image, check=False, timeout=1800)
        if proc.returncode != 0:
            last = (proc.stderr.strip().splitlines() or ["no message"])[-1]
            raise LaunchError(
                f"cannot pull image {image}: {last}; check the ref exists in the registry and "
                "the engine can reach it (docker login for a private registry)"
            )

    # --- runs ---------------------------------------------------------------------------

    def _create(
        self, pod: Any, execution: Execution, name: str, timings: dict[str, float] | None = None
    ) -> DockerRun:
        image = _image_of(pod, self.container_name)
        t0 = time.monotonic()
        present = self._probe(image)
        bridge, nvidia = self.engine_features()
        store_urls = [execution.store_url, *self.extra_store_urls]
        if self.host and not self.host.startswith("unix://"):
            if any(urlparse(u).scheme == "file" for u in store_urls):
                raise LaunchError(
                    f"store {execution.store_url} is on this machine but the Docker engine "
                    f"{self.host} is remote; use an s3:// store"
                )
        with tempfile.TemporaryDirectory(prefix="pack-env-") as tmp:
            env_file = Path(tmp) / "env"
            run = docker_run_argv(
                pod,
                name=name,
                host_network=not bridge,
                gpu_runtime=nvidia,
                store_urls=store_urls,
                env_file=str(env_file),
                container_name=self.container_name,
            )
            self.ensure_image(image, present=present)
            if timings is not None:
                timings["pull"] = time.monotonic() - t0
            # Written only now, so the values sit on disk for the create alone, not a pull.
            fd = os.open(env_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.writelines(f"{k}={v}\n" for k, v in run.env.items())
            created = self._docker(*run.argv, check=False)
            if created.returncode != 0 and "already in use" in created.stderr:
                # A leftover of the same name (names are unique per execution and
                # attempt, so this is rare): removed only when it is in the way.
                self._docker("rm", "-f", "-v", name, check=False)
                created = self._docker(*run.argv, check=False)
            if created.returncode != 0:
                last = (created.stderr.strip().splitlines() or ["no message"])[-1]
                raise LaunchError(
                    f"docker create failed on {self.host or 'the default engine'}: {last}"
                )
        return run

    def run(self, pod: Any, execution: Execution, *, ready: Ready | None = None) -> AttemptResult:
        name = _container_name(pod)
        if self._stopped:
            raise RunInterrupted(f"not started: the run of {execution.id} is being stopped")
        t0 = time.monotonic()
        timings: dict[str, float] = {}
        run = self._create(pod, execution, name, timings)
        timings["pod_create"] = time.monotonic() - t0
        tail: collections.deque[str] = collections.deque(maxlen=LOG_TAIL_LINES)
        timed_out = False
        with self._lock:
            self._running.add(name)
            stopped = self._stopped
        if stopped:  # stop() came while this container was being created
            self._unstarted(name)
            raise RunInterrupted(f"not started: the run of {execution.id} is being stopped")
        if ready is not None:  # created (a pull and a create took a while), not yet started
            try:
                ready()
            except BaseException:
                self._unstarted(name)
                raise
        try:
            proc = subprocess.Popen(
                [*self._base(), "start", "--attach", name],
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                errors="replace",
            )
            reader = threading.Thread(target=self._pump, args=(proc, tail), daemon=True)
            reader.start()
            try:
                proc.wait(timeout=run.timeout_seconds)
            except subprocess.TimeoutExpired:
                timed_out = True
                self._docker("kill", name, check=False)
                proc.wait(timeout=60)
            reader.join(timeout=30)
            state = self._state(name)
        except KeyboardInterrupt:
            self._docker("stop", "-t", str(STOP_GRACE_SECONDS), name, check=False, timeout=60)
            if not self.keep:
                self._docker("rm", "-f", "-v", name, check=False)
            raise RunInterrupted(
                f"interrupted: stopped container {name}; the partial run is under "
                f"{execution.run_prefix}"
            ) from None
        finally:
            with self._lock:
                self._running.discard(name)
            timings["container"] = time.monotonic() - t0 - timings["pod_create"]
        if not self.keep:
            self._docker("rm", "-f", "-v", name, check=False)
        phase, reason, message = docker_outcome(
            state, memory_limit=run.memory_limit, timed_out=timed_out, timeout=run.timeout_seconds
        )
        return AttemptResult(
            attempt=execution.attempt,
            phase=phase,
            exit_code=state.get("ExitCode"),
            reason=reason,
            message=message,
            log_tail="\n".join(tail),
            started_at=_timestamp(state.get("StartedAt")),
            finished_at=_timestamp(state.get("FinishedAt")),
            details={"container": name, "engine": self.host or "default"},
            timings=timings,
        )

    def _unstarted(self, name: str) -> None:
        """Container `name` was created and will not be started: remove it."""
        self._docker("rm", "-f", "-v", name, check=False)
        with self._lock:
            self._running.discard(name)

    def cancel(self, execution_id: str) -> list[str]:
        """Remove the run's containers and those of every run it started (by label)."""
        from pack.launcher.podspec import LABEL_EXECUTION, LABEL_ROOT

        names: list[str] = []
        for label in (LABEL_EXECUTION, LABEL_ROOT):
            found = self._docker(
                "ps", "-a", "--filter", f"label={label}={execution_id}", "--format", "{{.Names}}"
            )
            names += [n for n in found.stdout.split() if n not in names]
        if names:
            self._docker("rm", "-f", "-v", *names, check=False, timeout=60)
        return names

    def stop(self) -> None:
        """Remove every container an attempt is following (their run() then fails:
        the container is gone) and start no new one."""
        with self._lock:
            self._stopped = True
            names = sorted(self._running)
        if names:
            self._docker("rm", "-f", "-v", *names, check=False, timeout=60)

    def _pump(self, proc: subprocess.Popen[str], tail: collections.deque[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            line = line.rstrip("\n")
            tail.append(line)
            self.log(line)

    def _state(self, name: str) -> dict[str, Any]:
        proc = self._docker("inspect", "--format", "{{json .State}}", name, check=False)
        if proc.returncode != 0:
            raise LaunchError(f"container {name} is gone from {self.host or 'the engine'}")
        state: dict[str, Any] = json.loads(proc.stdout)
        return state

    # --- detached runs ------------------------------------------------------------------

    def submit(self, pod: Any, execution: Execution) -> RunHandle:
        name = _container_name(pod)
        self._create(pod, execution, name)
        self._docker("start", name)
        return RunHandle(self.name, execution.id, execution.attempt, name)

    def status(self, handle: RunHandle) -> AttemptResult:
        state = self._state(handle.name)
        memory = self._docker(
            "inspect", "--format", "{{.HostConfig.Memory}}", handle.name, check=False
        ).stdout.strip()
        phase, reason, message = docker_outcome(
            state,
            memory_limit=None if memory in ("", "0") else f"{memory} bytes",
            timed_out=False,
            timeout=None,
        )
        return AttemptResult(
            attempt=handle.attempt,
            phase=phase,
            exit_code=state.get("ExitCode") if phase in ("Succeeded", "Failed") else None,
            reason=reason,
            message=message,
            started_at=_timestamp(state.get("StartedAt")),
            finished_at=_timestamp(state.get("FinishedAt")),
            details={"container": handle.name},
        )

    def logs(self, handle: RunHandle, *, follow: bool = False) -> Iterator[str]:
        argv = [*self._base(), "logs", *(["--follow"] if follow else []), handle.name]
        proc = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace"
        )
        assert proc.stdout is not None
        lines = 0
        with proc.stdout:
            for line in proc.stdout:
                lines += 1
                yield line.rstrip("\n")
        if proc.wait() != 0 and not lines:
            raise LaunchError(f"no logs for container {handle.name}: it may have been removed")

    def remove(self, handle: RunHandle) -> None:
        self._docker("rm", "-f", "-v", handle.name, check=False)


def _container_name(pod: Any) -> str:
    from pack.launcher.podspec import manifest_of

    name = (manifest_of(pod).get("metadata") or {}).get("name")
    if not name:
        raise LaunchError("the pod has no name to give its container")
    return str(name)


def _image_of(pod: Any, container_name: str | None) -> str:
    from pack.launcher.podspec import manifest_of, primary_container

    return str(primary_container(manifest_of(pod), container_name).get("image"))


def open_backend(
    config: Config,
    env: Mapping[str, str],
    *,
    log_sink: IO[str] | None = None,
    keep: bool = False,
) -> DockerBackend:
    """The backend `pack run --backend docker` uses: Config.docker_host / docker_cli,
    else DOCKER_HOST and the docker on PATH."""
    cli = config.docker_cli or shutil.which("docker", path=env.get("PATH"))
    return DockerBackend(
        cli=cli,
        host=config.docker_host or env.get("DOCKER_HOST") or None,
        keep=keep,
        log=line_writer(log_sink),
    )
