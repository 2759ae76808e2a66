"""What a pod's status means for a run: still going, done, or failed — and what to change.

Pure: takes the `V1Pod` a watch or a read returned (and optionally the pod's
events) and answers with a `PodOutcome`. The backend decides what to do with
it; the messages are one line and name the value at fault (the image ref, the
request, the limit, the timeout) so the user knows what to edit.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from pack.launcher.podspec import primary_container

State = Literal["pending", "running", "succeeded", "failed"]

# Waiting reasons that will not fix themselves: the pod never starts.
_FATAL_WAITING = {
    "InvalidImageName",
    "CreateContainerConfigError",
    "CreateContainerError",
    "RunContainerError",
    "ErrImageNeverPull",
}
# ...except when the kubelet only could not read a referenced Secret/ConfigMap *yet*
# ("failed to sync secret cache: timed out waiting for the condition"): the node
# authorizer learns of a new pod's secrets a moment after the pod is bound, and the
# kubelet retries by itself.
_TRANSIENT_WAITING_WORDS = ("failed to sync",)
# An ErrImagePull whose message says the image is not there (not a network blip)
# fails at once rather than after the kubelet's back-off.
_PERMANENT_PULL_WORDS = (
    "not found",
    "manifest unknown",
    "unauthorized",
    "denied",
    "no such host",
    "does not exist",
    "invalid reference",
)


@dataclass(frozen=True)
class PodOutcome:
    """`state` is where the pod is; `error` is set (one line) when the run cannot succeed.

    `reason` is a short machine word (`OOMKilled`, `Unschedulable`, `ImagePull`,
    `Evicted`, `DeadlineExceeded`, `Error`, ...). `recoverable` says whether a new
    attempt could succeed without the user changing anything (an eviction, a
    node going away); a user's own error decides that from `errors.pb` instead.
    """

    state: State
    error: str | None = None
    reason: str | None = None
    exit_code: int | None = None
    recoverable: bool = False

    @property
    def done(self) -> bool:
        return self.state in ("succeeded", "failed")


def _primary_or_none(pod: Any, name: str | None) -> Any | None:
    """podspec.primary_container, or None for a pod read back without containers."""
    try:
        return primary_container(pod, name)
    except ValueError:
        return None


def _container_status(pod: Any, name: str | None) -> Any | None:
    statuses = list((pod.status and pod.status.container_statuses) or [])
    if not statuses:
        return None
    if name is not None:
        for status in statuses:
            if status.name == name:
                return status
    primary = _primary_or_none(pod, name)
    if primary is not None:
        for status in statuses:
            if status.name == primary.name:
                return status
    return statuses[0]


def _resources(container: Any | None, which: str) -> dict[str, str]:
    if container is None or container.resources is None:
        return {}
    values = getattr(container.resources, which, None) or {}
    return {str(k): str(v) for k, v in values.items()}


def describe_requests(container: Any | None) -> str:
    """`cpu=64, memory=1Gi` from the container's requests (limits stand in when unset)."""
    values = {**_resources(container, "limits"), **_resources(container, "requests")}
    if not values:
        return "no resource requests"
    return ", ".join(f"{k}={v}" for k, v in sorted(values.items()))


def _one_line(text: str | None) -> str:
    return " ".join((text or "").split())


def _image_of(pod: Any, container: Any | None, status: Any | None) -> str:
    if container is not None and container.image:
        return str(container.image)
    if status is not None and status.image:
        return str(status.image)
    return "<unknown image>"


def _unschedulable(pod: Any, events: Iterable[Any]) -> str | None:
    for condition in (pod.status and pod.status.conditions) or []:
        if condition.type == "PodScheduled" and condition.status == "False":
            if condition.reason == "Unschedulable":
                return _one_line(condition.message) or "no node can run the pod"
    for event in events:
        if getattr(event, "reason", None) == "FailedScheduling":
            return _one_line(event.message) or "no node can run the pod"
    return None


def _terminated_outcome(pod: Any, container: Any | None, term: Any) -> PodOutcome:
    code = term.exit_code
    reason = term.reason or ""
    limit = _resources(container, "limits").get("memory")
    if reason == "OOMKilled" or (code == 137 and limit):
        limit_text = f"its memory limit of {limit}" if limit else "the memory available to it"
        how = "OOMKilled" if reason == "OOMKilled" else "SIGKILL, most likely the OOM killer"
        return PodOutcome(
            "failed",
            error=(
                f"the task ran out of memory: it was killed ({how}, exit {code}) for going over "
                f"{limit_text}; raise limits=Resources(mem=...) or use less memory"
            ),
            reason="OOMKilled",
            exit_code=code,
        )
    if code == 0:
        return PodOutcome("succeeded", reason=reason or "Completed", exit_code=0)
    detail = _one_line(term.message)
    error = f"the task's container exited with code {code}" + (f" ({reason})" if reason else "")
    if detail:
        error += f": {detail}"
    # Recoverable as far as the pod can tell; errors.pb, when the task wrote one, decides.
    return PodOutcome("failed", error=error, reason="Error", exit_code=code, recoverable=True)


def classify(
    pod: Any,
    events: Iterable[Any] = (),
    *,
    container_name: str | None = None,
) -> PodOutcome:
    """Where `pod` (a `kubernetes.client.V1Pod`) stands, from its status and events."""
    events = list(events)
    status = pod.status
    phase = (status.phase if status else None) or "Pending"
    container = _primary_or_none(pod, container_name)
    cstatus = _container_status(pod, container_name)
    pod_reason = status.reason if status else None

    if pod_reason == "Evicted":
        return PodOutcome(
            "failed",
            error=f"the pod was evicted from its node: {_one_line(status.message) or 'no message'}",
            reason="Evicted",
            recoverable=True,
        )
    if pod_reason == "DeadlineExceeded":
        deadline = pod.spec.active_deadline_seconds if pod.spec else None
        limit = f"{deadline} s" if deadline else "its deadline"
        return PodOutcome(
            "failed",
            error=(
                f"the task exceeded its timeout of {limit} (activeDeadlineSeconds) and was stopped; "
                "raise @task(timeout=...) or make it faster"
            ),
            reason="DeadlineExceeded",
        )

    if cstatus is not None and cstatus.state is not None:
        term = cstatus.state.terminated
        if term is not None:
            return _terminated_outcome(pod, container, term)
        waiting = cstatus.state.waiting
        if waiting is not None:
            why = waiting.reason or ""
            message = _one_line(waiting.message)
            image = _image_of(pod, container, cstatus)
            if why == "ImagePullBackOff" or (
                why == "ErrImagePull" and any(w in message.lower() for w in _PERMANENT_PULL_WORDS)
            ):
                return PodOutcome(
                    "failed",
                    error=(
                        f"cannot pull image {image} ({why}"
                        + (f": {message}" if message else "")
                        + "); check the ref exists in the registry and the cluster can reach it "
                        "(imagePullSecrets in the pod template for a private registry)"
                    ),
                    reason="ImagePull",
                )
            if why in _FATAL_WAITING and not any(
                w in message.lower() for w in _TRANSIENT_WAITING_WORDS
            ):
                return PodOutcome(
                    "failed",
                    error=f"the container cannot start ({why}): {message or 'no message'}",
                    reason=why,
                )
        if cstatus.state.running is not None:
            return PodOutcome("running")

    if phase == "Succeeded":
        return PodOutcome("succeeded", reason="Completed", exit_code=0)
    if phase == "Failed":
        message = _one_line(status.message if status else None)
        return PodOutcome(
            "failed",
            error="the pod failed"
            + (f" ({pod_reason})" if pod_reason else "")
            + (f": {message}" if message else ""),
            reason=pod_reason or "Failed",
            recoverable=True,
        )
    if phase == "Pending":
        unschedulable = _unschedulable(pod, events)
        if unschedulable is not None:
            return PodOutcome(
                "failed",
                error=(
                    f"the pod is unschedulable: {unschedulable} The task requests "
                    f"{describe_requests(container)}; lower requests/limits or run on a cluster "
                    "with a node that fits"
                ),
                reason="Unschedulable",
            )
        return PodOutcome("pending")
    return PodOutcome("running")
