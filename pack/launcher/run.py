"""The run pipeline: package, publish, write inputs, render, run attempts, read back.

An orchestrator over small parts: the packager (bundle), images (ref), the type
engine (literals), podspec (the pod, a manifest dict) and a Backend (somewhere to run it). It reads no
environment: the CLI hands it the Config and the environment for the backend.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import importlib
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Protocol

from pack.background import Background
from pack.config import Config
from pack.errors import LaunchError, TaskFailed
from pack.launcher.backends.base import AttemptResult, Backend
from pack.launcher.execution import Execution, new_execution_id
from pack.launcher.images import ImageChoice, image_for
from pack.launcher.load import TaskSource
from pack.launcher.podspec import BundleInfo, RenderOptions, render_manifest
from pack.launcher.task import Task
from pack.launcher.types.engine import TypeContext, default_engine

if TYPE_CHECKING:
    from flyteidl.core.literals_pb2 import LiteralMap

    from pack.packager.publish import PackagePlan
    from pack.runs.logs import LogCapture
    from pack.runs.recorder import Recorder

# botocore's NoCredentialsError: the task (or pack-fast-execute) found no S3 credentials.
_NO_CREDENTIALS = "Unable to locate credentials"
BACKENDS = ("local", "docker", "kubernetes")


@dataclass(frozen=True)
class ErrorInfo:
    """What errors.pb said (or what pack inferred when the attempt left none)."""

    code: str
    message: str
    user: bool
    recoverable: bool


@dataclass
class RunResult:
    execution: Execution  # at its last attempt
    task: str
    image: str
    bundle: Any  # BundleRef | None
    attempts: list[AttemptResult] = field(default_factory=list)
    errors: list[ErrorInfo | None] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    image_info: dict[str, Any] = field(default_factory=dict)  # remote backends: status, digest
    max_attempts: int = 1  # 1 + the task's retries (1 when detached)
    handle: Any = None  # RunHandle of a detached attempt
    left_out: tuple[Any, ...] = ()  # the bundle plan's Excluded paths, for advice on failure
    cache: str | None = None  # hit (no attempt ran) | miss | None (the task is not cached)
    cache_key: str | None = None
    made_calls: bool | None = None  # the last attempt called tasks (None: it did not say)

    @property
    def succeeded(self) -> bool:
        if self.cache == "hit":
            return True
        return bool(self.attempts) and self.attempts[-1].succeeded

    @property
    def error(self) -> ErrorInfo | None:
        return self.errors[-1] if self.errors else None

    @property
    def bundle_short(self) -> str | None:
        """The first 12 hex digits of the digest of the code bundle that ran, if any."""
        digest = getattr(self.bundle, "digest", None)
        if not digest:
            return None
        return str(digest).rpartition(":")[2][:12]

    def summary(self) -> str:
        """What went wrong in one line: the user's exception line, pack's first line,
        or what the backend saw (OOMKilled, a timeout, ...)."""
        err = self.error
        if err is not None:
            lines = [line for line in err.message.splitlines() if line.strip()]
            if lines:
                return lines[-1].strip() if err.user else lines[0].strip()
            return err.code
        last = self.attempts[-1] if self.attempts else None
        if last is None:
            return "no attempt ran"
        return last.message or last.reason or "no error document was written"

    def failure(self, *, log_shown: bool = False) -> TaskFailed:
        """The error a failed run ends with. `log_shown`: the container's output was
        streamed to the user, so a traceback the attempt printed is not repeated; the
        error then names the exception and where its error document lives."""
        from pack.launcher.sourcepaths import attempt_source_paths

        last = self.attempts[-1]
        err = self.error
        n = len(self.attempts)
        code = f", bundle {self.bundle_short}" if self.bundle_short else ""
        head = f"task {self.task} failed (execution {self.execution.id}{code}, attempt {n} of {self.max_attempts}"
        head += "; not retried)" if n < self.max_attempts else ")"
        if err is not None:
            who = "in the task's code" if err.user else "in pack's runtime"
            # As the streamed log showed it (a local run: frames in the user's files).
            message = attempt_source_paths(err.message.rstrip(), last.details)
            if log_shown and message and message in last.log_tail:
                lines = [line for line in message.splitlines() if line.strip()]
                summary = lines[-1] if err.user else lines[0]
                above = "; traceback above" if len(lines) > 1 else ""
                body = (
                    f"{head}: {summary} ({who}{above}; error document {self.execution.errors_url})"
                )
            else:
                body = f"{head}: {err.code} {who}:\n{message}"
        else:
            detail = last.message or last.reason or "no error document was written"
            body = f"{head}: {detail}"
            if last.log_tail:
                body += "\nlast output:\n" + last.log_tail.rstrip()
        hint = None
        said = (err.message if err is not None else "") + "\n" + last.log_tail
        if self.left_out:
            from pack.packager.selection import not_shipped_hint

            hint = not_shipped_hint(said, self.left_out)
        if hint is None and _NO_CREDENTIALS in said:
            hint = (
                "a task sees only the variables --pass-env names (and pod template values), on "
                "every backend: pass the store's credentials, e.g. --pass-env AWS_ACCESS_KEY_ID "
                "--pass-env AWS_SECRET_ACCESS_KEY"
            )
        return TaskFailed(body, hint=hint)

    def as_json(self) -> dict[str, Any]:
        bundle = self.bundle
        return {
            "execution_id": self.execution.id,
            "task": self.task,
            "status": "succeeded" if self.succeeded else "failed",
            "image": self.image,
            "image_status": self.image_info.get("status"),
            "bundle": None
            if bundle is None
            else {
                "url": bundle.url,
                "digest": str(bundle.digest),
                "files": bundle.files,
                "bytes": bundle.bytes,
                "uploaded": bundle.uploaded,
            },
            "artifacts": self.execution.run_prefix,
            "outputs": {k: jsonable(v) for k, v in self.outputs.items()},
            "attempts": [
                {
                    "attempt": a.attempt,
                    "phase": a.phase,
                    "exit_code": a.exit_code,
                    "reason": a.reason,
                    "error": None if e is None else dataclasses.asdict(e),
                }
                for a, e in zip(self.attempts, self.errors, strict=False)
            ],
            "timings": {k: round(v, 4) for k, v in self.timings.items()},
            "cache": None if self.cache is None else {"status": self.cache, "key": self.cache_key},
        }


def jsonable(value: Any) -> Any:
    """A JSON-friendly form of a task output (Files by URL, dataclasses as objects)."""
    from pack.launcher.types.files import _Ref

    if isinstance(value, _Ref):
        return value.uri or str(value.path)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if hasattr(value, "tolist"):  # numpy arrays
        return value.tolist()
    return value


class ResultCache(Protocol):
    """Stored outputs by call (pack.launcher.workflow.cache.StoreCache is the one implementation):
    `key` of a call, `lookup` a stored outputs.pb (None: a miss), `store` one.
    `read`/`write` say what the run may do (--no-cache: neither; --overwrite-cache: write)."""

    read: bool
    write: bool

    def key(self, task: Task, image_ref: str, literals: LiteralMap) -> str: ...

    def lookup(self, task: Task, key: str) -> bytes | None: ...

    def store(self, task: Task, key: str, outputs: bytes, *, execution_id: str) -> None: ...


def open_backend(
    name: str,
    config: Config,
    env: Mapping[str, str],
    *,
    log_sink: IO[str] | None = None,
    **options: Any,
) -> Backend:
    """`pack.launcher.backends.<name>.open_backend(config, env, log_sink=)`, imported on use."""
    if name not in BACKENDS:
        raise LaunchError(f"unknown backend {name!r}; valid: {', '.join(BACKENDS)}")
    try:
        module = importlib.import_module(f"pack.launcher.backends.{name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"pack.launcher.backends.{name}":
            raise
        raise LaunchError(f"the {name} backend is not available in this version of pack") from None
    backend: Backend = module.open_backend(config, env, log_sink=log_sink, **options)
    return backend


class Timings:
    def __init__(self, clock: Callable[[], float] = time.perf_counter) -> None:
        self.clock = clock
        self.started = clock()
        self.values: dict[str, float] = {}

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        start = self.clock()
        try:
            yield
        finally:
            self.values[name] = self.values.get(name, 0.0) + self.clock() - start


def read_error(execution: Execution) -> ErrorInfo | None:
    from flyteidl.core import errors_pb2, execution_pb2

    from pack.errors import StoreError
    from pack.packager.store import read_url

    try:
        data = read_url(execution.errors_url)
    except StoreError:
        return None
    doc = errors_pb2.ErrorDocument.FromString(data)
    err = doc.error
    return ErrorInfo(
        code=err.code,
        message=err.message,
        user=err.origin != execution_pb2.ExecutionError.SYSTEM,
        recoverable=err.kind == errors_pb2.ContainerError.RECOVERABLE,
    )


def retryable(outcome: AttemptResult, error: ErrorInfo | None) -> bool:
    """Whether a failed attempt is worth another: errors.pb says so, else the backend
    (a timeout or a pod failure it marks non-recoverable is not retried)."""
    if error is not None:
        return error.recoverable
    return outcome.reason != "DeadlineExceeded" and outcome.details.get("recoverable") != "false"


def _attempt_reads(execution: Execution) -> Background:
    """outputs.pb (`outputs`) and timings.json (`marks`) of a finished attempt, each read
    from now on beside whatever the pipeline does next (it stores the attempt's log)."""
    from pack.packager.store import read_url

    reads = Background()
    reads.start("outputs", read_url, execution.outputs_url)
    reads.start("marks", _task_marks, execution)
    return reads


def _task_marks(execution: Execution) -> dict[str, float]:
    import json

    from pack.errors import StoreError
    from pack.packager.store import read_url

    try:
        marks = json.loads(read_url(execution.timings_url))
    except (StoreError, ValueError):
        return {}
    return {k: float(v) for k, v in marks.items() if isinstance(v, int | float)}


def _attempt_timings(result: AttemptResult, marks: Mapping[str, float]) -> dict[str, float]:
    """Split an attempt's wall time with the marks pack-execute recorded."""
    out: dict[str, float] = {}
    if result.started_at is None or result.finished_at is None:
        return out
    out["attempt"] = result.finished_at - result.started_at
    if "task_start" in marks and "task_end" in marks:
        out["spawn"] = marks["task_start"] - result.started_at
        out["task"] = marks["task_end"] - marks["task_start"]
        out["exit"] = result.finished_at - marks["task_end"]
    if "fetch_start" in marks and "fetch_end" in marks:
        out["spawn.fetch_bundle"] = marks["fetch_end"] - marks["fetch_start"]
    return out


def plan_bundle(
    source: TaskSource,
    copy: str,
    config: Config,
    *,
    follow_links: bool = False,
    on_warning: Callable[[str], None] | None = None,
) -> PackagePlan:
    """What the bundle of `source` holds under `copy` (all|auto), named by its tree digest."""
    from pack.packager.publish import plan_package

    return plan_package(
        source.root,
        copy,
        source.file,
        cache_dir=config.cache_dir,
        max_bytes=config.max_bundle_bytes,
        follow_links=follow_links,
        on_warning=on_warning,
    )


def input_literals(task: Task, inputs: Mapping[str, Any], execution: Execution) -> LiteralMap:
    """Python inputs as literals; local files and directories are uploaded by content
    (the store's files/<sha256>/, once; other offloaded values under the run's
    inputs-raw prefix), stored Files pass by their URL."""
    tctx = TypeContext(
        raw_output_prefix=execution.inputs_raw_prefix, files_prefix=execution.files_prefix
    )
    return default_engine().to_literal_map(dict(inputs), task.interface.inputs, tctx)


def run(
    task: Task,
    source: TaskSource,
    inputs: Mapping[str, Any],
    *,
    config: Config,
    backend: Backend,
    copy: str = "all",
    follow_links: bool = False,
    execution_id: str | None = None,
    options: RenderOptions | None = None,
    on_warning: Callable[[str], None] | None = None,
    on_attempt: Callable[[AttemptResult, ErrorInfo | None], None] | None = None,
    prepare_image: Callable[[ImageChoice], tuple[ImageChoice, dict[str, Any]]] | None = None,
    detach: bool = False,
    log_capture: LogCapture | None = None,
    cache: ResultCache | None = None,
    on_launch: Callable[[Any, Execution, Background], tuple[Backend, RenderOptions | None]]
    | None = None,
) -> RunResult:
    """Run `task` with `inputs` through `backend`; never raises for a task failure
    (see RunResult.succeeded / .failure()), raises PackError when pack cannot run it.
    `log_capture`: the LogCapture `backend` was opened with as its log sink, so each
    attempt's whole output is kept with the run's record (see run_execution).

    `on_launch(bundle, execution, writes)`, called once the bundle is published and
    before anything runs, may hand back another backend and render options for this run
    (a workflow's driver does: pack.launcher.workflow); what it stores for the pod to
    read it starts in `writes`.

    Only what names the pod comes before it: the bundle (its args point at it), the
    image and the inputs' literals (a bad value stops the run before a pod exists; local
    files are uploaded then), and what the pod reads at its start
    (inputs.pb, the driver spec, the run record) is written while it is created and
    its container starts: the backend waits for those writes (`ready`) before the
    container could read them, and ends the attempt, its pod deleted, if one failed."""
    from pack.packager.publish import publish_to
    from pack.packager.store import use_network_timeout, use_s3_endpoint, write_url

    timings = Timings()
    use_s3_endpoint(config.s3_endpoint_url)
    use_network_timeout(config.network_timeout)
    total_start = timings.started
    execution = Execution(
        id=execution_id or new_execution_id(),
        project=config.project,
        domain=config.domain,
        store_url=config.store_url,
    )
    writes = Background()
    try:
        # The literals' protobuf modules load beside the packaging (~20 ms): they import
        # no module of pack's, so two threads importing cannot meet in an import cycle.
        writes.start("protobuf", importlib.import_module, "flyteidl.core.literals_pb2")
        bundle = None
        left_out: tuple[Any, ...] = ()
        if copy != "none":
            with timings.phase("package"):
                plan = plan_bundle(
                    source, copy, config, follow_links=follow_links, on_warning=on_warning
                )
                left_out = plan.excluded
            with timings.phase("publish"):
                bundle = publish_to(
                    plan,
                    config.store_url,
                    cache_dir=config.cache_dir,
                    compression=config.compression,
                )
        with timings.phase("image"):
            image: ImageChoice = image_for(task.image, config, on_warning=on_warning)
            image_info: dict[str, Any] = {}
            if prepare_image is not None:  # remote backends: built or reused, pinned by digest
                image, image_info = prepare_image(image)
        if on_launch is not None:
            with timings.phase("launch"):
                backend, launch_options = on_launch(bundle, execution, writes)
                options = launch_options or options
        with timings.phase("inputs"):
            writes.result("protobuf")
            literals = input_literals(task, inputs, execution)
            writes.start("inputs", write_url, execution.inputs_url, literals.SerializeToString())
        result = run_execution(
            task,
            execution,
            image=image,
            bundle=bundle,
            backend=backend,
            config=config,
            options=options,
            on_attempt=on_attempt,
            detach=detach,
            timings=timings,
            inputs=inputs,
            log_capture=log_capture,
            literals=literals,
            cache=cache,
            writes=writes,
        )
    except BaseException:
        writes.settle()  # nothing is left half written when the process ends
        raise
    result.image_info = image_info
    result.left_out = left_out
    timings.values["total"] = timings.clock() - total_start
    return result


def run_execution(
    task: Task,
    execution: Execution,
    *,
    image: ImageChoice,
    bundle: Any,
    backend: Backend,
    config: Config,
    options: RenderOptions | None = None,
    on_attempt: Callable[[AttemptResult, ErrorInfo | None], None] | None = None,
    detach: bool = False,
    timings: Timings | None = None,
    inputs: Mapping[str, Any] | None = None,
    log_capture: LogCapture | None = None,
    parent: str | None = None,
    index: int | None = None,
    literals: LiteralMap | None = None,
    cache: ResultCache | None = None,
    writes: Background | None = None,
) -> RunResult:
    """The attempts of one execution whose inputs.pb is written (or being written, in
    `writes`: what the pod reads, awaited once the first attempt's pod is created):
    render the pod, run it
    on `backend` (or submit it, `detach`), retry what is retryable, read the outputs back.
    A single `pack run` and every task call of a workflow go through here.

    `bundle` is a BundleRef or BundleInfo (url, digest), or None when the code is in the image.

    Every execution gets a run record in the store (pack.runs), kept current at each
    attempt, with each attempt's log: from `log_capture` (the LogCapture `backend` was
    opened with as its log sink), else the tail the backend reports. `inputs` (the
    Python values) are shown in the record; `parent` and `index` (a map_task's element)
    make it a child in a workflow's tree.
    A task with `cache=True` and a `cache` (its input `literals` given) is looked up
    first: a hit returns the stored outputs and starts nothing.
    """
    from pack.packager.store import use_network_timeout, use_s3_endpoint

    timings = timings or Timings()
    # Every store access of this execution, and its pod's (through the env render puts
    # them in), uses the configured endpoint and timeout.
    use_s3_endpoint(config.s3_endpoint_url)
    use_network_timeout(config.network_timeout)
    options = dataclasses.replace(
        options or RenderOptions(),
        s3_endpoint_url=config.s3_endpoint_url,
        network_timeout=config.network_timeout,
    )
    result = RunResult(
        execution=execution,
        task=f"{task.module}.{task.name}",
        image=image.ref,
        bundle=bundle,
        max_attempts=1 if detach else task.retries + 1,
    )
    local_dir = config.cache_dir / "runs" / execution.id
    stored: bytes | None = None
    if cache is not None and task.cache and literals is not None and (cache.read or cache.write):
        with timings.phase("cache"):
            result.cache_key = cache.key(task, image.ref, literals)
            stored = cache.lookup(task, result.cache_key) if cache.read else None
        result.cache = "miss" if stored is None else "hit"
    recorder = _recorder(
        task, result, execution, backend, inputs or {}, detach, log_capture, parent, index
    )
    if result.cache == "hit":  # the stored outputs are the run's: nothing starts
        assert stored is not None
        result.outputs = read_outputs(task, stored, local_dir)
        result.timings = timings.values
        if writes is not None:
            writes.wait()
        recorder.finish("succeeded", timings={k: round(v, 4) for k, v in timings.values.items()})
        return result
    info = None if bundle is None else BundleInfo(bundle.url, str(bundle.digest))
    reads: Background | None = None
    for attempt in range(1, result.max_attempts + 1):
        current = execution.with_attempt(attempt)
        result.execution = current
        with timings.phase("render"):
            pod = render_manifest(
                task,
                image=image.ref,
                execution=current,
                bundle=info,
                spec_digest=image.spec_digest,
                options=options,
            )
        # The first attempt's pod reads what the pipeline is still writing; every
        # attempt's pod is created while its record is written.
        pending = writes if writes is not None and attempt == 1 else Background()
        with recorder.attempt(
            attempt, name=(pod.get("metadata") or {}).get("name"), writes=pending
        ):
            if detach:
                pending.wait()
                result.handle = backend.submit(pod, current)
            else:
                outcome = backend.run(pod, current, ready=pending.wait)
                pending.wait()  # done already, unless a backend had nothing to wait for
        if detach:
            recorder.submitted()
            break
        for key, seconds in outcome.timings.items():
            timings.values[f"backend.{key}"] = timings.values.get(f"backend.{key}", 0.0) + seconds
        # A success's outputs and the task's marks are read while its log is stored.
        reads = _attempt_reads(current) if outcome.succeeded else None
        error = None if outcome.succeeded else read_error(current)
        result.attempts.append(outcome)
        result.errors.append(error)
        last = outcome.succeeded or not retryable(outcome, error) or attempt == result.max_attempts
        recorder.attempt_ended(
            attempt,
            succeeded=outcome.succeeded,
            log_tail=outcome.log_tail,
            started_at=outcome.started_at,
            finished_at=outcome.finished_at,
            exit_code=outcome.exit_code,
            reason=outcome.reason,
            message=outcome.message,
            error=None if error is None else dataclasses.asdict(error),
            write=not last,
        )
        if on_attempt is not None:
            on_attempt(outcome, error)
        if reads is not None:
            marks = reads.result("marks")
            timings.values.update(_attempt_timings(outcome, marks))
            if "made_calls" in marks:
                result.made_calls = bool(marks["made_calls"])
        if last:
            break

    if result.succeeded:
        assert reads is not None
        with timings.phase("read_back"):
            data: bytes = reads.result("outputs")
            result.outputs = read_outputs(task, data, local_dir)
        if cache is not None and cache.write and result.cache_key is not None:
            with timings.phase("cache"):
                cache.store(task, result.cache_key, data, execution_id=execution.id)
    result.timings = timings.values
    if not detach:
        timings.values["total"] = timings.clock() - timings.started
        recorder.finish(
            "succeeded" if result.succeeded else "failed",
            timings={k: round(v, 4) for k, v in result.timings.items()},
            error=None if result.succeeded else _error_line(result),
        )
    return result


def _recorder(
    task: Task,
    result: RunResult,
    execution: Execution,
    backend: Backend,
    inputs: Mapping[str, Any],
    detach: bool,
    capture: LogCapture | None,
    parent: str | None,
    index: int | None,
) -> Recorder:
    """The writer of this execution's run record (pack.runs), pending until attempt 1."""
    from pack.runs.record import inputs_for_record
    from pack.runs.recorder import Recorder
    from pack.runs.runstore import RunStore, new_record

    record = new_record(
        execution.id,
        task=result.task,
        backend=backend.name,
        now=time.time(),
        image=result.image,
        bundle_digest=None if result.bundle is None else str(result.bundle.digest),
        inputs=inputs_for_record({k: jsonable(v) for k, v in inputs.items()}),
        max_attempts=result.max_attempts,
        parent=parent,
        index=index,
        kind="workflow" if task.is_workflow else "task",
        cache=result.cache,
        project=execution.project,
        domain=execution.domain,
        detached=detach,
        deck=bool(getattr(task, "deck", False)),
    )
    runs = RunStore.open(execution.store_url)
    return Recorder(runs, record, capture=capture)


def _error_line(result: RunResult) -> str:
    """The final failure in one line, for run lists."""
    err = result.error
    if err is not None:
        lines = [line for line in err.message.splitlines() if line.strip()]
        return f"{err.code}: {lines[-1] if err.user and lines else (lines or [''])[0]}".strip()
    last = result.attempts[-1] if result.attempts else None
    if last is None:
        return "no attempt ran"
    return " ".join(x for x in (last.reason, last.message) if x) or "failed"


def read_outputs(task: Task, data: bytes, local_dir: Path) -> dict[str, Any]:
    """outputs.pb's bytes as Python values by output name; Files stay in the store
    (fetched into `local_dir` only when opened)."""
    from flyteidl.core.literals_pb2 import LiteralMap

    out = LiteralMap.FromString(data)
    return default_engine().to_python_map(
        out, task.interface.outputs, TypeContext(local_dir=local_dir)
    )
