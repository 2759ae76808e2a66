"""KubernetesBackend against a scripted fake API and watch (the seams), not a cluster.

Checks the follow loop (resume after a disconnect and after 410 Gone without
losing the final state), logs (split chunks, nothing lost), deletion unless
--keep, one-line failures, and that every pod it submits passes strict schema
validation.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import kubernetes_validate
import pytest
from kubernetes import client as k

from pack.errors import LaunchError
from pack.launcher.backends import kubernetes as kb
from pack.launcher.backends.donesignal import done_line
from pack.launcher.backends.kubehttp import ApiError, ApiUnreachable
from pack.launcher.credentials import credentials_manifest, pass_env_secret, pod_credentials
from pack.launcher.execution import Execution
from pack.launcher.podspec import (
    BundleInfo,
    RenderOptions,
    from_dict,
    merge_manifests,
    render_manifest,
    to_dict,
)
from pack.launcher.podtemplate_file import pod_template_manifest
from pack.launcher.resources import Resources
from pack.launcher.task import task

K8S_VERSION = "1.28.0"
EXECUTION = Execution("rkube1", "proj", "dev", "s3://bucket/pack")


@task(limits=Resources(cpu="1", mem="256Mi"), timeout=60)
def job(x: int) -> int:
    return x


def manifest(execution: Execution = EXECUTION) -> dict[str, Any]:
    """The pod as the run pipeline hands it to the backend: a manifest dict."""
    base = merge_manifests(
        pod_template_manifest(
            {"kind": "Pod", "spec": {"hostNetwork": True, "serviceAccountName": "runner"}}, "t"
        ),
        credentials_manifest(
            pod_credentials(
                ["AWS_ENDPOINT_URL_S3"], ["s3-creds"], {"AWS_ENDPOINT_URL_S3": "http://s3"}
            ),
            "primary",
        ),
    )
    return render_manifest(
        job,
        image="127.0.0.1:5000/t@sha256:" + "ab" * 32,
        execution=execution,
        bundle=BundleInfo("s3://bucket/pack/bundles/x.tar.zst", "sha256:" + "cd" * 32),
        options=RenderOptions(base_template=base),
    )


def rendered(execution: Execution = EXECUTION) -> k.V1Pod:
    return from_dict(manifest(execution))


def with_state(pod: k.V1Pod, version: str, state: k.V1ContainerState | None, phase: str) -> k.V1Pod:
    out = copy.deepcopy(pod)
    out.metadata.resource_version = version
    statuses = None
    if state is not None:
        statuses = [
            k.V1ContainerStatus(
                name="primary", image="i", image_id="", ready=False, restart_count=0, state=state
            )
        ]
    out.status = k.V1PodStatus(phase=phase, container_statuses=statuses)
    return out


RUNNING = k.V1ContainerState(running=k.V1ContainerStateRunning())
DONE = k.V1ContainerState(terminated=k.V1ContainerStateTerminated(exit_code=0, reason="Completed"))


class FakeLogResponse:
    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks

    def stream(self, amt: int, decode_content: bool = True) -> Iterator[bytes]:
        yield from self.chunks

    def release_conn(self) -> None:
        pass


class FakeApi:
    """Validates what is submitted; answers reads from a script."""

    def __init__(self, reads: list[k.V1Pod], log_chunks: list[bytes] | None = None) -> None:
        self.created: list[k.V1Pod] = []
        self.deleted: list[str] = []
        self.secrets: dict[str, dict[str, Any]] = {}
        self.owners: dict[str, list[dict[str, Any]]] = {}
        self.deleted_secrets: list[str] = []
        self.reads = reads
        self.log_chunks = log_chunks or []
        self.watch_versions: list[str | None] = []

    def create_namespaced_pod(self, namespace: str, body: dict[str, Any]) -> k.V1Pod:
        # The manifest dict as the backend sends it, checked strictly against the schema
        # (the API server would refuse what the schema refuses).
        assert isinstance(body, dict)
        kubernetes_validate.validate(body, K8S_VERSION, strict=True)
        pod = from_dict(body)
        for item in pod.spec.containers[0].env or []:
            ref = item.value_from and item.value_from.secret_key_ref
            assert ref is None or ref.name in self.secrets, "the secret must exist first"
        self.created.append(pod)
        out = with_state(pod, "1", None, "Pending")
        out.metadata.uid = f"uid-{pod.metadata.name}"
        return out

    def create_namespaced_secret(self, namespace: str, secret: dict[str, Any]) -> None:
        kubernetes_validate.validate(secret, K8S_VERSION, strict=True)
        self.secrets[secret["metadata"]["name"]] = secret

    def patch_namespaced_secret(self, name: str, namespace: str, body: dict[str, Any]) -> None:
        self.owners[name] = body["metadata"]["ownerReferences"]

    def delete_namespaced_secret(self, name: str, namespace: str, **kw: Any) -> None:
        self.deleted_secrets.append(name)

    def read_namespaced_pod(self, name: str, namespace: str) -> k.V1Pod:
        return self.reads.pop(0)

    def list_namespaced_pod(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the fake watch stands in for list")

    def watch_pods(self, namespace: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
        """Plays ScriptedWatch's next segment; objects as the API's JSON."""
        ScriptedWatch.calls.append(kwargs)
        events, error = ScriptedWatch.segments.pop(0)
        for event in events:
            yield {**event, "object": to_dict(event["object"])}
        if error is not None:
            raise error

    def read_namespaced_pod_log(self, name: str, namespace: str, **kw: Any) -> FakeLogResponse:
        """The scripted chunks; `DONE` in them becomes the done line of the pod's token."""
        assert kw["container"] == "primary"
        env = {e.name: e.value for e in self.created[-1].spec.containers[0].env or []}
        token = env.get("PACK_SAY_DONE") or "0" * 16
        line = done_line(token).encode()
        return FakeLogResponse([c.replace(b"DONE", line) for c in self.log_chunks])

    def delete_namespaced_pod(self, name: str, namespace: str, **kw: Any) -> None:
        self.deleted.append(name)


class ScriptedWatch:
    """Each watch plays the next segment: events, then maybe an exception."""

    segments: list[tuple[list[dict[str, Any]], BaseException | None]] = []
    calls: list[dict[str, Any]] = []


@pytest.fixture(autouse=True)
def scripted_watch() -> type[ScriptedWatch]:
    ScriptedWatch.segments = []
    ScriptedWatch.calls = []
    return ScriptedWatch


def saying_done(manifest: dict[str, Any], sent: k.V1Pod) -> dict[str, Any]:
    """The manifest as run() sends it: the task ends its log with the done line of the
    token `sent` (the pod created) carries."""
    env = {e.name: e.value for e in sent.spec.containers[0].env or []}
    return merge_manifests(manifest, kb.say_done_layer("primary", env["PACK_SAY_DONE"]))


def names_of(api: FakeApi) -> list[str]:
    return [p.metadata.name for p in api.created]


def backend(api: FakeApi, **kw: Any) -> tuple[kb.KubernetesBackend, list[str]]:
    """A backend on `api`; its pods store no log unless `poll_stored_log=True` is given
    (EXECUTION's store is not there to read)."""
    lines: list[str] = []
    kw.setdefault("poll_stored_log", False)
    return kb.KubernetesBackend(api, namespace="ns", log=lines.append, **kw), lines  # type: ignore[arg-type]


def test_success_through_a_disconnect_streams_all_logs_and_deletes_the_pod() -> None:
    pod = rendered()
    api = FakeApi(
        reads=[with_state(pod, "5", RUNNING, "Running")],
        log_chunks=[b"first li", b"ne\nsecond line\nthi", b"rd\n"],
    )
    ScriptedWatch.segments = [
        (
            [{"type": "MODIFIED", "object": with_state(pod, "3", RUNNING, "Running")}],
            ApiUnreachable("reset"),
        ),
        ([{"type": "MODIFIED", "object": with_state(pod, "7", DONE, "Succeeded")}], None),
    ]
    be, lines = backend(api)
    result = be.run(pod, EXECUTION)
    assert result.succeeded and result.exit_code == 0
    assert lines == ["first line", "second line", "third"]
    assert result.log_tail.splitlines()[-1] == "third"
    # Watched from the create's version, then from the re-read version: no gap.
    assert [c["resource_version"] for c in ScriptedWatch.calls] == ["1", "5"]
    assert all(
        c["field_selector"] == f"metadata.name={pod.metadata.name}" for c in ScriptedWatch.calls
    )
    be.close()  # a finished pod is deleted beside the reads; close() waits
    assert api.deleted == [pod.metadata.name]
    assert len(api.created) == 1


def test_410_gone_re_reads_and_finds_the_pod_finished() -> None:
    pod = rendered()
    api = FakeApi(reads=[with_state(pod, "9", DONE, "Succeeded")])
    ScriptedWatch.segments = [([], ApiError(410, "Gone"))]
    be, _ = backend(api)
    assert be.run(pod, EXECUTION).succeeded
    assert len(ScriptedWatch.calls) == 1


def test_unschedulable_fails_at_once_not_retryable_and_is_cleaned_up() -> None:
    pod = rendered()
    stuck = with_state(pod, "2", None, "Pending")
    stuck.status.conditions = [
        k.V1PodCondition(
            type="PodScheduled",
            status="False",
            reason="Unschedulable",
            message="0/1 nodes are available: 1 Insufficient cpu.",
        )
    ]
    ScriptedWatch.segments = [([{"type": "MODIFIED", "object": stuck}], None)]
    api = FakeApi(reads=[])
    be, _ = backend(api)
    result = be.run(pod, EXECUTION)
    assert result.phase == "Failed" and result.reason == "Unschedulable"
    assert "Insufficient cpu" in (result.message or "") and "cpu=1" in (result.message or "")
    assert result.details["recoverable"] == "false"
    be.close()  # a finished pod is deleted beside the reads; close() waits
    assert api.deleted == [pod.metadata.name]


def test_keep_leaves_the_pod() -> None:
    pod = rendered()
    ScriptedWatch.segments = [
        ([{"type": "MODIFIED", "object": with_state(pod, "2", DONE, "Succeeded")}], None)
    ]
    api = FakeApi(reads=[])
    be, _ = backend(api, keep=True)
    assert be.run(pod, EXECUTION).succeeded
    assert api.deleted == []


def test_the_pod_is_created_before_its_inputs_are_awaited() -> None:
    pod = rendered()
    ScriptedWatch.segments = [
        ([{"type": "MODIFIED", "object": with_state(pod, "2", DONE, "Succeeded")}], None)
    ]
    api = FakeApi(reads=[])
    be, _ = backend(api)
    seen: list[int] = []
    result = be.run(pod, EXECUTION, ready=lambda: seen.append(len(api.created)))
    assert result.succeeded and seen == [1]
    assert "pod_ready_wait" in result.timings


@pytest.mark.parametrize("keep", [False, True])
def test_inputs_that_fail_to_upload_delete_the_created_pod_even_under_keep(keep: bool) -> None:
    from pack.errors import StoreError

    pod = rendered()
    api = FakeApi(reads=[])
    be, _ = backend(api, keep=keep)

    def ready() -> None:
        raise StoreError("cannot write s3://b/x/inputs.pb: AccessDenied")

    with pytest.raises(StoreError, match="inputs.pb: AccessDenied"):
        be.run(pod, EXECUTION, ready=ready)
    assert api.deleted == [pod.metadata.name]
    assert ScriptedWatch.calls == []  # never followed


def test_pod_deleted_under_us_is_a_launch_error() -> None:
    pod = rendered()
    ScriptedWatch.segments = [
        ([{"type": "DELETED", "object": with_state(pod, "2", RUNNING, "Running")}], None)
    ]
    be, _ = backend(FakeApi(reads=[]))
    with pytest.raises(LaunchError, match="was deleted"):
        be.run(pod, EXECUTION)


def test_each_attempt_is_a_new_valid_pod_with_its_attempt() -> None:
    api = FakeApi(reads=[])
    be, _ = backend(api)
    for attempt in (1, 2):
        pod = manifest(EXECUTION.with_attempt(attempt))  # a dict, as pack.launcher.run sends
        ScriptedWatch.segments = [
            (
                [
                    {
                        "type": "MODIFIED",
                        "object": with_state(from_dict(pod), "2", DONE, "Succeeded"),
                    }
                ],
                None,
            )
        ]
        be.run(pod, EXECUTION.with_attempt(attempt))
    # The manifest as sent, but for the --pass-env value, which went into the pod's Secret.
    sent = pass_env_secret(pod, kb.secret_name(names_of(api)[1]))[0]
    assert to_dict(api.created[1]) == saying_done(sent, api.created[1])
    names = names_of(api)
    assert names[0] != names[1] and names[1].endswith("-2")
    attempts = [
        next(e.value for e in p.spec.containers[0].env if e.name == "PACK_ATTEMPT")
        for p in api.created
    ]
    assert attempts == ["1", "2"]
    first = api.created[0]
    assert first.spec.host_network is True and first.spec.service_account_name == "runner"
    assert first.spec.containers[0].env_from[0].secret_ref.name == "s3-creds"


def test_file_store_is_refused() -> None:
    be, _ = backend(FakeApi(reads=[]))
    with pytest.raises(LaunchError, match="s3://"):
        be.run(rendered(), Execution("r1", "p", "d", "file:///home/me/.cache/pack/store"))


def test_api_refusal_is_one_line_with_the_reason() -> None:
    class Refusing(FakeApi):
        def create_namespaced_pod(self, namespace: str, pod: k.V1Pod) -> k.V1Pod:
            raise ApiError(403, "Forbidden")

    be, _ = backend(Refusing(reads=[]))
    with pytest.raises(LaunchError, match="403 Forbidden"):
        be.run(rendered(), EXECUTION)


def test_a_manifest_the_api_refuses_is_one_line_naming_the_field() -> None:
    class Refusing(FakeApi):
        def create_namespaced_pod(self, namespace: str, body: dict[str, Any]) -> k.V1Pod:
            # What the API server answers for a container without a name.
            raise ApiError(
                422,
                "Unprocessable Entity",
                '{"message": "Pod \\"x\\" is invalid: spec.containers[1].name: Required value"}',
            )

    pod = manifest()
    pod["spec"]["containers"].append({"image": "busybox:1"})  # a container needs a name
    api = Refusing(reads=[])
    be, _ = backend(api)
    with pytest.raises(
        LaunchError, match=r"422 .*spec.containers\[1\].name: Required value"
    ) as info:
        be.run(pod, EXECUTION)
    assert "\n" not in str(info.value) and api.created == []


SECRET_VALUE = "s3cr3t-value-never-in-the-pod"


def manifest_with_secret_value(execution: Execution = EXECUTION) -> dict[str, Any]:
    base = credentials_manifest(
        pod_credentials(["AWS_SECRET_ACCESS_KEY"], [], {"AWS_SECRET_ACCESS_KEY": SECRET_VALUE}),
        "primary",
    )
    return render_manifest(
        job,
        image="127.0.0.1:5000/t@sha256:" + "ab" * 32,
        execution=execution,
        options=RenderOptions(base_template=base),
    )


def test_pass_env_values_go_into_a_secret_owned_by_the_pod_not_into_its_spec() -> None:
    pod = manifest_with_secret_value()
    name = pod["metadata"]["name"]
    ScriptedWatch.segments = [
        ([{"type": "MODIFIED", "object": with_state(from_dict(pod), "2", DONE, "Succeeded")}], None)
    ]
    api = FakeApi(reads=[])
    be, lines = backend(api)
    assert be.run(pod, EXECUTION).succeeded
    (created,) = api.created
    assert SECRET_VALUE not in repr(to_dict(created))
    (entry,) = [e for e in created.spec.containers[0].env if e.name == "AWS_SECRET_ACCESS_KEY"]
    assert entry.value is None
    assert entry.value_from.secret_key_ref.name == kb.secret_name(name)
    assert entry.value_from.secret_key_ref.key == "AWS_SECRET_ACCESS_KEY"
    secret = api.secrets[kb.secret_name(name)]
    assert secret["stringData"] == {"AWS_SECRET_ACCESS_KEY": SECRET_VALUE}
    assert secret["metadata"]["labels"]["pack.dev/execution-id"] == EXECUTION.id
    assert api.owners[kb.secret_name(name)] == [
        {"apiVersion": "v1", "kind": "Pod", "name": name, "uid": f"uid-{name}"}
    ]
    be.close()  # a finished pod is deleted beside the reads; close() waits
    assert api.deleted == [name] and api.deleted_secrets == [kb.secret_name(name)]
    assert not any(SECRET_VALUE in line for line in lines)


def test_keep_leaves_the_secret_to_the_garbage_collector() -> None:
    pod = manifest_with_secret_value()
    ScriptedWatch.segments = [
        ([{"type": "MODIFIED", "object": with_state(from_dict(pod), "2", DONE, "Succeeded")}], None)
    ]
    api = FakeApi(reads=[])
    be, _ = backend(api, keep=True)
    assert be.run(pod, EXECUTION).succeeded
    assert api.deleted == [] and api.deleted_secrets == []
    assert api.owners  # deleted with the pod, whenever that is


def test_a_refused_pod_takes_its_secret_with_it_and_the_error_holds_no_value() -> None:
    class Refusing(FakeApi):
        def create_namespaced_pod(self, namespace: str, pod: k.V1Pod) -> k.V1Pod:
            raise ApiError(422, "Unprocessable Entity")

    api = Refusing(reads=[])
    be, _ = backend(api)
    pod = manifest_with_secret_value()
    with pytest.raises(LaunchError, match="422") as info:
        be.run(pod, EXECUTION)
    assert SECRET_VALUE not in str(info.value)
    assert api.deleted_secrets == [kb.secret_name(pod["metadata"]["name"])]


def test_without_pass_env_no_secret_is_made() -> None:
    pod = manifest()
    pod["metadata"]["annotations"].pop("pack.dev/pass-env")
    ScriptedWatch.segments = [
        ([{"type": "MODIFIED", "object": with_state(from_dict(pod), "2", DONE, "Succeeded")}], None)
    ]
    api = FakeApi(reads=[])
    be, _ = backend(api)
    assert be.run(pod, EXECUTION).succeeded
    assert api.secrets == {} and api.deleted_secrets == []
    assert to_dict(api.created[0]) == saying_done(pod, api.created[0])


class FollowThatDoesNotEnd:
    """A follow stream as the kubelet serves it for a container that has just ended:
    what was written, then nothing, and no end until its next state check."""

    def __init__(self, chunks: list[bytes]) -> None:
        import threading

        self.chunks = chunks
        self.cut = threading.Event()
        self.released = False

    def stream(self, amt: int, decode_content: bool = True) -> Iterator[bytes]:
        yield from self.chunks
        if not self.cut.wait(timeout=30):
            raise AssertionError("the stream was never cut")
        raise ApiUnreachable("the stream broke off: shut down")

    def abort(self) -> None:
        self.cut.set()

    def release_conn(self) -> None:
        self.released = True


def test_a_follow_stream_left_open_after_the_container_ended_is_cut_and_read_again() -> None:
    import time

    pod = rendered()
    follow = FollowThatDoesNotEnd([b"one\ntw"])
    whole = [b"one\ntwo\nthree\n"]

    class Api(FakeApi):
        def read_namespaced_pod_log(self, name: str, namespace: str, **kw: Any) -> Any:
            return follow if kw.get("follow") else FakeLogResponse(list(whole))

    api = Api(reads=[])
    ScriptedWatch.segments = [
        (
            [
                {"type": "MODIFIED", "object": with_state(pod, "3", RUNNING, "Running")},
                {"type": "MODIFIED", "object": with_state(pod, "4", DONE, "Succeeded")},
            ],
            None,
        )
    ]
    be, lines = backend(api)
    start = time.monotonic()
    result = be.run(pod, EXECUTION)
    assert result.succeeded
    assert time.monotonic() - start < 5  # not the kubelet's next state check
    # Every line once, in order: the partial "tw" was not shown before the cut.
    assert lines == ["one", "two", "three"]
    assert follow.cut.is_set() and follow.released


# --- the task's own word that it is done (pack-execute's closing DONE_LINE) --------------


class WatchUntilCut:
    """A watch stream that reports the pod running, then nothing until it is cut."""

    def __init__(self) -> None:
        import threading

        self.cut = threading.Event()

    def abort(self) -> None:
        self.cut.set()

    def release_conn(self) -> None:
        pass


def test_the_task_saying_done_ends_the_attempt_before_the_kubelet_reports_it() -> None:
    from pack.launcher.entrypoint import ENV_SAY_DONE

    pod = rendered()
    stream = WatchUntilCut()

    class Api(FakeApi):
        def watch_pods(self, namespace: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
            kwargs["on_stream"](stream)
            yield {"type": "MODIFIED", "object": to_dict(with_state(pod, "3", RUNNING, "Running"))}
            if not stream.cut.wait(timeout=30):
                raise AssertionError("the watch was never cut")
            raise ApiUnreachable("the stream broke off: shut down")

    api = Api(reads=[], log_chunks=[b"working\nlast words\n", b"DONE\n"])
    be, lines = backend(api)
    result = be.run(pod, EXECUTION)
    assert result.succeeded and result.exit_code == 0
    assert "pod_said_done" in result.timings
    assert result.finished_at is not None
    # pack's line is not the task's output: neither shown nor kept.
    assert lines == ["working", "last words"]
    assert "pack-execute: done" not in result.log_tail
    be.close()  # a finished pod is deleted beside the reads; close() waits
    assert api.deleted == [pod.metadata.name]
    env = {e.name: e.value for e in api.created[0].spec.containers[0].env}
    assert len(env[ENV_SAY_DONE]) == 16  # a token of this pod's own


def test_a_done_line_without_the_pods_token_is_the_tasks_own_and_the_kubelet_decides() -> None:
    from pack.launcher.entrypoint import DONE_LINE

    pod = rendered()
    # The text alone, and another pod's token: the task printed them; neither ends it.
    other = f"{DONE_LINE} {'f' * 16}"
    api = FakeApi(reads=[], log_chunks=[f"{DONE_LINE}\n{other}\nstill working\n".encode()])
    ScriptedWatch.segments = [
        (
            [
                {"type": "MODIFIED", "object": with_state(pod, "3", RUNNING, "Running")},
                {"type": "MODIFIED", "object": with_state(pod, "4", DONE, "Succeeded")},
            ],
            None,
        )
    ]
    be, lines = backend(api)
    result = be.run(pod, EXECUTION)
    assert result.succeeded and "pod_said_done" not in result.timings
    assert lines == [DONE_LINE, other, "still working"]


def test_submitted_pods_do_not_say_done() -> None:
    from pack.launcher.entrypoint import ENV_SAY_DONE

    pod = rendered()
    api = FakeApi(reads=[])
    be, _ = backend(api)
    be.submit(pod, EXECUTION)
    env = {e.name for e in api.created[0].spec.containers[0].env}
    assert ENV_SAY_DONE not in env


def test_logs_leave_out_only_a_closing_done_line() -> None:
    from pack.launcher.backends.donesignal import without_done_line
    from pack.launcher.entrypoint import DONE_LINE

    closing = done_line("0123456789abcdef")
    assert list(without_done_line(iter(["a", closing, "b", closing]))) == ["a", closing, "b"]
    assert list(without_done_line(iter([f"{closing}\n"]))) == []
    assert list(without_done_line(iter(["a", DONE_LINE]))) == ["a", DONE_LINE]  # no token
    assert list(without_done_line(iter([]))) == []


def test_a_shared_watch_waiter_wakes_when_the_task_says_done() -> None:
    import threading
    import time

    from pack.launcher.backends.donesignal import DoneSignal
    from pack.launcher.backends.podwatch import PodWatcher

    class QuietApi:
        def list_namespaced_pod(self, *a: Any, **kw: Any) -> dict[str, Any]:
            return {"items": [], "metadata": {"resourceVersion": "1"}}

        def watch_pods(self, *a: Any, **kw: Any) -> Iterator[dict[str, Any]]:
            time.sleep(0.05)
            return iter(())

    watcher = PodWatcher(QuietApi(), "ns", "x=y")
    try:
        signal = DoneSignal(watcher)
        seen = object()
        watcher.seed("p", seen)
        threading.Timer(0.1, signal.set, args=(123.0,)).start()
        start = time.monotonic()
        current, deleted = watcher.next("p", seen, timeout=20, until=signal.event)
        assert time.monotonic() - start < 10
        assert current is seen and not deleted and signal.at == 123.0
    finally:
        watcher.close()


class PendingUntilCut(FakeApi):
    """A pod the kubelet has not reported started: its watch says nothing until it is
    cut; the log endpoint must not be asked."""

    def __init__(self) -> None:
        super().__init__(reads=[])
        self.stream = WatchUntilCut()

    def watch_pods(self, namespace: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
        kwargs["on_stream"](self.stream)
        if not self.stream.cut.wait(timeout=30):
            raise AssertionError("the watch was never cut")
        raise ApiUnreachable("the stream broke off: shut down")
        yield {}  # a generator, as the real watch

    def read_namespaced_pod_log(self, name: str, namespace: str, **kw: Any) -> FakeLogResponse:
        raise AssertionError("the log came from the store: the kubelet is not asked")


def test_a_log_the_pod_stored_ends_the_attempt_before_the_kubelet_reports_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pack.errors import ObjectNotFound
    from pack.launcher.logcapture import ENV_STORE_LOG
    from pack.packager import store

    reads: list[str] = []

    def read_url(url: str) -> bytes:  # the store: pod-log.txt is there from the third read on
        reads.append(url)
        if len(reads) < 3:
            raise ObjectNotFound(f"not found: {url}")
        return b"hello from the task\nlast line without a newline"

    monkeypatch.setattr(store, "read_url", read_url)
    pod = rendered()
    api = PendingUntilCut()
    be, lines = backend(api, poll_stored_log=True)
    result = be.run(pod, EXECUTION)
    assert result.succeeded and result.exit_code == 0
    assert lines == ["hello from the task", "last line without a newline"]
    assert result.log_tail == "hello from the task\nlast line without a newline"
    assert set(reads) == {EXECUTION.pod_log_url} and len(reads) == 3
    assert result.timings["stored_log_reads"] == 3
    assert "pod_stored_log" in result.timings and "pod_said_done" in result.timings
    assert result.finished_at is not None
    be.close()
    assert api.deleted == [pod.metadata.name]
    env = {e.name: e.value for e in api.created[0].spec.containers[0].env}
    assert env[ENV_STORE_LOG] == "1"


def test_once_the_kubelets_log_stream_began_the_stored_log_is_not_shown_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import threading

    from pack.errors import ObjectNotFound
    from pack.packager import store

    pod = rendered()
    stream = WatchUntilCut()
    reads_after_start: list[str] = []
    started = threading.Event()

    def read_url(url: str) -> bytes:  # there all along, but read only after the start
        if not started.wait(timeout=30):
            raise ObjectNotFound(url)
        reads_after_start.append(url)
        return b"working\nlast words\n"

    class Api(FakeApi):
        def watch_pods(self, namespace: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
            kwargs["on_stream"](stream)
            yield {"type": "MODIFIED", "object": to_dict(with_state(pod, "3", RUNNING, "Running"))}
            started.set()
            if not stream.cut.wait(timeout=30):
                raise AssertionError("the watch was never cut")
            raise ApiUnreachable("the stream broke off: shut down")

    monkeypatch.setattr(store, "read_url", read_url)
    api = Api(reads=[], log_chunks=[b"working\nlast words\n", b"DONE\n"])
    be, lines = backend(api, poll_stored_log=True)
    result = be.run(pod, EXECUTION)
    assert result.succeeded and "pod_stored_log" not in result.timings
    assert lines == ["working", "last words"]  # once, from the kubelet's stream
    be.close()


def test_a_drivers_children_store_no_log() -> None:
    """A shared watch follows many children: none of them is polled for a stored log
    (run() asks the pod to store it only when it polls, see the test above)."""
    be, _ = backend(FakeApi(reads=[]), poll_stored_log=True)
    be.share_watch("pack.dev/parent=x")
    assert not be.poll_stored_log
    be.close()


def test_the_pods_stored_log_is_not_the_log_the_client_keeps_while_it_runs() -> None:
    """The client re-writes the attempt's log (runs keys.log_key) while the attempt runs:
    were that the object polled for, its first write would end the attempt."""
    from pack.runs import keys

    for attempt in (1, 2):
        execution = EXECUTION.with_attempt(attempt)
        kept = f"{EXECUTION.store_url}/{keys.log_key(execution.id, attempt)}"
        assert execution.pod_log_url.startswith(execution.output_prefix + "/")
        assert execution.pod_log_url != kept
