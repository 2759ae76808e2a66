"""Workflows on the real cluster (scripts/test-cluster up): every task call its own pod.

Two ImageSpecs from the offline base image; each child checks it runs in its own
image (an env value baked into that image). Pods reach the registry and S3 with
hostNetwork from the operator's pod template. The detached driver runs with a
service account made from `pack k8s rbac`, and reaches the API server through the
template's env (the test cluster has no kube-proxy).
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.console import start_console
from tests.integration.test_remote_docker import Project, make_project, uid
from tests.integration.test_remote_kubernetes import OPERATOR_TEMPLATE

pytestmark = pytest.mark.integration

WORKFLOWS = """\
import os
import time

from pack import ImageSpec, map_task, task, workflow

image_a = ImageSpec(name="test/wf-a", registry={registry!r}, base_image={base_image!r},
                    env={{"WHICH_IMAGE": "a"}})
image_b = ImageSpec(name="test/wf-b", registry={registry!r}, base_image={base_image!r},
                    env={{"WHICH_IMAGE": "b"}})


def in_image(name: str) -> None:
    if os.environ.get("WHICH_IMAGE") != name:
        raise RuntimeError(f"expected image {{name}}, running in {{os.environ.get('WHICH_IMAGE')}}")


@task(image=image_a)
def square(x: int) -> int:
    in_image("a")
    if x == 13:
        raise ValueError(f"cannot handle {{x}}")
    return x * x


@task(image=image_b)
def total(xs: list[int]) -> tuple[int, str]:
    in_image("b")
    return sum(xs), os.environ["WHICH_IMAGE"]


@task(image=image_b, cache=True, cache_version="1")
def slow_double(x: int) -> int:
    in_image("b")
    return 2 * x


@task(image=image_a)
def sleepy(i: int) -> int:
    time.sleep(600)
    return i


@workflow(image=image_a)
def main(n: int = 3) -> tuple[int, str]:
    return total(xs=map_task(square)(x=list(range(n))))


@workflow
def fails() -> list[int]:
    return map_task(square)(x=[1, 2, 13, 3])


@workflow
def tolerant() -> list[int | None]:
    return map_task(square, min_success_ratio=0.75)(x=[1, 2, 13, 3])


@workflow
def cached(x: int) -> int:
    return slow_double(x=x)


@workflow(image=image_a)
def long(n: int = 3) -> list[int]:
    return map_task(sleepy)(i=list(range(n)))


@task(image=image_b)
def outer(x: int) -> int:
    # A task (not a workflow) that calls tasks: its own pod drives them.
    in_image("b")
    return total(xs=[square(x=x), square(x=x + 1)])[0]
"""

# What a detached driver needs: the service account `pack k8s rbac` made, and the API
# server's address (the test cluster has no kube-proxy, so the service IP does not route).
DRIVER_TEMPLATE = """\
apiVersion: v1
kind: PodTemplate
template:
  spec:
    hostNetwork: true
    dnsPolicy: ClusterFirstWithHostNet
    serviceAccountName: {account}
    containers:
    - name: primary
      env:
      - name: KUBERNETES_SERVICE_HOST
        value: "127.0.0.1"
      - name: KUBERNETES_SERVICE_PORT
        value: "{port}"
"""


def core_api(kubeconfig: Path) -> Any:
    from kubernetes import client, config

    return client.CoreV1Api(config.new_client_from_config(config_file=str(kubeconfig)))


@pytest.fixture()
def project(
    tmp_path: Path, registry, base_image: str, docker_engine, s3_env, kubeconfig: Path
) -> Project:  # type: ignore[no-untyped-def]
    template = tmp_path / "operator.yaml"
    template.write_text(OPERATOR_TEMPLATE)
    proj = make_project(
        tmp_path,
        registry,
        base_image,
        docker_engine,
        s3_env,
        {"PACK_KUBECONFIG": str(kubeconfig), "PACK_POD_TEMPLATE": str(template)},
    )
    (proj.root / "wf.py").write_text(
        WORKFLOWS.format(registry=registry.host, base_image=base_image)
    )
    return proj


@pytest.fixture()
def driver_account(project: Project, kubeconfig: Path, tmp_path: Path) -> Iterator[str]:
    """A service account, Role and RoleBinding applied from `pack k8s rbac`."""
    from urllib.parse import urlparse

    import yaml
    from kubernetes import client, config, utils

    name = f"pack-driver-{uid()}"
    proc = project.pack("k8s", "rbac", "--service-account", name)
    assert proc.returncode == 0, proc.stderr
    api_client = config.new_client_from_config(config_file=str(kubeconfig))
    docs = list(yaml.safe_load_all(proc.stdout))
    assert [d["kind"] for d in docs] == ["ServiceAccount", "Role", "RoleBinding"]
    for doc in docs:
        utils.create_from_dict(api_client, doc)
    port = urlparse(api_client.configuration.host).port
    template = tmp_path / "driver.yaml"
    template.write_text(DRIVER_TEMPLATE.format(account=name, port=port))
    project.env["PACK_POD_TEMPLATE"] = str(template)
    try:
        yield name
    finally:
        rbac = client.RbacAuthorizationV1Api(api_client)
        rbac.delete_namespaced_role_binding(name, "default")
        rbac.delete_namespaced_role(name, "default")
        client.CoreV1Api(api_client).delete_namespaced_service_account(name, "default")
        api_client.close()


class PodWatch:
    """Every pack pod the cluster reports while the block runs: name -> labels."""

    def __init__(self, kubeconfig: Path) -> None:
        self.api = core_api(kubeconfig)
        self.seen: dict[str, dict[str, str]] = {}
        self.specs: dict[str, str] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        from kubernetes import watch

        while not self._stop.is_set():
            w = watch.Watch()
            for event in w.stream(
                self.api.list_namespaced_pod,
                "default",
                label_selector="app.kubernetes.io/managed-by=pack",
                timeout_seconds=5,
            ):
                pod = event["object"]
                self.seen[pod.metadata.name] = dict(pod.metadata.labels or {})
                self.specs[pod.metadata.name] = json.dumps(
                    self.api.api_client.sanitize_for_serialization(pod.spec)
                )
                if self._stop.is_set():
                    w.stop()

    def __enter__(self) -> PodWatch:
        self._thread.start()
        time.sleep(0.5)
        return self

    def __exit__(self, *exc: object) -> None:
        time.sleep(1.0)
        self._stop.set()
        self._thread.join(timeout=15)

    def of_run(self, run_id: str) -> dict[str, dict[str, str]]:
        return {
            name: labels
            for name, labels in self.seen.items()
            if run_id
            in (labels.get("pack.dev/root-execution"), labels.get("pack.dev/execution-id"))
        }


def pods_left(kubeconfig: Path, run_id: str) -> list[str]:
    api = core_api(kubeconfig)
    names = []
    for selector in (f"pack.dev/root-execution={run_id}", f"pack.dev/execution-id={run_id}"):
        names += [
            p.metadata.name
            for p in api.list_namespaced_pod("default", label_selector=selector).items
        ]
    return names


def secrets_left(kubeconfig: Path, run_id: str) -> list[str]:
    api = core_api(kubeconfig)
    found = api.list_namespaced_secret(
        "default", label_selector=f"pack.dev/root-execution={run_id}"
    )
    return [s.metadata.name for s in found.items]


def test_children_run_in_their_own_images_through_the_run_secret(
    project: Project, kubeconfig: Path
) -> None:
    secret_value = f"secret-key-{uid()}"
    project.env["AWS_SECRET_ACCESS_KEY"] = secret_value  # moto takes any: a value to look for
    with PodWatch(kubeconfig) as watch:
        doc = project.run_json("kubernetes", "main", "--n", "3")
    assert doc["outputs"] == {"o0": 5, "o1": "b"}  # 0 + 1 + 4, summed in image b
    children = doc["children"]
    assert [(c["task"], c["index"]) for c in children] == [
        ("wf.square", 0),
        ("wf.square", 1),
        ("wf.square", 2),
        ("wf.total", None),
    ]
    assert {c["status"] for c in children} == {"succeeded"}
    assert "test/wf-a@sha256:" in children[0]["image"]
    assert "test/wf-b@sha256:" in children[3]["image"]
    # Each child was its own pod, labelled with the run; none holds a credential value.
    pods = watch.of_run(doc["execution_id"])
    assert {c["attempts"][-1]["name"] for c in children} <= set(pods)
    for name in pods:
        assert secret_value not in watch.specs[name]
        assert "secretKeyRef" in watch.specs[name]
    # The run's Secret and every child pod are gone with the run.
    assert pods_left(kubeconfig, doc["execution_id"]) == []
    assert secrets_left(kubeconfig, doc["execution_id"]) == []


def check_failing_child(project: Project, backend: str) -> None:
    proc = project.run(backend, "fails")
    assert proc.returncode == 1, proc.stderr[-3000:]
    last = [ln for ln in proc.stderr.splitlines() if ln.startswith("pack: error:")]
    assert len(last) == 1, proc.stderr[-3000:]
    assert "square[2] failed: ValueError: cannot handle 13" in last[0]


def test_a_failing_child_fails_the_workflow_with_its_message(project: Project) -> None:
    check_failing_child(project, "kubernetes")


def test_min_success_ratio_lets_failed_elements_come_back_as_none(project: Project) -> None:
    doc = project.run_json("kubernetes", "tolerant")
    assert doc["outputs"] == {"o0": [1, 4, None, 9]}
    statuses = [c["status"] for c in doc["children"]]
    assert statuses == ["succeeded", "succeeded", "failed", "succeeded"]


def test_a_cache_hit_starts_no_pod(project: Project, kubeconfig: Path) -> None:
    x = str(int(time.time() * 1000) % 100000)  # a fresh key: nothing cached yet
    first = project.run_json("kubernetes", "cached", "--x", x)
    assert first["outputs"] == {"o0": 2 * int(x)}
    assert first["children"][0]["cache"] == "miss"
    with PodWatch(kubeconfig) as watch:
        second = project.run("kubernetes", "cached", "--x", x, extra=())
    assert second.returncode == 0, second.stderr[-3000:]
    doc = json.loads(second.stdout)
    assert doc["outputs"] == {"o0": 2 * int(x)}
    (child,) = doc["children"]
    assert child["status"] == "succeeded" and child["cache"] == "hit"
    assert child["attempts"] == []
    assert watch.of_run(doc["execution_id"]) == {}  # not one pod for the whole run


def test_a_detached_workflow_finishes_with_the_laptop_side_gone(
    project: Project, kubeconfig: Path, driver_account: str
) -> None:
    proc = project.run("kubernetes", "main", "--n", "4", extra=("--detach",))
    assert proc.returncode == 0, proc.stderr[-3000:]  # the client process has exited
    run_id = json.loads(proc.stdout)["execution_id"]
    try:
        deadline = time.monotonic() + 600
        report: dict[str, Any] = {}
        while time.monotonic() < deadline:
            status = project.pack("status", "-o", "json", run_id)
            report = json.loads(status.stdout)
            if report["state"] in ("succeeded", "failed", "unknown"):
                break
            time.sleep(2)
        assert report["state"] == "succeeded", report
        assert report["outputs"] == {"o0": 14, "o1": "b"}
        tree = project.pack("status", "-o", "json", run_id)
        children = json.loads(tree.stdout)["children"]
        assert len(children) == 5 and {c["status"] for c in children} == {"succeeded"}
        assert {c["parent"] for c in children} == {run_id}
        # The driver pod started the children and removed them; only its own pod is left.
        assert pods_left(kubeconfig, run_id) == [report["name"]]
    finally:
        core_api(kubeconfig).delete_namespaced_pod(
            f"main-{run_id}-1", "default", grace_period_seconds=0
        )


def test_a_task_that_calls_tasks_drives_them_from_its_pod(
    project: Project, kubeconfig: Path, driver_account: str, page: Any
) -> None:
    with PodWatch(kubeconfig) as watch:
        doc = project.run_json("kubernetes", "outer", "--x", "2")
    assert doc["outputs"] == {"o0": 13}  # 4 + 9, summed in image b
    run_id = doc["execution_id"]
    children = doc["children"]
    assert [(c["task"], c["parent"], c["status"]) for c in children] == [
        ("wf.square", run_id, "succeeded"),
        ("wf.square", run_id, "succeeded"),
        ("wf.total", run_id, "succeeded"),
    ]
    # The task's pod started its children (labelled with the run), and removed them.
    pods = watch.of_run(run_id)
    assert {c["attempts"][-1]["name"] for c in children} | {f"outer-{run_id}-1"} == set(pods)
    assert pods_left(kubeconfig, run_id) == []
    # Its tree, as for a workflow: `pack status` (text and JSON) and the console.
    text = project.pack("status", run_id).stdout
    assert "children: 3" in text and "├─ wf.square " in text and "└─ wf.total " in text
    report = json.loads(project.pack("status", "-o", "json", run_id).stdout)
    assert [c["id"] for c in report["children"]] == [c["id"] for c in children]
    proc, url = start_console(project.env, "--store", project.store)
    try:
        page.goto(f"{url}runs/{run_id}")
        assert page.locator("#children li").count() == 3
        assert page.locator("#children .status-succeeded").count() == 3
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_cancel_of_a_detached_workflow_leaves_no_pods(
    project: Project, kubeconfig: Path, driver_account: str
) -> None:
    proc = project.run("kubernetes", "long", "--n", "3", extra=("--detach",))
    assert proc.returncode == 0, proc.stderr[-3000:]
    run_id = json.loads(proc.stdout)["execution_id"]
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and len(pods_left(kubeconfig, run_id)) < 4:
        time.sleep(1)
    assert len(pods_left(kubeconfig, run_id)) == 4, "the driver and its 3 children never ran"
    cancel = project.pack("cancel", run_id)
    assert cancel.returncode == 0, cancel.stderr
    assert pods_left(kubeconfig, run_id) == []
    assert secrets_left(kubeconfig, run_id) == []


def test_ctrl_c_on_an_attached_workflow_leaves_no_pods(project: Project, kubeconfig: Path) -> None:
    import signal
    import sys

    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from pack.cli import main; sys.exit(main())",
            "run",
            "--backend",
            "kubernetes",
            "--store",
            project.store,
            "--pass-env",
            "AWS_SECRET_ACCESS_KEY",
            "wf.py",
            "long",
        ],
        cwd=project.root,
        env=project.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        run_id = None
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and run_id is None:
            runs = sorted(
                (Path(project.env["PACK_CACHE_DIR"]) / "runs").glob("*/driver-process.json")
            )
            run_id = runs[-1].parent.name if runs else None
            time.sleep(0.5)
        assert run_id is not None
        while time.monotonic() < deadline and len(pods_left(kubeconfig, run_id)) < 3:
            time.sleep(1)
        assert len(pods_left(kubeconfig, run_id)) == 3
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 130, err[-3000:]
        assert "interrupted" in err
        assert pods_left(kubeconfig, run_id) == []
        assert secrets_left(kubeconfig, run_id) == []
    finally:
        if proc.poll() is None:
            proc.kill()
