"""The shared watch of a driver's pods: JSON views that classify like client models, and
one watch thread that wakes each waiting pod (scripted watch, no cluster)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from pack.errors import LaunchError
from pack.launcher.backends import kubernetes as kb
from pack.launcher.backends.kubehttp import ApiError
from pack.launcher.backends.podstatus import classify
from pack.launcher.backends.podwatch import PodView, PodWatcher


def pod_json(name: str, version: str, phase: str, state: dict[str, Any] | None) -> dict[str, Any]:
    statuses = [{"name": "primary", "image": "i", "state": state}] if state else []
    return {
        "metadata": {"name": name, "resourceVersion": version, "labels": {"a": "b"}},
        "spec": {
            "activeDeadlineSeconds": 60,
            "containers": [
                {"name": "primary", "image": "i", "resources": {"limits": {"memory": "64Mi"}}}
            ],
        },
        "status": {"phase": phase, "containerStatuses": statuses},
    }


RUNNING = {"running": {"startedAt": "2024-05-01T10:00:00Z"}}
DONE = {
    "terminated": {
        "exitCode": 0,
        "reason": "Completed",
        "startedAt": "2024-05-01T10:00:00Z",
        "finishedAt": "2024-05-01T10:00:02Z",
    }
}
OOM = {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}


def test_views_read_like_the_client_models() -> None:
    view = PodView(pod_json("p", "3", "Succeeded", DONE))
    assert view.metadata.name == "p" and view.metadata.resource_version == "3"
    assert view.metadata.labels == {"a": "b"} and view.metadata.uid is None
    term = view.status.container_statuses[0].state.terminated
    assert term.exit_code == 0 and term.finished_at.timestamp() - term.started_at.timestamp() == 2
    assert view.spec.containers[0].resources.limits == {"memory": "64Mi"}
    assert classify(view).state == "succeeded"
    oom = classify(PodView(pod_json("p", "4", "Failed", OOM)))
    assert oom.reason == "OOMKilled" and "64Mi" in (oom.error or "")
    assert kb._container_times(view, "primary") == (1714557600.0, 1714557602.0)


class FakeWatch:
    """Plays scripted segments of raw events; records the arguments of each stream."""

    segments: list[tuple[list[dict[str, Any]], BaseException | None]] = []
    calls: list[dict[str, Any]] = []

    @staticmethod
    def stream(**kwargs: Any) -> Iterator[dict[str, Any]]:
        FakeWatch.calls.append(kwargs)
        if not FakeWatch.segments:
            time.sleep(0.05)
            return
        events, error = FakeWatch.segments.pop(0)
        yield from events
        if error is not None:
            raise error


def RawList(items: list[dict[str, Any]], version: str) -> PodView:  # noqa: N802
    """A list answer as PodApi returns it."""
    return PodView({"metadata": {"resourceVersion": version}, "items": items})


class FakeApi:
    def __init__(self) -> None:
        self.lists: list[PodView] = [
            RawList([], "10"),
            RawList([pod_json("b", "30", "Running", RUNNING)], "31"),
        ]

    def list_namespaced_pod(self, namespace: str, **kwargs: Any) -> Any:
        return self.lists.pop(0)

    def watch_pods(self, namespace: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
        return FakeWatch.stream(**kwargs)

    def close(self) -> None:
        pass


@pytest.fixture(autouse=True)
def fake_watch() -> None:
    FakeWatch.segments, FakeWatch.calls = [], []


def test_one_watch_follows_every_pod_and_lists_again_after_410() -> None:
    FakeWatch.segments = [
        (
            [
                {"type": "ADDED", "object": pod_json("a", "11", "Pending", None)},
                {"type": "MODIFIED", "object": pod_json("a", "12", "Running", RUNNING)},
                {"type": "MODIFIED", "object": pod_json("b", "13", "Running", RUNNING)},
            ],
            ApiError(410, "Gone"),
        ),
        ([{"type": "MODIFIED", "object": pod_json("a", "32", "Succeeded", DONE)}], None),
        ([{"type": "DELETED", "object": pod_json("b", "33", "Running", RUNNING)}], None),
    ]
    watcher = PodWatcher(FakeApi(), "ns", "pack.dev/parent-execution=r1")
    try:
        seen: Any = None
        states = []
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            seen, deleted = watcher.next("a", seen, timeout=1.0)
            assert not deleted
            states.append(seen.status.phase)
            if seen.status.phase == "Succeeded":
                break
        assert states[-1] == "Succeeded"
        _, deleted = watcher.next("b", None, timeout=5.0)
        deadline = time.monotonic() + 5
        while not deleted and time.monotonic() < deadline:
            _, deleted = watcher.next("b", watcher._latest.get("b"), timeout=1.0)
        assert deleted
        # Watched from the list's version, then listed again after 410 and watched on.
        versions = [c["resource_version"] for c in FakeWatch.calls[:2]]
        assert versions == ["10", "31"]
        assert all(c["label_selector"] == "pack.dev/parent-execution=r1" for c in FakeWatch.calls)
    finally:
        watcher.close()


def test_the_backend_follows_through_the_shared_watch_and_says_when_a_pod_is_deleted() -> None:
    class Api(FakeApi):
        def __init__(self) -> None:
            super().__init__()
            self.lists = [RawList([], "1")]

    be = kb.KubernetesBackend(Api(), namespace="ns")  # type: ignore[arg-type]
    be.share_watch("sel=1")
    assert be._watcher is not None
    created = PodView(pod_json("a", "1", "Pending", None))
    threading.Timer(
        0.2, be._watcher._update, ("MODIFIED", pod_json("a", "2", "Succeeded", DONE))
    ).start()
    final, outcome = be.follow(created)
    assert outcome.state == "succeeded" and final.metadata.resource_version == "2"
    threading.Timer(
        0.2, be._watcher._update, ("DELETED", pod_json("c", "3", "Running", RUNNING))
    ).start()
    with pytest.raises(LaunchError, match="was deleted while running"):
        be.follow(PodView(pod_json("c", "1", "Running", RUNNING)))
    be.close()
