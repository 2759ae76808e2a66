"""podstatus.classify on hand-built V1Pod objects shaped like what the real cluster reports."""

from __future__ import annotations

from typing import Any

from kubernetes import client as k

from pack.launcher.backends.podstatus import classify, describe_requests

IMAGE = "127.0.0.1:5000/pack/task@sha256:" + "ab" * 32


def pod(
    *,
    phase: str = "Pending",
    state: k.V1ContainerState | None = None,
    conditions: list[k.V1PodCondition] | None = None,
    reason: str | None = None,
    message: str | None = None,
    limits: dict[str, str] | None = None,
    requests: dict[str, str] | None = None,
    deadline: int | None = None,
) -> k.V1Pod:
    statuses = None
    if state is not None:
        statuses = [
            k.V1ContainerStatus(
                name="task", image=IMAGE, image_id="", ready=False, restart_count=0, state=state
            )
        ]
    return k.V1Pod(
        metadata=k.V1ObjectMeta(name="p"),
        spec=k.V1PodSpec(
            active_deadline_seconds=deadline,
            containers=[
                k.V1Container(name="sidecar", image="busybox"),
                k.V1Container(
                    name="task",
                    image=IMAGE,
                    resources=k.V1ResourceRequirements(limits=limits, requests=requests),
                ),
            ],
        ),
        status=k.V1PodStatus(
            phase=phase,
            container_statuses=statuses,
            conditions=conditions,
            reason=reason,
            message=message,
        ),
    )


def terminated(code: int, reason: str, message: str | None = None) -> k.V1ContainerState:
    return k.V1ContainerState(
        terminated=k.V1ContainerStateTerminated(exit_code=code, reason=reason, message=message)
    )


def waiting(reason: str, message: str | None = None) -> k.V1ContainerState:
    return k.V1ContainerState(waiting=k.V1ContainerStateWaiting(reason=reason, message=message))


def test_fresh_pod_is_pending_without_error() -> None:
    outcome = classify(pod(), container_name="task")
    assert outcome.state == "pending"
    assert outcome.error is None
    assert not outcome.done


def test_container_creating_is_pending() -> None:
    outcome = classify(pod(state=waiting("ContainerCreating")), container_name="task")
    assert outcome.state == "pending" and outcome.error is None


def test_running() -> None:
    state = k.V1ContainerState(running=k.V1ContainerStateRunning())
    assert classify(pod(phase="Running", state=state), container_name="task").state == "running"


def test_success() -> None:
    outcome = classify(
        pod(phase="Succeeded", state=terminated(0, "Completed")), container_name="task"
    )
    assert outcome.state == "succeeded" and outcome.done and outcome.error is None


def test_image_pull_backoff_names_the_ref() -> None:
    outcome = classify(
        pod(state=waiting("ImagePullBackOff", 'Back-off pulling image "x"')), container_name="task"
    )
    assert outcome.state == "failed" and outcome.reason == "ImagePull"
    assert IMAGE in (outcome.error or "")
    assert "\n" not in (outcome.error or "")


def test_err_image_pull_not_found_fails_at_once_but_a_blip_waits() -> None:
    permanent = classify(
        pod(state=waiting("ErrImagePull", "manifest for x not found: manifest unknown")),
        container_name="task",
    )
    assert permanent.state == "failed" and IMAGE in (permanent.error or "")
    blip = classify(
        pod(state=waiting("ErrImagePull", "connection reset by peer")), container_name="task"
    )
    assert blip.state == "pending" and blip.error is None


def test_unschedulable_quotes_the_scheduler_and_names_the_request() -> None:
    cond = k.V1PodCondition(
        type="PodScheduled",
        status="False",
        reason="Unschedulable",
        message="0/1 nodes are available: 1 Insufficient cpu.",
    )
    outcome = classify(
        pod(conditions=[cond], requests={"cpu": "64"}, limits={"cpu": "64"}), container_name="task"
    )
    assert outcome.state == "failed" and outcome.reason == "Unschedulable"
    assert "0/1 nodes are available: 1 Insufficient cpu." in (outcome.error or "")
    assert "cpu=64" in (outcome.error or "")
    assert "unschedulable" in (outcome.error or "")


def test_unschedulable_from_events_when_conditions_lag() -> None:
    event = k.CoreV1Event(
        involved_object=k.V1ObjectReference(name="p"),
        metadata=k.V1ObjectMeta(name="e"),
        reason="FailedScheduling",
        message="0/1 nodes are available: 1 Insufficient memory.",
    )
    outcome = classify(pod(requests={"memory": "900Gi"}), [event], container_name="task")
    assert outcome.reason == "Unschedulable"
    assert "Insufficient memory" in (outcome.error or "") and "memory=900Gi" in (
        outcome.error or ""
    )


def test_oom_names_the_memory_limit() -> None:
    outcome = classify(
        pod(phase="Failed", state=terminated(137, "OOMKilled"), limits={"memory": "64Mi"}),
        container_name="task",
    )
    assert outcome.state == "failed" and outcome.reason == "OOMKilled"
    assert "64Mi" in (outcome.error or "") and "Resources(mem=" in (outcome.error or "")
    assert outcome.exit_code == 137 and not outcome.recoverable


def test_exit_137_under_a_memory_limit_counts_as_oom() -> None:
    outcome = classify(
        pod(phase="Failed", state=terminated(137, "Error"), limits={"memory": "32Mi"}),
        container_name="task",
    )
    assert outcome.reason == "OOMKilled" and "32Mi" in (outcome.error or "")


def test_nonzero_exit_is_an_error_with_the_code() -> None:
    outcome = classify(pod(phase="Failed", state=terminated(3, "Error")), container_name="task")
    assert outcome.state == "failed" and outcome.reason == "Error" and outcome.exit_code == 3
    assert "code 3" in (outcome.error or "")


def test_evicted_is_recoverable() -> None:
    outcome = classify(
        pod(phase="Failed", reason="Evicted", message="The node was low on resource: memory."),
        container_name="task",
    )
    assert outcome.reason == "Evicted" and outcome.recoverable
    assert "low on resource" in (outcome.error or "")


def test_deadline_names_the_timeout() -> None:
    outcome = classify(
        pod(phase="Failed", reason="DeadlineExceeded", deadline=30), container_name="task"
    )
    assert outcome.reason == "DeadlineExceeded"
    assert "30 s" in (outcome.error or "") and "timeout" in (outcome.error or "")


def test_missing_secret_fails_instead_of_waiting_forever() -> None:
    outcome = classify(
        pod(state=waiting("CreateContainerConfigError", 'secret "s3-creds" not found')),
        container_name="task",
    )
    assert outcome.state == "failed" and "s3-creds" in (outcome.error or "")


def test_a_secret_the_kubelet_cannot_read_yet_is_waited_for() -> None:
    # Seen on the test cluster for a Secret created just before its pod: the node
    # authorizer had not yet linked the two; the kubelet retries and the pod starts.
    outcome = classify(
        pod(
            state=waiting(
                "CreateContainerConfigError",
                "failed to sync secret cache: timed out waiting for the condition",
            )
        ),
        container_name="task",
    )
    assert outcome.state == "pending" and outcome.error is None


def test_primary_container_by_name_not_position() -> None:
    p: Any = pod(state=terminated(0, "Completed"), phase="Succeeded")
    p.status.container_statuses.insert(
        0,
        k.V1ContainerStatus(
            name="sidecar",
            image="busybox",
            image_id="",
            ready=False,
            restart_count=0,
            state=terminated(1, "Error"),
        ),
    )
    assert classify(p, container_name="task").state == "succeeded"


def test_describe_requests_without_resources() -> None:
    assert describe_requests(k.V1Container(name="x")) == "no resource requests"
