"""The cluster `scripts/test-cluster up` starts runs pods the way pack's kubernetes backend needs.

Pods use hostNetwork: the cluster has no CNI, and host networking is what lets a pod reach
the registry and S3 server on 127.0.0.1.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.k8s_wait import wait_gone

pytestmark = pytest.mark.integration

NAMESPACE = "default"
WATCH_SECONDS = 180


@pytest.fixture()
def core_v1(kubeconfig: Path) -> Iterator[Any]:
    from kubernetes import client, config

    api_client = config.new_client_from_config(config_file=str(kubeconfig))
    try:
        yield client.CoreV1Api(api_client)
    finally:
        api_client.close()


def _pod(name: str, image: str, command: list[str]) -> Any:
    from kubernetes import client

    return client.V1Pod(
        metadata=client.V1ObjectMeta(name=name, labels={"app": "pack-cluster-smoke"}),
        spec=client.V1PodSpec(
            host_network=True,
            restart_policy="Never",
            termination_grace_period_seconds=0,
            containers=[client.V1Container(name="main", image=image, command=command)],
        ),
    )


def _watch_pod(core_v1: Any, name: str, done: Any) -> Any:
    """Follow the pod until done(pod) is true; return that pod (None after WATCH_SECONDS).

    Reads the pod first and watches from its resource version, again after a stream
    ends early (a disconnect or the server's own timeout), so no transition is missed.
    """
    from kubernetes import watch
    from urllib3.exceptions import HTTPError

    deadline = time.monotonic() + WATCH_SECONDS
    while (left := deadline - time.monotonic()) > 0:
        pod = core_v1.read_namespaced_pod(name, NAMESPACE)
        if done(pod):
            return pod
        w = watch.Watch()
        try:
            for event in w.stream(
                core_v1.list_namespaced_pod,
                NAMESPACE,
                field_selector=f"metadata.name={name}",
                resource_version=pod.metadata.resource_version,
                timeout_seconds=max(1, int(left)),
            ):
                if done(event["object"]):
                    return event["object"]
        except (OSError, HTTPError):
            pass  # a disconnect: read again and watch from there
        finally:
            w.stop()
    return None


@pytest.fixture()
def pod_name(core_v1: Any) -> Iterator[str]:
    name = f"pack-smoke-{uuid.uuid4().hex[:10]}"
    yield name
    from kubernetes.client.exceptions import ApiException

    try:
        core_v1.delete_namespaced_pod(name, NAMESPACE, grace_period_seconds=0)
    except ApiException as exc:
        if exc.status != 404:
            raise


def test_pod_runs_to_success_and_its_log_is_readable(
    core_v1: Any, base_image: str, pod_name: str
) -> None:
    a, b = random.randint(2, 999), random.randint(2, 999)
    core_v1.create_namespaced_pod(
        NAMESPACE, _pod(pod_name, base_image, ["python3", "-c", f"print({a}*{b})"])
    )

    pod = _watch_pod(core_v1, pod_name, lambda p: p.status.phase in ("Succeeded", "Failed"))

    assert pod is not None, f"pod {pod_name} did not finish within {WATCH_SECONDS}s"
    assert pod.status.phase == "Succeeded", pod.status
    log = core_v1.read_namespaced_pod_log(pod_name, NAMESPACE)
    assert log.split() == [str(a * b)]

    core_v1.delete_namespaced_pod(pod_name, NAMESPACE, grace_period_seconds=0)
    assert wait_gone(lambda: core_v1.read_namespaced_pod(pod_name, NAMESPACE), WATCH_SECONDS), (
        f"pod {pod_name} still exists after its deletion"
    )


def _pull_failure(pod: Any) -> str | None:
    for status in pod.status.container_statuses or []:
        waiting = status.state.waiting if status.state else None
        if waiting and waiting.reason in ("ErrImagePull", "ImagePullBackOff"):
            return str(waiting.reason)
    return None


def test_pod_with_an_unpullable_image_reports_a_pull_failure(
    core_v1: Any, registry: Any, pod_name: str
) -> None:
    # A repository the local registry does not hold: a 404, offline and fast. (An image on
    # docker.io would depend on how this machine's network fails: DNS at once, or a
    # dropped connection the kubelet waits out.)
    image = f"{registry.host}/pack/no-such-image-{uuid.uuid4().hex[:8]}:x"
    core_v1.create_namespaced_pod(NAMESPACE, _pod(pod_name, image, ["true"]))

    pod = _watch_pod(core_v1, pod_name, lambda p: _pull_failure(p) is not None)

    assert pod is not None, f"pod {pod_name} never reported a pull failure within {WATCH_SECONDS}s"
    assert _pull_failure(pod) in ("ErrImagePull", "ImagePullBackOff")
    assert pod.status.phase == "Pending"
