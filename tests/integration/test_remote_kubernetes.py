"""`pack run --backend kubernetes` end to end on a real cluster (scripts/test-cluster up).

Pods reach the registry and S3 on 127.0.0.1 only with hostNetwork (no CNI on the
test cluster): the tests set it once in a default pod template, as an operator
would (PACK_POD_TEMPLATE), not in the tasks.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from pack.launcher.entrypoint import DONE_LINE
from tests.integration.k8s_wait import wait_gone
from tests.integration.test_remote_docker import (
    Project,
    check_detach_status_logs,
    check_failure_shows_traceback,
    check_retry_in_new_attempt,
    check_reuse_flow,
    make_project,
    uid,
)

pytestmark = pytest.mark.integration

OPERATOR_TEMPLATE = """\
apiVersion: v1
kind: PodTemplate
metadata:
  name: pack-test-defaults
template:
  metadata:
    labels:
      team: pack-tests
  spec:
    hostNetwork: true
    dnsPolicy: ClusterFirstWithHostNet
"""


@pytest.fixture()
def project(
    tmp_path: Path, registry, base_image: str, docker_engine, s3_env, kubeconfig: Path
) -> Project:  # type: ignore[no-untyped-def]
    template = tmp_path / "operator-pod-template.yaml"
    template.write_text(OPERATOR_TEMPLATE)
    return make_project(
        tmp_path,
        registry,
        base_image,
        docker_engine,
        s3_env,
        {"PACK_KUBECONFIG": str(kubeconfig), "PACK_POD_TEMPLATE": str(template)},
    )


def error_line(stderr: str) -> str:
    lines = [ln for ln in stderr.splitlines() if ln.startswith("pack: error:")]
    assert len(lines) == 1, stderr[-3000:]
    return lines[0]


def pods_of(kubeconfig: Path, execution_id: str) -> list[str]:
    from kubernetes import client, config

    api = client.CoreV1Api(config.new_client_from_config(config_file=str(kubeconfig)))
    pods = api.list_namespaced_pod(
        "default", label_selector=f"pack.dev/execution-id={execution_id}"
    ).items
    return [p.metadata.name for p in pods]


def run_record_text(project: Project, execution_id: str) -> str:
    """runs/<id>/record.json as the store holds it."""
    import boto3

    bucket, _, prefix = project.store.removeprefix("s3://").partition("/")
    s3 = boto3.client("s3", endpoint_url=project.env["AWS_ENDPOINT_URL_S3"])
    body = s3.get_object(Bucket=bucket, Key=f"{prefix}/runs/{execution_id}/record.json")["Body"]
    return str(body.read().decode())


def test_kubernetes_run_reuse_and_code_change(project: Project) -> None:
    check_reuse_flow(project, "kubernetes")


def test_kubernetes_failure_shows_the_users_traceback(project: Project) -> None:
    check_failure_shows_traceback(project, "kubernetes")


def test_kubernetes_recoverable_failure_is_retried_in_a_new_pod(
    project: Project, kubeconfig: Path
) -> None:
    check_retry_in_new_attempt(project, "kubernetes")


def test_kubernetes_detach_then_status_and_logs(project: Project) -> None:
    check_detach_status_logs(project, "kubernetes")


def test_kubernetes_keep_leaves_the_pod_with_the_operator_defaults(
    project: Project, kubeconfig: Path
) -> None:
    import json

    from kubernetes import client, config

    # moto takes any credentials: distinctive ones show where a value would leak.
    secret_values = [f"key-id-{uid()}", f"secret-key-{uid()}"]
    project.env["AWS_ACCESS_KEY_ID"], project.env["AWS_SECRET_ACCESS_KEY"] = secret_values
    proc = project.run("kubernetes", "main", "--x", "2", extra=("--keep",))
    assert proc.returncode == 0, proc.stderr[-3000:]
    run_id = json.loads(proc.stdout)["execution_id"]
    api_client = config.new_client_from_config(config_file=str(kubeconfig))
    api = client.CoreV1Api(api_client)
    (pod,) = api.list_namespaced_pod(
        "default", label_selector=f"pack.dev/execution-id={run_id}"
    ).items
    name = pod.metadata.name
    try:
        assert pod.spec.host_network is True
        assert pod.metadata.labels["team"] == "pack-tests"
        env = {e.name: e.value for e in pod.spec.containers[0].env}
        assert env["PACK_ATTEMPT"] == "1"
        assert "AWS_ENDPOINT_URL_S3" in env  # named with --pass-env
        assert "HOME" not in env and "PATH" not in env  # nothing else copied
        assert "@sha256:" in pod.spec.containers[0].image

        # --pass-env values live in the pod's own Secret, never in the pod spec.
        as_read = json.dumps(
            api_client.sanitize_for_serialization(api.read_namespaced_pod(name, "default"))
        )
        refs = {
            e.name: e.value_from.secret_key_ref
            for e in pod.spec.containers[0].env
            if e.value_from is not None and e.value_from.secret_key_ref is not None
        }
        assert set(refs) == {
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_DEFAULT_REGION",
            "AWS_ENDPOINT_URL_S3",
        }
        assert all(env[n] is None for n in refs)
        secret = api.read_namespaced_secret(refs["AWS_SECRET_ACCESS_KEY"].name, "default")
        assert [(o.kind, o.uid) for o in secret.metadata.owner_references] == [
            ("Pod", pod.metadata.uid)
        ]
        status = project.pack("status", "-o", "json", run_id)
        run_json = run_record_text(project, run_id)
        for value in secret_values:
            assert value not in as_read
            assert value not in proc.stdout + proc.stderr
            assert value not in status.stdout + status.stderr
            assert value not in run_json
    finally:
        api.delete_namespaced_pod(name, "default", grace_period_seconds=0)
    # Owned by the pod: the garbage collector deletes the secret with it.
    assert wait_gone(
        lambda: api.read_namespaced_secret(refs["AWS_SECRET_ACCESS_KEY"].name, "default")
    ), "the --pass-env secret outlived its pod"
    api_client.close()


def test_kubernetes_over_memory_limit_is_one_line_oom(project: Project) -> None:
    proc = project.run("kubernetes", "hog", "--x", "1")
    assert proc.returncode != 0
    line = error_line(proc.stderr)
    assert "ran out of memory" in line and "64Mi" in line


def test_kubernetes_too_much_cpu_is_unschedulable_naming_the_request(project: Project) -> None:
    proc = project.run("kubernetes", "huge", "--x", "1")
    assert proc.returncode != 0
    line = error_line(proc.stderr)
    assert "unschedulable" in line
    assert "Insufficient cpu" in line  # the scheduler's own words
    assert "cpu=64" in line


def test_kubernetes_missing_image_names_the_ref(project: Project) -> None:
    proc = project.run("kubernetes", "ghost", "--x", "1")
    assert proc.returncode != 0
    line = error_line(proc.stderr)
    assert f"cannot pull image {project.missing_image}" in line


def test_kubernetes_refuses_a_file_store_before_packaging(project: Project, tmp_path: Path) -> None:
    store = (tmp_path / "local-store").as_uri()
    proc = project.pack(
        "run", "--backend", "kubernetes", "--store", store, "wf.py", "main", "--x", "1"
    )
    assert proc.returncode != 0
    line = error_line(proc.stderr)
    assert store in line and "s3://" in line
    assert not (tmp_path / "local-store").exists()


# Printed at exit by the pack process: which modules of the official client it loaded.
REPORT_IMPORTS = """\
import atexit, sys
def report():
    loaded = sorted(m for m in sys.modules if m.split(".")[0] == "kubernetes")
    print("\\nkubernetes-client-modules:", ",".join(loaded), file=sys.stderr)
atexit.register(report)
from pack.cli import main
sys.exit(main())
"""


@dataclass
class ImportWatching(Project):
    """A Project whose `pack` calls report the client modules each process loaded."""

    loaded: list[tuple[str, set[str]]] = field(default_factory=list)

    def pack(self, *args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [sys.executable, "-c", REPORT_IMPORTS, *args],
            cwd=self.root,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("kubernetes-client-")]
        assert len(lines) == 1, proc.stderr[-3000:]
        modules = set(filter(None, lines[0].partition(":")[2].strip().split(",")))
        self.loaded.append((args[0], modules))
        return proc


def test_kubernetes_run_status_logs_never_import_the_official_client(project: Project) -> None:
    """`import kubernetes` is 0.3-0.7 s of a CLI run; with a kubeconfig of a server, a
    CA and a token, pack talks to the API over its own HTTP client."""
    watching = ImportWatching(project.root, project.env, project.store, project.missing_image)
    result = watching.run_json("kubernetes", "main", "--x", "2")
    assert result["status"] == "succeeded"
    check_detach_status_logs(watching, "kubernetes")
    commands = [command for command, _ in watching.loaded]
    assert commands.count("run") == 2 and "logs" in commands and "status" in commands
    for command, modules in watching.loaded:
        assert not modules, (command, sorted(modules)[:5])


def test_an_exec_credential_plugin_goes_through_the_official_client(
    project: Project, kubeconfig: Path, tmp_path: Path
) -> None:
    """A kubeconfig pack's own client cannot honour (an exec plugin) uses the official
    client, and the run works the same."""
    import yaml

    doc = yaml.safe_load(kubeconfig.read_text())
    user = doc["users"][0]["user"]
    token = user.pop("token")
    plugin = tmp_path / "token-plugin"
    plugin.write_text(
        "#!/bin/sh\n"
        f"touch {tmp_path / 'plugin-ran'}\n"
        'echo \'{"apiVersion": "client.authentication.k8s.io/v1beta1", '
        '"kind": "ExecCredential", "status": {"token": "' + token + "\"}}'\n"
    )
    plugin.chmod(0o755)
    user["exec"] = {
        "apiVersion": "client.authentication.k8s.io/v1beta1",
        "command": str(plugin),
        "interactiveMode": "Never",
    }
    with_exec = tmp_path / "kubeconfig-exec"
    with_exec.write_text(yaml.safe_dump(doc))
    env = {**project.env, "PACK_KUBECONFIG": str(with_exec)}
    watching = ImportWatching(project.root, env, project.store, project.missing_image)
    result = watching.run_json("kubernetes", "main", "--x", "3")
    assert result["status"] == "succeeded"
    assert (tmp_path / "plugin-ran").exists()
    assert "kubernetes.config.kube_config" in watching.loaded[0][1]


def test_kubernetes_log_followed_while_running_is_complete_and_shown_once(
    project: Project,
) -> None:
    """The follow stream opened while the container ran is cut once it has ended (the
    kubelet would hold it until its next state check) and the finished log read again:
    every line once, in order, the ones printed just before the exit too."""
    proc = project.run("kubernetes", "lingers", "--x", "3")
    assert proc.returncode == 0, proc.stderr[-3000:]
    shown = [
        ln for ln in proc.stderr.splitlines() if ln in ("started", "last 0", "last 1", "last 2")
    ]
    assert shown == ["started", "last 0", "last 1", "last 2"]
    doc = json.loads(proc.stdout)
    stored = project.pack("logs", doc["execution_id"], "--store", project.store)
    assert stored.stdout.splitlines()[-4:] == ["started", "last 0", "last 1", "last 2"]
    # The attempt ended on the task's closing line (outputs.pb in the store), not on the
    # kubelet's report; that line is pack's and is neither shown nor stored.
    assert "backend.pod_said_done" in doc["timings"], doc["timings"]
    assert DONE_LINE not in proc.stderr and DONE_LINE not in stored.stdout


# The client's upload of inputs.pb held back 3 s: the pod is created, its container
# starts and waits for it.
LATE_INPUTS = """\
import sys, time
import pack.packager.store as store

write_url = store.write_url


def slow_inputs(url, data):
    if url.endswith("/inputs.pb"):
        time.sleep(3.0)
    return write_url(url, data)


store.write_url = slow_inputs
from pack.cli import main

sys.exit(main())
"""


def test_kubernetes_pod_created_before_its_inputs_waits_for_them(
    project: Project, kubeconfig: Path
) -> None:
    """pack creates the pod while inputs.pb is still being written: a container that
    starts before it is there waits for it (here it comes 3 s after the create)."""
    import boto3

    proc = dataclasses.replace(project, program=LATE_INPUTS).run("kubernetes", "main", "--x", "4")
    assert proc.returncode == 0, proc.stderr[-3000:]
    doc = json.loads(proc.stdout)
    assert [str(v).split(" ")[0].split(":")[-1] for v in doc["outputs"].values()] == ["8"]
    assert doc["timings"]["backend.pod_ready_wait"] >= 2.0
    bucket, _, prefix = doc["artifacts"].removeprefix("s3://").partition("/")
    s3 = boto3.client("s3", endpoint_url=project.env["AWS_ENDPOINT_URL_S3"])
    marks = json.loads(
        s3.get_object(Bucket=bucket, Key=f"{prefix}/attempts/1/timings.json")["Body"].read()
    )
    # The container was there before its inputs: it waited for them.
    assert marks["inputs_read"] - marks["execute_start"] > 1.0, marks
    assert pods_of(kubeconfig, doc["execution_id"]) == []


def test_kubernetes_short_task_ends_on_the_log_it_stored(project: Project) -> None:
    """A task that starts and ends between two of the kubelet's reports is seen through
    the log it stored (attempts/1/pod-log.txt), not at the next report; either way each of
    its lines is shown once, in order."""
    import boto3

    s3 = boto3.client("s3", endpoint_url=project.env["AWS_ENDPOINT_URL_S3"])
    expected = [f"line {i} of 3" for i in range(3)]
    ended_on_stored_log = 0
    for _ in range(5):
        proc = project.run("kubernetes", "chatty", "--x", "3")
        assert proc.returncode == 0, proc.stderr[-3000:]
        doc = json.loads(proc.stdout)
        shown = [ln for ln in proc.stderr.splitlines() if ln.startswith("line ")]
        assert shown == expected, proc.stderr[-3000:]
        assert DONE_LINE not in proc.stderr
        bucket, _, prefix = doc["artifacts"].removeprefix("s3://").partition("/")
        stored = s3.get_object(Bucket=bucket, Key=f"{prefix}/attempts/1/pod-log.txt")["Body"].read()
        assert stored.decode().splitlines() == expected
        ended_on_stored_log += "backend.pod_stored_log" in doc["timings"]
    # The kubelet reports about once a second and the task takes ~0.2 s: most runs end
    # between two reports (all five reaching the kubelet first would be a regression).
    assert ended_on_stored_log >= 1
