"""Default pod template files and credentials, merged into rendered pods that pass strict validation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest

from pack.errors import UsageError
from pack.launcher.credentials import (
    PASS_ENV_ANNOTATION,
    credentials_manifest,
    pass_env_secret,
    pod_credentials,
)
from pack.launcher.execution import Execution
from pack.launcher.podspec import (
    PRIMARY_CONTAINER,
    BundleInfo,
    PodTemplate,
    RenderOptions,
    merge_manifests,
    render_pod,
    to_dict,
)
from pack.launcher.podtemplate_file import load_pod_template
from pack.launcher.task import task

K8S_VERSION = "1.28.0"
EXECUTION = Execution("rtest123", "proj", "dev", "s3://bucket/pack")
BUNDLE = BundleInfo("s3://bucket/pack/bundles/abc.tar.zst", "sha256:" + "ab" * 32)

OPERATOR_POD = """\
apiVersion: v1
kind: Pod
metadata:
  name: ignored
  namespace: ignored-too
  labels: {team: ml}
spec:
  hostNetwork: true
  serviceAccountName: runner
  nodeSelector: {pool: batch}
  tolerations: [{key: batch, operator: Exists, effect: NoSchedule}]
  imagePullSecrets: [{name: regcred}]
  containers:
    - name: primary
      env: [{name: FROM_OPERATOR, value: "1"}, {name: SHARED, value: operator}]
"""

OPERATOR_PODTEMPLATE = """\
apiVersion: v1
kind: PodTemplate
metadata: {name: defaults}
template:
  metadata: {annotations: {owner: ops}}
  spec:
    hostNetwork: true
    containers: [{name: primary, image: placeholder}]
"""


@task(env={"SHARED": "task"})
def job(x: int) -> int:
    return x


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pod.yaml"
    path.write_text(text)
    return path


def render(base: Any, t: Any = job) -> dict[str, Any]:
    pod = to_dict(
        render_pod(
            t,
            image="127.0.0.1:5000/img@sha256:" + "cd" * 32,
            execution=EXECUTION,
            bundle=BUNDLE,
            options=RenderOptions(base_template=base),
        )
    )
    kubernetes_validate.validate(pod, K8S_VERSION, strict=True)
    return pod


def test_pod_yaml_is_merged_under_the_task(tmp_path: Path) -> None:
    pod = render(load_pod_template(write(tmp_path, OPERATOR_POD)))
    spec = pod["spec"]
    assert spec["hostNetwork"] is True
    assert spec["serviceAccountName"] == "runner"
    assert spec["nodeSelector"] == {"pool": "batch"}
    assert spec["imagePullSecrets"] == [{"name": "regcred"}]
    assert pod["metadata"]["labels"]["team"] == "ml"
    assert pod["metadata"]["name"].startswith("job-rtest123")  # pack names the pod
    assert "namespace" not in pod["metadata"]
    (primary,) = spec["containers"]
    env = {e["name"]: e["value"] for e in primary["env"]}
    assert env["FROM_OPERATOR"] == "1"
    assert env["SHARED"] == "task"  # the task's own env wins over the default
    assert primary["image"].endswith("cd" * 32)


def test_task_template_wins_over_the_default(tmp_path: Path) -> None:
    @task(pod_template=PodTemplate(pod_spec={"nodeSelector": {"pool": "gpu"}}))
    def special(x: int) -> int:
        return x

    pod = render(load_pod_template(write(tmp_path, OPERATOR_POD)), special)
    assert pod["spec"]["nodeSelector"] == {"pool": "gpu"}
    assert pod["spec"]["hostNetwork"] is True


def test_podtemplate_kind_uses_its_template(tmp_path: Path) -> None:
    pod = render(load_pod_template(write(tmp_path, OPERATOR_PODTEMPLATE)))
    assert pod["spec"]["hostNetwork"] is True
    assert pod["metadata"]["annotations"]["owner"] == "ops"
    assert pod["spec"]["containers"][0]["image"] != "placeholder"


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("kind: Deployment\n", "kind Pod or PodTemplate"),
        ("kind: Pod\nspec: {nodeselector: {a: b}}\n", "spec.nodeselector"),
        ("kind: Pod\nspec: {containers: [{name: side}]}\n", "has no image"),
        ("kind: PodTemplate\nspec: {}\n", "template:"),
        ("kind: Pod\n---\nkind: Pod\n", "one YAML document"),
        ("kind: Pod\nspec: [\n", "not valid YAML"),
        ("- a\n", "mapping"),
    ],
)
def test_bad_template_files_name_the_problem(tmp_path: Path, text: str, needle: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(UsageError) as info:
        load_pod_template(path)
    assert needle in str(info.value)
    assert str(path) in str(info.value)


def test_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="cannot read"):
        load_pod_template(tmp_path / "nope.yaml")


# --- credentials -------------------------------------------------------------------------

LOCAL = {
    "AWS_ACCESS_KEY_ID": "AKIA-local",
    "AWS_SECRET_ACCESS_KEY": "very-secret",
    "AWS_ENDPOINT_URL_S3": "http://127.0.0.1:9000",
    "AWS_ENDPOINT_URL": "http://127.0.0.1:9000",
    "HOME": "/root",
}


def test_nothing_is_copied_unless_named() -> None:
    creds = pod_credentials([], [], LOCAL)
    assert not creds
    pod = render(credentials_manifest(creds, PRIMARY_CONTAINER) or None)
    names = {e["name"] for e in pod["spec"]["containers"][0].get("env", [])}
    assert not names & set(LOCAL)


def test_named_variables_and_secrets_reach_the_primary_container_only() -> None:
    creds = pod_credentials(
        ["AWS_ACCESS_KEY_ID", "AWS_ENDPOINT_URL_S3"], ["s3-creds", "s3-creds"], LOCAL
    )
    assert creds.names == ["AWS_ACCESS_KEY_ID", "AWS_ENDPOINT_URL_S3"]
    assert "AKIA-local" not in repr(creds)
    base = merge_manifests(
        {"spec": {"containers": [{"name": "sidecar", "image": "busybox"}]}},
        credentials_manifest(creds, PRIMARY_CONTAINER),
    )
    pod = render(base)
    primary, sidecar = pod["spec"]["containers"]
    env = {e["name"]: e["value"] for e in primary["env"]}
    assert env["AWS_ACCESS_KEY_ID"] == "AKIA-local"
    assert env["AWS_ENDPOINT_URL_S3"] == "http://127.0.0.1:9000"
    assert "AWS_SECRET_ACCESS_KEY" not in env and "AWS_ENDPOINT_URL" not in env
    assert primary["envFrom"] == [{"secretRef": {"name": "s3-creds"}}]
    assert "env" not in sidecar


@pytest.mark.parametrize(
    ("pass_env", "secrets", "needle"),
    [
        (["NOT_SET_ANYWHERE"], [], "not set in your environment"),
        (["BAD-NAME"], [], "not a variable name"),
        (["PACK_ATTEMPT"], [], "pack sets this"),
        (["PACK_S3_ENDPOINT_URL"], [], "pack sets this"),
        (["PACK_NETWORK_TIMEOUT"], [], "pack sets this"),
        ([], ["Bad_Secret"], "not a valid Secret name"),
    ],
)
def test_bad_credentials_are_refused(pass_env: list[str], secrets: list[str], needle: str) -> None:
    with pytest.raises(UsageError, match=needle):
        pod_credentials(pass_env, secrets, LOCAL)


def test_pass_env_secret_moves_only_the_named_values_of_the_primary_container() -> None:
    creds = pod_credentials(["AWS_SECRET_ACCESS_KEY"], [], LOCAL)
    base = merge_manifests(
        {
            "spec": {
                "containers": [
                    {"name": "sidecar", "image": "busybox", "env": [{"name": "X", "value": "1"}]}
                ]
            }
        },
        credentials_manifest(creds, PRIMARY_CONTAINER),
    )
    pod = render(base)
    assert pod["metadata"]["annotations"][PASS_ENV_ANNOTATION] == "AWS_SECRET_ACCESS_KEY"
    moved, data = pass_env_secret(pod, "run-1-pass-env", PRIMARY_CONTAINER)
    assert data == {"AWS_SECRET_ACCESS_KEY": "very-secret"}
    assert "very-secret" not in repr(moved) and "very-secret" in repr(pod)  # pod not changed
    primary, sidecar = moved["spec"]["containers"]
    env = {e["name"]: e for e in primary["env"]}
    assert env["AWS_SECRET_ACCESS_KEY"] == {
        "name": "AWS_SECRET_ACCESS_KEY",
        "valueFrom": {"secretKeyRef": {"name": "run-1-pass-env", "key": "AWS_SECRET_ACCESS_KEY"}},
    }
    assert env["PACK_ATTEMPT"]["value"] == "1"  # pack's own env stays plain
    assert sidecar["env"] == [{"name": "X", "value": "1"}]


def test_pass_env_secret_without_the_annotation_moves_nothing() -> None:
    pod = render(None)
    moved, data = pass_env_secret(pod, "s", PRIMARY_CONTAINER)
    assert data == {} and moved == pod
