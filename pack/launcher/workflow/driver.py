"""The driver: runs each task call of a body as its own child run.

A call binds its arguments, writes the inputs, and goes through
`pack.launcher.run.run_execution` with the callee's image (pinned by the client),
the run's bundle and the backend the driver was given: the same code path as a
single `pack run`, so one pod and a thousand share it. Outputs come back as
Python values; Files stay in the store (a File handed on is passed by its URL,
never downloaded by the driver).

Threads, not processes: a call blocks in the backend (a watch, a subprocess), so a
map_task runs its elements in a pool and an `async def` workflow's calls are
awaitables on the same pool. Cached calls with the same key share one run.

Stopping: Ctrl-C, SIGTERM (a deleted driver pod) or `pack cancel` (a marker in the
store, checked before each child starts) set `cancelled`; `close()` then stops
what the backend still runs and waits for the threads, so no child outlives its
driver. On Kubernetes a driver pod also owns its children (ownerReferences), so
the cluster deletes them if the driver dies without cleaning up.
"""

from __future__ import annotations

import math
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pack.background import Background
from pack.errors import ChildFailed, LaunchError, PackError, RunCancelled
from pack.launcher.podspec import LABEL_PARENT, LABEL_ROOT
from pack.launcher.workflow.binding import bind
from pack.launcher.workflow.spec import ENV_SPEC, DriverSpec

if TYPE_CHECKING:
    from pack.config import Config
    from pack.launcher.backends.base import Backend
    from pack.launcher.podspec import RenderOptions
    from pack.launcher.task import Task

# Calls in flight at once (each is a thread blocked on its backend): map_task's
# `concurrency=None` means "all elements", up to this.
MAX_PARALLEL = 256
CANCEL_CHECK_SECONDS = 1.0


@dataclass(frozen=True)
class OwnPod:
    """The pod a driver runs in (from the Downward API), so children can name it owner."""

    name: str
    uid: str


def downward_env() -> list[dict[str, Any]]:
    """Env entries giving a pod its own name, uid and namespace (Downward API)."""
    from pack.launcher.workflow.spec import ENV_POD_NAME, ENV_POD_NAMESPACE, ENV_POD_UID

    return [
        {"name": name, "valueFrom": {"fieldRef": {"fieldPath": path}}}
        for name, path in (
            (ENV_POD_NAME, "metadata.name"),
            (ENV_POD_UID, "metadata.uid"),
            (ENV_POD_NAMESPACE, "metadata.namespace"),
        )
    ]


def child_template(
    spec: DriverSpec,
    *,
    parent: str,
    primary: str,
    environ: Mapping[str, str],
    own_pod: OwnPod | None,
    secret: str | None,
) -> dict[str, Any]:
    """Pure: the lowest pod layer of every child: the operator's template, the run's
    labels, the credentials, and on Kubernetes the Downward API env and the owner."""
    from pack.launcher.credentials import (
        ENV_PASS_ENV_SECRET,
        credentials_manifest,
        pod_credentials,
    )
    from pack.launcher.podspec import merge_manifests

    layer: dict[str, Any] = {
        "metadata": {"labels": {LABEL_ROOT: spec.root, LABEL_PARENT: parent}},
    }
    container: dict[str, Any] = {"name": primary}
    if spec.backend == "kubernetes":
        env: list[dict[str, Any]] = []
        if spec.pass_env:
            if secret is None:
                raise LaunchError(
                    f"the run passes {', '.join(spec.pass_env)} to its tasks but this driver "
                    "knows no Secret holding them"
                )
            env += [
                {"name": n, "valueFrom": {"secretKeyRef": {"name": secret, "key": n}}}
                for n in spec.pass_env
            ]
            env.append({"name": ENV_PASS_ENV_SECRET, "value": secret})
        container["env"] = env + downward_env()
        if spec.env_from_secret:
            container["envFrom"] = [{"secretRef": {"name": s}} for s in spec.env_from_secret]
        if own_pod is not None:
            layer["metadata"]["ownerReferences"] = [
                {"apiVersion": "v1", "kind": "Pod", "name": own_pod.name, "uid": own_pod.uid}
            ]
        layer["spec"] = {"containers": [container]}
    else:
        creds = pod_credentials(spec.pass_env, spec.env_from_secret, environ)
        layer = merge_manifests(layer, credentials_manifest(creds, primary))
    return merge_manifests(spec.pod_template or {}, layer)


class Driver:
    def __init__(
        self,
        spec: DriverSpec,
        *,
        backend: Backend,
        config: Config,
        parent: str,
        environ: Mapping[str, str],
        own_pod: OwnPod | None = None,
        secret: str | None = None,
        owns_backend: bool = False,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        from pack.launcher.podspec import BundleInfo
        from pack.launcher.workflow.cache import StoreCache

        self.spec = spec
        self.backend = backend
        self.config = config
        self.parent = parent
        self.environ = environ
        self.own_pod = own_pod
        self.secret = secret
        self.owns_backend = owns_backend
        self.on_close = on_close
        self.bundle = (
            None if spec.bundle_url is None else BundleInfo(spec.bundle_url, spec.bundle_digest)
        )
        self.cache = StoreCache(spec.store_url, spec.cache)
        self.cancelled = threading.Event()
        self._lock = threading.Lock()
        self._options: dict[str, RenderOptions] = {}
        self._inflight: dict[str, Future[Any]] = {}  # cache key -> the call that runs it
        self._running = 0
        self._pool: ThreadPoolExecutor | None = None
        self._marker_checked = float("-inf")
        self._closed = False
        share_watch = getattr(backend, "share_watch", None)
        if share_watch is not None:  # kubernetes: one watch for all the children
            share_watch(f"{LABEL_PARENT}={parent}")

    # --- what the body calls ------------------------------------------------------------

    def call(self, task: Task, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
        """`task(*args, **kwargs)` as a child run: its return value, or an awaitable of it
        when called inside a running event loop (an `async def` workflow)."""
        inputs = bind(task, args, kwargs)
        return self._dispatch(lambda: self.run_child(task, inputs, label=task.name))

    def map(
        self,
        task: Task,
        elements: Sequence[Mapping[str, Any]],
        *,
        concurrency: int | None,
        min_success_ratio: float,
    ) -> Any:
        """map_task's elements as child runs: a list in input order (None for an element
        that failed while the ratio still holds), or an awaitable of it."""
        return self._dispatch(lambda: self._map(task, elements, concurrency, min_success_ratio))

    def _dispatch(self, fn: Callable[[], Any]) -> Any:
        # Without asyncio imported no loop can be running: a plain call does not import
        # it (~15 ms of every run's start).
        asyncio = sys.modules.get("asyncio")
        if asyncio is None:
            return fn()
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is None:  # outside the except: a failure must not chain "no running loop"
            return fn()
        return asyncio.wrap_future(self._executor().submit(fn), loop=loop)

    def _executor(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(MAX_PARALLEL, thread_name_prefix="pack-call")
            return self._pool

    def _map(
        self,
        task: Task,
        elements: Sequence[Mapping[str, Any]],
        concurrency: int | None,
        min_success_ratio: float,
    ) -> list[Any]:
        n = len(elements)
        if n == 0:
            return []
        required = math.ceil(min_success_ratio * n - 1e-9)
        allowed = n - required
        results: list[Any] = [None] * n
        failures: dict[int, ChildFailed] = {}
        workers = min(concurrency or n, n, MAX_PARALLEL)
        pool = ThreadPoolExecutor(workers, thread_name_prefix=f"pack-map-{task.name}")
        futures: dict[Future[Any], int] = {}
        try:
            for i, inputs in enumerate(elements):
                label = f"{task.name}[{i}]"
                fut = pool.submit(self.run_child, task, dict(inputs), label=label, index=i)
                futures[fut] = i
            pending = set(futures)
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    i = futures[fut]
                    if fut.cancelled():
                        continue
                    exc = fut.exception()
                    if exc is None:
                        results[i] = fut.result()
                    elif isinstance(exc, ChildFailed):
                        failures[i] = exc
                    else:
                        raise exc
                if len(failures) > allowed:
                    # The ratio cannot be met any more: start no further element.
                    for fut in pending:
                        fut.cancel()
        except BaseException:
            self.stop()
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
        if len(failures) > allowed:
            first = failures[min(failures)]
            raise ChildFailed(
                first.label,
                f"{first.summary} ({len(failures)} of {n} elements failed; "
                f"min_success_ratio={min_success_ratio:g} needs {required} to succeed)",
                execution_id=first.execution_id,
                task=task.qualified_name,
            )
        return results

    # --- one child run ------------------------------------------------------------------

    def run_child(
        self,
        task: Task,
        inputs: Mapping[str, Any],
        *,
        label: str,
        index: int | None = None,
    ) -> Any:
        """One call: its own run (run_execution, which records it as a child of this
        driver's run), or a cache hit, or the result of an identical call in flight."""
        from pack.launcher.execution import Execution, new_execution_id
        from pack.launcher.outputs import returned_value
        from pack.launcher.run import input_literals

        self.check_cancelled()
        pin = self.spec.image_of(task.qualified_name)
        if pin is None:
            raise LaunchError(
                f"task {task.qualified_name} has no image resolved for this run: the client "
                "resolves the images of the tasks in the modules it loaded; import the "
                "module that defines it from the workflow's file"
            )
        execution = Execution(
            id=new_execution_id(),
            project=self.spec.project,
            domain=self.spec.domain,
            store_url=self.spec.store_url,
        )
        literals = input_literals(task, inputs, execution)
        key = None
        if task.cache and self.cache.mode != "off":
            key = self.cache.key(task, pin.ref, literals)
        if key is None:
            values = self._execute(task, execution, inputs, literals, pin, label, index)
            return returned_value(values, task.interface.shape)
        owner, shared = self._claim(key)
        if not owner:
            values = shared.result()  # the failure of the call that ran, if it failed
            self._record_shared(task, execution, inputs, pin, index)
            return returned_value(values, task.interface.shape)
        try:
            values = self._execute(task, execution, inputs, literals, pin, label, index)
        except BaseException as exc:
            with self._lock:
                self._inflight.pop(key, None)  # a later identical call tries again
            shared.set_exception(exc)
            raise
        shared.set_result(values)
        return returned_value(values, task.interface.shape)

    def _claim(self, key: str) -> tuple[bool, Future[Any]]:
        with self._lock:
            existing = self._inflight.get(key)
            if existing is not None:
                return False, existing
            fut: Future[Any] = Future()
            self._inflight[key] = fut
            return True, fut

    def _record_shared(
        self, task: Task, execution: Any, inputs: Mapping[str, Any], pin: Any, index: int | None
    ) -> None:
        """A call answered by an identical one in flight: a child run record with no
        attempt of its own, so the tree shows every call the body made."""
        from pack.launcher.run import jsonable
        from pack.runs.record import inputs_for_record
        from pack.runs.runstore import RunStore, new_record

        now = time.time()
        record = new_record(
            execution.id,
            task=task.qualified_name,
            backend=self.backend.name,
            now=now,
            image=pin.ref,
            inputs=inputs_for_record({k: jsonable(v) for k, v in inputs.items()}),
            parent=self.parent,
            index=index,
            cache="shared",
            project=execution.project,
            domain=execution.domain,
        )
        RunStore.open(self.spec.store_url).put(record.finished("succeeded", now=now))

    def _execute(
        self,
        task: Task,
        execution: Any,
        inputs: Mapping[str, Any],
        literals: Any,
        pin: Any,
        label: str,
        index: int | None,
    ) -> dict[str, Any]:
        from pack.launcher.backends.base import RunInterrupted
        from pack.launcher.images import ImageChoice
        from pack.launcher.run import run_execution
        from pack.packager.store import write_url

        # Written while the child's pod is created (run_execution waits for it then).
        writes = Background()
        writes.start("inputs", write_url, execution.inputs_url, literals.SerializeToString())
        image = ImageChoice(pin.ref, _digest(pin.spec_digest))
        with self._lock:
            self._running += 1
        try:
            self.check_cancelled()
            result = run_execution(
                task,
                execution,
                image=image,
                bundle=self.bundle,
                backend=self.backend,
                config=self.config,
                options=self._options_for(task),
                inputs=inputs,
                parent=self.parent,
                index=index,
                literals=literals,
                cache=self.cache if task.cache else None,
                writes=writes,
            )
        except (RunInterrupted, KeyboardInterrupt):
            self.cancelled.set()
            raise RunCancelled(f"{label}: stopped") from None
        except PackError:
            if self.cancelled.is_set():
                raise RunCancelled(f"{label}: stopped") from None
            raise
        finally:
            writes.settle()  # nothing half written when the driver ends
            with self._lock:
                self._running -= 1
        if not result.succeeded:
            if self.cancelled.is_set():
                raise RunCancelled(f"{label}: stopped")
            raise ChildFailed(
                label, result.summary(), execution_id=execution.id, task=task.qualified_name
            )
        return result.outputs

    def _options_for(self, task: Task) -> RenderOptions:
        from pack.launcher.podspec import PRIMARY_CONTAINER, RenderOptions

        primary = (
            task.pod_template.primary_container_name if task.pod_template else PRIMARY_CONTAINER
        )
        with self._lock:
            options = self._options.get(primary)
            if options is None:
                template = child_template(
                    self.spec,
                    parent=self.parent,
                    primary=primary,
                    environ=self.environ,
                    own_pod=self.own_pod,
                    secret=self.secret,
                )
                options = RenderOptions(
                    base_template=template,
                    extra_env={ENV_SPEC: self.spec.url},
                    namespace=self.spec.namespace if self.spec.backend == "kubernetes" else None,
                )
                self._options[primary] = options
            return options

    # --- stopping -----------------------------------------------------------------------

    def check_cancelled(self) -> None:
        """Raise RunCancelled once the run is being stopped (here, or by `pack cancel`)."""
        if self.cancelled.is_set():
            raise RunCancelled("the run is being cancelled")
        now = time.monotonic()
        if now - self._marker_checked < CANCEL_CHECK_SECONDS:
            return
        self._marker_checked = now
        from pack.launcher.workflow.spec import cancel_url
        from pack.packager.store import exists_url

        if exists_url(cancel_url(self.spec.store_url, self.spec.root)):
            self.cancelled.set()
            raise RunCancelled(f"run {self.spec.root} was cancelled")

    def stop(self) -> None:
        """Start no further child and stop the running ones (their calls raise RunCancelled)."""
        self.cancelled.set()
        self.backend.stop()

    def close(self) -> None:
        """Stop what still runs (a body that returned or failed leaves nothing behind),
        wait for the call threads, release what the driver opened."""
        if self._closed:
            return
        self._closed = True
        with self._lock:
            running = self._running
            pool = self._pool
        if running:
            self.stop()
        try:
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)
        finally:
            if self.on_close is not None:
                self.on_close()
            if self.owns_backend:
                self.backend.close()


def _digest(text: str | None) -> Any:
    from pack.digest import Digest

    return None if text is None else Digest.parse(text)


def driver_from_env(env: Mapping[str, str], parent: str) -> Driver:
    """The driver of a task running under pack (a pod, a container or a process) whose
    env names a driver spec: read the spec, open the backend its children run on."""
    import sys
    import tempfile

    from pack.config import Config
    from pack.launcher.credentials import ENV_PASS_ENV_SECRET
    from pack.launcher.run import open_backend
    from pack.launcher.workflow.spec import ENV_POD_NAME, ENV_POD_UID, read_spec

    spec = read_spec(env[ENV_SPEC])
    if spec.backend == "docker":
        raise LaunchError(
            "a task called another task inside a docker container; the docker backend runs "
            "calls from a @workflow (driven by `pack run`), not from inside a container: "
            "call both tasks from a workflow, or use --backend kubernetes or local"
        )
    config = Config(
        cache_dir=Path(tempfile.mkdtemp(prefix="pack-driver-")),
        store=spec.store_url,
        s3_endpoint_url=spec.s3_endpoint_url,
        network_timeout=spec.network_timeout,
        backend=spec.backend,
        namespace=spec.namespace or "default",
        project=spec.project,
        domain=spec.domain,
    )
    backend = open_backend(spec.backend, config, env, log_sink=sys.stderr)
    name, uid = env.get(ENV_POD_NAME), env.get(ENV_POD_UID)
    own_pod = OwnPod(name, uid) if name and uid and spec.backend == "kubernetes" else None
    return Driver(
        spec,
        backend=backend,
        config=config,
        parent=parent,
        environ=env,
        own_pod=own_pod,
        secret=env.get(ENV_PASS_ENV_SECRET),
        owns_backend=True,
    )
