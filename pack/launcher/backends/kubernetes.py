"""The kubernetes backend: create the rendered pod and follow it.

Requests go through `k8sapi.PodApi`, the handful of core/v1 calls used here, over
pack's own HTTP transport (`kubehttp`); the official client, whose import alone is
0.4-0.7 s of a warm run, is loaded only for kubeconfigs that need it (exec plugins,
auth providers, proxies: see `kubeaccess`).

Following is a watch on the one pod (`field_selector=metadata.name=…`) from the
resource version the create returned; after a disconnect, a server timeout or a
410 Gone it re-reads the pod and watches again from there, so no transition is
lost and nothing sleeps. Logs stream from the moment the container has started
(`follow=True` in a thread, which also returns everything already written for
a pod that finished before the thread started). Failures become one-line
messages through `podstatus.classify`. Each attempt is its own pod (the pod's
name and PACK_ATTEMPT carry the attempt); it is deleted afterwards unless `keep`.

The store must be one a pod can reach: `file://` stores are refused before
anything is packaged.
"""

from __future__ import annotations

import collections
import contextlib
import os
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import urlparse

from pack.errors import LaunchError
from pack.launcher.backends.base import (
    AttemptResult,
    Backend,
    Phase,
    Ready,
    RunHandle,
    RunInterrupted,
)
from pack.launcher.backends.donesignal import (
    DoneSignal,
    is_done_line,
    new_token,
    without_done_line,
)
from pack.launcher.backends.k8sapi import PodApi, stream_lines
from pack.launcher.backends.kubehttp import ApiError, Stream
from pack.launcher.backends.podstatus import PodOutcome, classify
from pack.launcher.backends.podwatch import PodView
from pack.launcher.backends.sink import line_writer
from pack.launcher.backends.storedlog import FIRST_DELAY_SECONDS, StoredLogPoller
from pack.launcher.backends.storedlog import delays as stored_log_delays
from pack.launcher.entrypoint import ENV_SAY_DONE
from pack.launcher.logcapture import ENV_STORE_LOG

if TYPE_CHECKING:
    from pack.config import Config
    from pack.launcher.backends.podwatch import PodWatcher
    from pack.launcher.execution import Execution

LOG_TAIL_LINES = 200
WATCH_SECONDS = 60  # server-side timeout of one watch request; the loop re-watches
LOG_DRAIN_SECONDS = 60
# How long a follow stream may take to end by itself once the container has ended.
FOLLOW_GRACE_SECONDS = 0.2


def _pod_name(pod: Any) -> str:
    if isinstance(pod, Mapping):
        name = (pod.get("metadata") or {}).get("name")
    else:
        name = pod.metadata.name if pod.metadata else None
    if not name:
        raise LaunchError("the pod has no name")
    return str(name)


def secret_name(pod_name: str) -> str:
    """The Secret holding a pod's --pass-env values (pod names are at most 63 chars)."""
    return f"{pod_name}-pass-env"


@contextlib.contextmanager
def _api_errors(what: str) -> Iterator[None]:
    """API failures as one-line LaunchErrors: `what: 403 message`, or the API unreachable."""
    try:
        yield
    except ApiError as exc:
        raise LaunchError(f"{what}: {exc.status} {exc.message}") from None
    except OSError as exc:
        raise LaunchError(f"cannot reach the Kubernetes API: {exc}") from None


def check_store(store_url: str) -> None:
    """Pods cannot read this machine's disk: refuse file:// stores up front."""
    if urlparse(store_url).scheme == "file":
        raise LaunchError(
            f"the kubernetes backend needs a store its pods can reach, not {store_url} on this "
            "machine; use --store s3://bucket/prefix (or [tool.pack] store)"
        )


def _phase(outcome: PodOutcome) -> Phase:
    return {
        "pending": "Pending",
        "running": "Running",
        "succeeded": "Succeeded",
        "failed": "Failed",
    }[outcome.state]  # type: ignore[return-value]


def _container_times(pod: Any, container_name: str) -> tuple[float | None, float | None]:
    for status in (pod.status and pod.status.container_statuses) or []:
        if status.name != container_name or status.state is None:
            continue
        term = status.state.terminated
        if term is not None:
            started = term.started_at.timestamp() if term.started_at else None
            finished = term.finished_at.timestamp() if term.finished_at else None
            return started, finished
        running = status.state.running
        if running is not None and running.started_at:
            return running.started_at.timestamp(), None
    return None, None


def _started(pod: Any, container_name: str) -> bool:
    for status in (pod.status and pod.status.container_statuses) or []:
        if status.name == container_name and status.state is not None:
            return status.state.running is not None or status.state.terminated is not None
    return False


# The attempt's end when the task said it succeeded before the kubelet reported it:
# pack-execute writes DONE_LINE only when it exits 0.
TASK_SAID_DONE = PodOutcome("succeeded", exit_code=0)


def say_done_layer(container: str, token: str, *, store_log: bool = False) -> dict[str, Any]:
    """The manifest layer that has `container` end a successful run with its done line
    and, with `store_log`, store its log (pack.launcher.logcapture)."""
    env = [{"name": ENV_SAY_DONE, "value": token}]
    if store_log:
        env.append({"name": ENV_STORE_LOG, "value": "1"})
    return {"spec": {"containers": [{"name": container, "env": env}]}}


def _exit_code(pod: Any, container_name: str) -> int | None:
    for status in (pod.status and pod.status.container_statuses) or []:
        if status.name == container_name and status.state and status.state.terminated:
            return int(status.state.terminated.exit_code)
    return None


class _LogFollower:
    """Streams one container's log lines to `sink` in a thread; keeps a tail. The pod's
    closing `done` line (donesignal.done_line) is not shown: it ends the following and
    calls `on_done`."""

    def __init__(
        self,
        api: PodApi,
        name: str,
        namespace: str,
        container: str,
        sink: Callable[[str], None],
        *,
        token: str | None = None,
        on_done: Callable[[float], None] | None = None,
    ) -> None:
        self.api, self.name, self.namespace, self.container = api, name, namespace, container
        self.sink = sink
        self.token, self.on_done = token, on_done
        self.tail: collections.deque[str] = collections.deque(maxlen=LOG_TAIL_LINES)
        self.lines = 0
        self.error: BaseException | None = None
        self._response: Stream | None = None
        self._aborted = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"pack-logs-{name}", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def _emit(self, line: str) -> None:
        self.lines += 1
        self.tail.append(line)
        self.sink(line)

    def _run(self) -> None:
        try:
            response = self.api.read_namespaced_pod_log(
                self.name, self.namespace, container=self.container, follow=True
            )
            self._response = response
            if self._aborted.is_set():
                response.release_conn()
                return
            for line in log_lines(response):
                if self._aborted.is_set():
                    return
                if self.token is not None and is_done_line(line, self.token):
                    self.lines += 1  # counted, not shown: a re-read skips it too
                    if self.on_done is not None:
                        self.on_done(time.time())
                    response.abort()  # what follows is the interpreter's exit: no more lines
                    return
                self._emit(line)
        except BaseException as exc:  # reported by finish(), which re-reads the log
            self.error = exc

    def _abort(self) -> None:
        """End the follow stream the thread is reading (shutting its socket down wakes
        a recv blocked in the thread)."""
        self._aborted.set()
        if self._response is not None:
            try:
                self._response.abort()
            except Exception:  # noqa: BLE001, S110 - already closed
                pass

    def finish(self) -> None:
        """The container has ended: emit the rest of its log. A stream the kubelet opened
        while the container ran ends only at its next state check (every 5 s), so after
        a short grace it is cut and the finished log read once more, and only the lines
        not yet shown are emitted."""
        self.thread.join(timeout=FOLLOW_GRACE_SECONDS)
        if self.thread.is_alive():
            self._abort()
            self.thread.join(timeout=LOG_DRAIN_SECONDS)
            if self.thread.is_alive():
                return  # the request itself hangs: the log is a convenience, the outcome is not
        elif self.error is None:
            return  # the stream ended by itself: every line was emitted
        try:
            lines = list(
                stream_log(self.api, self.name, self.namespace, self.container, follow=False)
            )
        except Exception:  # noqa: BLE001 - the logs are a convenience; the outcome is not
            return
        for line in without_done_line(lines[self.lines :]):
            self._emit(line)


class _AttemptLog:
    """Where one attempt's log comes from: the kubelet's stream, from when the pod's
    status shows the container started, or the log the pod stored (storedlog), read
    before that; whichever begins first, and the other stays out: each line is shown
    once. Either ends the attempt early on `done`."""

    def __init__(
        self,
        backend: KubernetesBackend,
        name: str,
        token: str,
        done: DoneSignal,
        timings: dict[str, float],
        t_created: float,
    ) -> None:
        self.backend, self.name, self.token, self.done = backend, name, token, done
        self.timings, self.t_created = timings, t_created
        self.follower: _LogFollower | None = None
        self.poller: StoredLogPoller | None = None
        self.stored = False  # the stored log is the one shown
        self._closed = False
        self._stored_tail: collections.deque[str] = collections.deque(maxlen=LOG_TAIL_LINES)
        self._lock = threading.Lock()

    def poll(self, url: str) -> None:
        """Read the pod's stored log at `url` until the kubelet's stream begins."""
        since_create = time.monotonic() - self.t_created
        self.poller = StoredLogPoller(
            url,
            claim=self._claim,
            emit=self._emit_stored,
            on_done=self.done.set,
            pauses=lambda: stored_log_delays(first=FIRST_DELAY_SECONDS - since_create),
        )
        self.poller.start()

    def _claim(self) -> bool:
        with self._lock:
            self.stored = self.follower is None and not self._closed
            return self.stored

    def _emit_stored(self, line: str) -> None:
        self._stored_tail.append(line)
        self.backend.log(line)

    def on_update(self, current: Any) -> None:
        """A new state of the pod: once its container started, follow its log."""
        backend = self.backend
        with self._lock:
            if self.stored or self.follower is not None:
                return
            if not _started(current, backend.container_name):
                return
            self.timings["pod_start"] = time.monotonic() - self.t_created
            self.follower = _LogFollower(
                backend.api,
                self.name,
                backend.namespace,
                backend.container_name,
                backend.log,
                token=self.token,
                on_done=self.done.set,
            )
        self.follower.start()
        if self.poller is not None:
            self.poller.stop()

    def close(self) -> None:
        """The attempt is over: show the rest of its log."""
        with self._lock:
            self._closed = True
        if self.poller is not None:
            self.poller.stop()
            if self.stored:
                self.poller.join()  # a stored log being shown is shown whole
            self.timings["stored_log_reads"] = float(self.poller.reads)
        if self.follower is not None:
            self.follower.finish()

    def stop(self) -> None:
        if self.poller is not None:
            self.poller.stop()

    def tail(self) -> str:
        return "\n".join(self.follower.tail if self.follower else self._stored_tail)


def log_lines(response: Stream) -> Iterator[str]:
    """A log stream's lines as they come (decoded as UTF-8, bad bytes replaced); the
    stream is released at the end."""
    try:
        for line in stream_lines(response, 8192):
            yield line.decode("utf-8", errors="replace")
    finally:
        response.release_conn()


def stream_log(
    api: PodApi, name: str, namespace: str, container: str, *, follow: bool
) -> Iterator[str]:
    """The container's log as lines, as they come."""
    yield from log_lines(
        api.read_namespaced_pod_log(name, namespace, container=container, follow=follow)
    )


def kubeconfig_path(kubeconfig: Path | None, env: Mapping[str, str]) -> Path | None:
    """Config.kubeconfig, else the first of KUBECONFIG, else ~/.kube/config if present."""
    if kubeconfig:
        return kubeconfig
    if env.get("KUBECONFIG"):
        return Path(env["KUBECONFIG"].split(os.pathsep)[0])
    home = Path(env.get("HOME", str(Path.home()))) / ".kube" / "config"
    return home if home.is_file() else None


def make_api(*, kubeconfig: Path | None, context: str | None, env: Mapping[str, str]) -> PodApi:
    """The core/v1 calls the backend makes, to the cluster of the kubeconfig (its
    context) or, with none, the in-cluster service account: over pack's own HTTP
    transport, or the official client's for what only it honours."""
    from pack.launcher.backends import kubeaccess
    from pack.launcher.backends.kubehttp import HttpTransport

    path = kubeconfig_path(kubeconfig, env)
    try:
        if path is not None:
            access = kubeaccess.from_kubeconfig(_read_yaml(path), path, context)
        elif env.get("KUBERNETES_SERVICE_HOST"):
            access = kubeaccess.in_cluster(env)
        else:
            raise LaunchError(
                "no Kubernetes cluster configured: set [tool.pack] kubeconfig, PACK_KUBECONFIG "
                "or KUBECONFIG, or run inside a cluster"
            )
        return PodApi(HttpTransport(access))
    except kubeaccess.NeedsOfficialClient:
        return _official_api(path, context)
    except kubeaccess.AccessError as exc:
        raise LaunchError(f"cannot load the Kubernetes config: {exc}") from None
    except ssl.SSLError as exc:
        where = path or "(in-cluster)"
        raise LaunchError(f"cannot load the TLS material of {where}: {exc}") from None


def _read_yaml(path: Path) -> Any:
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise LaunchError(f"cannot read kubeconfig {path}: {exc.strerror or exc}") from None
    try:
        return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as exc:
        raise LaunchError(f"kubeconfig {path} is not valid YAML: {exc}") from None


def _official_api(path: Path | None, context: str | None) -> PodApi:
    """The official client's ApiClient for `path` (exec plugins, auth providers, ...)."""
    from kubernetes import config
    from kubernetes.config.config_exception import ConfigException

    from pack.launcher.backends.kubehttp import ClientTransport

    try:
        api_client = config.new_client_from_config(config_file=str(path), context=context)
    except ConfigException as exc:
        raise LaunchError(f"cannot load the Kubernetes config {path}: {exc}") from None
    except OSError as exc:
        raise LaunchError(f"cannot read kubeconfig {path}: {exc.strerror or exc}") from None
    return PodApi(ClientTransport(api_client))


class KubernetesBackend(Backend):
    name = "kubernetes"

    def __init__(
        self,
        api: PodApi,
        *,
        namespace: str = "default",
        keep: bool = False,
        log: Callable[[str], None] | None = None,
        container_name: str | None = None,
        start_timeout: float | None = None,
        poll_stored_log: bool = True,
    ) -> None:
        from pack.launcher.podspec import PRIMARY_CONTAINER

        self.api = api
        self.namespace = namespace
        self.keep = keep
        self.log = log or (lambda line: None)
        self.container_name = container_name or PRIMARY_CONTAINER
        self.start_timeout = start_timeout
        self._secrets: set[str] = set()  # pods whose --pass-env secret this backend made
        self._lock = threading.Lock()
        self._running: set[str] = set()  # pods whose attempt run() follows
        self._deleting: list[threading.Thread] = []  # finished pods being deleted
        self._stopped = False
        self._watcher: PodWatcher | None = None
        # run()'s pods store their log, read ahead of the kubelet's (storedlog): for one
        # pod followed on its own, not for a driver's many children (a read loop each).
        self.poll_stored_log = poll_stored_log

    def share_watch(self, selector: str) -> None:
        """Follow every pod this backend runs with one watch on `selector` (a label all
        of them carry: a workflow driver's children) instead of one watch per pod."""
        from pack.launcher.backends.podwatch import PodWatcher

        with self._lock:
            if self._watcher is None:
                self._watcher = PodWatcher(self.api, self.namespace, selector)
            self.poll_stored_log = False

    # --- one attempt --------------------------------------------------------------------

    def _create(
        self,
        pod: Any,
        execution: Execution,
        *,
        say_done: str | None = None,
        store_log: bool = False,
    ) -> Any:
        """Create the pod; its --pass-env values go into a Secret created first (the
        kubelet needs it when the container starts) and owned by the pod, so the
        garbage collector deletes it with the pod, --keep'd or detached ones too.
        `say_done`: a token the task ends its log with (for run(), which follows it);
        `store_log`: the task stores its log too (for run(), which polls for it)."""
        from pack.launcher.credentials import pass_env_secret
        from pack.launcher.podspec import manifest_of, merge_manifests

        check_store(execution.store_url)
        name = _pod_name(pod)
        secret = secret_name(name)
        manifest, secret_data = pass_env_secret(manifest_of(pod), secret, self.container_name)
        if say_done is not None:
            manifest = merge_manifests(
                manifest, say_done_layer(self.container_name, say_done, store_log=store_log)
            )
        # The manifest dict as it is (a V1Pod model would cost ~0.4 s to build the first
        # time); the API server validates it and its refusal names the field.
        body = manifest
        if secret_data:
            self.put_secret(
                secret, secret_data, (manifest.get("metadata") or {}).get("labels") or {}
            )
        try:
            with _api_errors(f"cannot create pod {name} in namespace {self.namespace}"):
                created = self.api.create_namespaced_pod(self.namespace, body)
        except BaseException:
            if secret_data:
                self._delete_secret(secret)
            raise
        if secret_data:
            self._own_secret(secret, created)
            self._secrets.add(name)
        return created

    def _own_secret(self, secret: str, pod: Any) -> None:
        """Make `pod` the owner of `secret`; if that fails, delete both now rather
        than leave a secret no one will collect."""
        owner = {
            "apiVersion": "v1",
            "kind": "Pod",
            "name": pod.metadata.name,
            "uid": pod.metadata.uid,
        }
        try:
            with _api_errors(f"cannot hand secret {secret} to its pod"):
                self.api.patch_namespaced_secret(
                    secret, self.namespace, {"metadata": {"ownerReferences": [owner]}}
                )
        except LaunchError:
            self._delete_pod(pod.metadata.name)
            self._delete_secret(secret)
            raise

    def run(self, pod: Any, execution: Execution, *, ready: Ready | None = None) -> AttemptResult:
        name = _pod_name(pod)
        if self._stopped:
            raise RunInterrupted(f"not started: the run of {execution.id} is being stopped")
        t0 = time.monotonic()
        token = new_token()
        store_log = self.poll_stored_log
        created = self._create(pod, execution, say_done=token, store_log=store_log)
        t_created = time.monotonic()
        with self._lock:
            self._running.add(name)
            stopped = self._stopped
        if stopped:  # stop() came while this pod was being created
            self._finish(name)
            raise RunInterrupted(f"not started: the run of {execution.id} is being stopped")
        timings: dict[str, float] = {"pod_create": t_created - t0}
        done = DoneSignal(self._watcher)
        log = _AttemptLog(self, name, token, done, timings, t_created)
        waited = ready is None
        try:
            if ready is not None:  # the container starts ~0.5 s after the create at best
                ready()
                waited = True
                timings["pod_ready_wait"] = time.monotonic() - t_created
            if store_log:
                log.poll(execution.pod_log_url)
            final, outcome = self.follow(created, log.on_update, done=done)
            t_done = time.monotonic()
            log.close()
            timings["pod_run"] = t_done - t_created - timings.get("pod_start", 0.0)
            if outcome is TASK_SAID_DONE:  # ended on the task's word, not the pod's status
                timings["pod_said_done"] = t_done - t_created
                if log.stored:
                    timings["pod_stored_log"] = t_done - t_created
        except KeyboardInterrupt:
            log.stop()
            self._finish(name, delete=True)
            raise RunInterrupted(
                f"interrupted: deleted pod {self.namespace}/{name}; the partial run is under "
                f"{execution.run_prefix}"
            ) from None
        except BaseException:
            log.stop()
            # A pod whose inputs never came is deleted even under --keep: it shows nothing.
            self._finish(name, delete=not self.keep or not waited)
            raise
        self._finish(name, delete=not self.keep, later=True)
        started, finished = _container_times(final, self.container_name)
        if finished is None and done.is_set():
            finished = done.at
        return AttemptResult(
            attempt=execution.attempt,
            phase=_phase(outcome),
            exit_code=outcome.exit_code
            if outcome.exit_code is not None
            else _exit_code(final, self.container_name),
            reason=outcome.reason,
            message=outcome.error,
            log_tail=log.tail(),
            started_at=started,
            finished_at=finished,
            details={
                "pod": name,
                "namespace": self.namespace,
                "recoverable": "true" if outcome.recoverable else "false",
            },
            timings=timings,
        )

    def follow(
        self,
        pod: Any,
        on_update: Callable[[Any], None] | None = None,
        *,
        until_started: bool = False,
        done: DoneSignal | None = None,
    ) -> tuple[Any, PodOutcome]:
        """Watch `pod` until `classify` says it is done or cannot succeed (or, with
        `until_started`, until its container has started, or until `done` is set: the
        task said it succeeded)."""
        name = pod.metadata.name
        if self._watcher is not None:
            return self._follow_shared(
                self._watcher, pod, on_update, until_started=until_started, done=done
            )
        current = pod
        deadline = None if self.start_timeout is None else time.monotonic() + self.start_timeout
        while True:
            settled = self._settled(current, on_update, until_started, deadline, done)
            if settled is not None:
                return current, settled
            events = self.api.watch_pods(
                self.namespace,
                field_selector=f"metadata.name={name}",
                resource_version=current.metadata.resource_version,
                timeout_seconds=WATCH_SECONDS,
                on_stream=done.watching if done is not None else None,
            )
            try:
                for event in events:
                    if event.get("type") == "DELETED":
                        raise LaunchError(f"pod {self.namespace}/{name} was deleted while running")
                    obj = event.get("object")
                    if not isinstance(obj, Mapping) or not obj.get("metadata"):
                        continue
                    current = PodView(obj)
                    settled = self._settled(current, on_update, until_started, deadline, done)
                    if settled is not None:
                        return current, settled
            except ApiError as exc:
                if exc.status != 410:  # 410 Gone: our version is too old; re-read below
                    if exc.status == 404:
                        raise LaunchError(f"pod {self.namespace}/{name} is gone") from None
                    raise LaunchError(f"watching pod {name}: {exc.status} {exc.message}") from None
            except OSError:
                pass  # a disconnect mid-stream, or the stream cut by `done`
            finally:
                events.close()
            if done is not None and done.is_set():
                return current, TASK_SAID_DONE
            # Stream ended (server timeout, disconnect, 410): re-read and watch from there.
            current = self._read(name)

    def _settled(
        self,
        current: Any,
        on_update: Callable[[Any], None] | None,
        until_started: bool,
        deadline: float | None,
        done: DoneSignal | None = None,
    ) -> PodOutcome | None:
        """How following `current` ends now (done, started when that is all that was
        asked, the task said it succeeded, or not started by the deadline), or None to
        keep following."""
        outcome = classify(current, container_name=self.container_name)
        if on_update is not None:
            on_update(current)
        if outcome.done or (until_started and _started(current, self.container_name)):
            return outcome
        if done is not None and done.is_set():
            return TASK_SAID_DONE
        if deadline is not None and outcome.state == "pending" and time.monotonic() > deadline:
            name = current.metadata.name
            return PodOutcome(
                "failed",
                error=f"pod {name} did not start within {self.start_timeout:.0f} s",
                reason="StartTimeout",
            )
        return None

    def _follow_shared(
        self,
        watcher: PodWatcher,
        pod: Any,
        on_update: Callable[[Any], None] | None,
        *,
        until_started: bool,
        done: DoneSignal | None,
    ) -> tuple[Any, PodOutcome]:
        """follow() through the shared watch: each new state of the pod, until done.
        A pod the watch says nothing about for a watch period is read directly."""
        name = pod.metadata.name
        watcher.seed(name, pod)
        current = pod
        deadline = None if self.start_timeout is None else time.monotonic() + self.start_timeout
        quiet_since = time.monotonic()
        while True:
            settled = self._settled(current, on_update, until_started, deadline, done)
            if settled is not None:
                return current, settled
            seen = current
            current, deleted = watcher.next(
                name, seen, timeout=1.0, until=done.event if done is not None else None
            )
            if deleted:
                raise LaunchError(f"pod {self.namespace}/{name} was deleted while running")
            if current is not seen:
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since > WATCH_SECONDS:
                current, quiet_since = self._read(name), time.monotonic()

    def _read(self, name: str) -> Any:
        for attempt in range(5):
            try:
                return self.api.read_namespaced_pod(name, self.namespace)
            except ApiError as exc:
                if exc.status == 404:
                    raise LaunchError(f"pod {self.namespace}/{name} is gone") from None
                if exc.status < 500 or attempt == 4:
                    raise LaunchError(f"reading pod {name}: {exc.status} {exc.message}") from None
            except OSError as exc:
                if attempt == 4:
                    raise LaunchError(f"cannot reach the Kubernetes API: {exc}") from None
            time.sleep(0.5 * 2**attempt)  # back-off between retries of a failed request only
        raise AssertionError("unreachable")

    def _finish(self, name: str, *, delete: bool = True, later: bool = False) -> None:
        """The attempt on pod `name` is over; `later`: it is deleted in a thread that
        close() waits for (the caller reads the attempt's outputs meanwhile)."""
        with self._lock:
            self._running.discard(name)
        if delete and later:
            thread = threading.Thread(target=self._delete, args=(name,), name=f"pack-delete-{name}")
            with self._lock:
                self._deleting = [t for t in self._deleting if t.is_alive()]
                self._deleting.append(thread)
            thread.start()
        elif delete:
            self._delete(name)
        if self._watcher is not None:
            self._watcher.forget(name)

    def stop(self) -> None:
        """Delete every pod an attempt is following (their run() then ends: the pod was
        deleted) and create no new one."""
        with self._lock:
            self._stopped = True
            names = sorted(self._running)
        for name in names:
            self._delete(name)

    def cancel(self, execution_id: str, *, wait_seconds: float = 120.0) -> list[str]:
        """Delete the run's pods (its own, and every pod labelled with it as the root)
        and Secrets, then wait until no such pod is left: a driver still running
        might create one more child before it sees the cancel marker."""
        from pack.launcher.podspec import LABEL_EXECUTION, LABEL_ROOT

        selectors = [f"{LABEL_EXECUTION}={execution_id}", f"{LABEL_ROOT}={execution_id}"]
        deleted: list[str] = []
        deadline = time.monotonic() + wait_seconds
        while True:
            names: list[str] = []
            for selector in selectors:
                with _api_errors(f"cannot list pods in namespace {self.namespace}"):
                    pods = self.api.list_namespaced_pod(self.namespace, label_selector=selector)
                for pod in pods.items:
                    name = str(pod.metadata.name) if pod.metadata else ""
                    if name and name not in names:
                        names.append(name)
            if not names:
                break
            # Drivers first: a deleted driver pod starts nothing more (and takes the
            # pods it owns with it).
            for name in names:
                self._delete_pod(name)
                if name not in deleted:
                    deleted.append(name)
            if time.monotonic() > deadline:
                raise LaunchError(
                    f"pods of run {execution_id} still exist after {wait_seconds:.0f} s: "
                    + ", ".join(names)
                )
            time.sleep(1.0)
        with _api_errors(f"cannot list secrets in namespace {self.namespace}"):
            secrets = self.api.list_namespaced_secret(
                self.namespace, label_selector=f"{LABEL_ROOT}={execution_id}"
            )
        for secret in secrets.items:
            self._delete_secret(secret.metadata.name)
        return deleted

    def put_secret(self, name: str, data: Mapping[str, str], labels: Mapping[str, str]) -> None:
        """Create Secret `name` holding `data` (--pass-env values: a pod's, or a run's
        for all its children)."""
        body: Any = {  # a manifest dict: the client sends it as it is
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": name, "labels": dict(labels)},
            "type": "Opaque",
            "stringData": dict(data),
        }
        with _api_errors(f"cannot create secret {name} in namespace {self.namespace}"):
            self.api.create_namespaced_secret(self.namespace, body)

    def remove_secret(self, name: str) -> None:
        self._delete_secret(name)

    def _delete(self, name: str) -> None:
        """The pod, and its --pass-env secret if it has one (the garbage collector
        deletes that too, but not at once), side by side."""
        with self._lock:
            secret = name in self._secrets
            self._secrets.discard(name)
        if not secret:
            self._delete_pod(name)
            return
        other = threading.Thread(target=self._delete_secret, args=(secret_name(name),))
        other.start()
        self._delete_pod(name)
        other.join()

    def _delete_pod(self, name: str) -> None:
        try:
            self.api.delete_namespaced_pod(name, self.namespace, grace_period_seconds=0)
        except (ApiError, OSError):
            pass  # already gone, or the API is away: nothing more to do here

    def _delete_secret(self, name: str) -> None:
        try:
            self.api.delete_namespaced_secret(name, self.namespace)
        except (ApiError, OSError):
            pass  # none was made (no --pass-env), or already gone

    # --- detached runs ------------------------------------------------------------------

    def submit(self, pod: Any, execution: Execution) -> RunHandle:
        created = self._create(pod, execution)
        return RunHandle(
            self.name, execution.id, execution.attempt, created.metadata.name, self.namespace
        )

    def status(self, handle: RunHandle) -> AttemptResult:
        current = self._read(handle.name)
        outcome = classify(current, container_name=self.container_name)
        started, finished = _container_times(current, self.container_name)
        return AttemptResult(
            attempt=handle.attempt,
            phase=_phase(outcome),
            exit_code=_exit_code(current, self.container_name),
            reason=outcome.reason,
            message=outcome.error,
            started_at=started,
            finished_at=finished,
            details={"pod": handle.name, "namespace": handle.namespace or self.namespace},
        )

    def logs(self, handle: RunHandle, *, follow: bool = False) -> Iterator[str]:
        if follow:  # the kubelet refuses logs of a container that has not started yet
            self.follow(self._read(handle.name), until_started=True)
        try:
            yield from without_done_line(
                stream_log(
                    self.api,
                    handle.name,
                    handle.namespace or self.namespace,
                    self.container_name,
                    follow=follow,
                )
            )
        except ApiError as exc:
            raise LaunchError(
                f"no logs for pod {handle.name}: {exc.status} {exc.message}"
            ) from None

    def remove(self, handle: RunHandle) -> None:
        self._delete(handle.name)

    def close(self) -> None:
        with self._lock:
            deleting, self._deleting = self._deleting, []
        for thread in deleting:
            thread.join()
        if self._watcher is not None:
            self._watcher.close()
        try:
            self.api.close()
        except Exception:  # noqa: BLE001 - closing is best effort
            pass


def open_backend(
    config: Config,
    env: Mapping[str, str],
    *,
    log_sink: IO[str] | None = None,
    keep: bool = False,
) -> KubernetesBackend:
    check_store(config.store_url)

    api = make_api(kubeconfig=config.kubeconfig, context=config.kube_context, env=env)
    return KubernetesBackend(api, namespace=config.namespace, keep=keep, log=line_writer(log_sink))
