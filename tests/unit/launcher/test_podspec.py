"""Pod rendering: every rendered pod passes kubernetes-validate --strict."""

from __future__ import annotations

from typing import Any

import kubernetes_validate
import pytest
from kubernetes.client import V1Container, V1PodSpec, V1Toleration, V1Volume, V1VolumeMount

from pack.launcher.accelerators import A100, T4
from pack.launcher.execution import Execution
from pack.launcher.podspec import (
    BundleInfo,
    PodTemplate,
    RenderOptions,
    container_env,
    from_dict,
    merge_pod_template,
    primary_container,
    render_manifest,
    render_pod,
    to_dict,
)
from pack.launcher.resources import Resources
from pack.launcher.task import Task, task

K8S_VERSION = "1.28.0"
EXECUTION = Execution("rtest123", "proj", "dev", "s3://bucket/pack")
BUNDLE = BundleInfo("s3://bucket/pack/bundles/abc.tar.zst", "sha256:" + "ab" * 32)


def rendered(t: Task, **kw: Any) -> dict[str, Any]:
    """The manifest dict, checked strict and against the client model's serialization."""
    kw.setdefault("image", "registry.example/img:tag")
    kw.setdefault("execution", EXECUTION)
    pod = render_manifest(t, **kw)
    kubernetes_validate.validate(pod, K8S_VERSION, strict=True)
    assert pod == to_dict(render_pod(t, **kw))
    return pod


def primary(pod: dict[str, Any]) -> dict[str, Any]:
    return pod["spec"]["containers"][0]


@task
def plain(x: int) -> int:
    return x


def test_args_point_at_bundle_and_prefixes_and_stay_short() -> None:
    pod = rendered(plain, bundle=BUNDLE)
    args = primary(pod)["args"]
    assert args[0] == "pack-fast-execute"
    assert args[args.index("--additional-distribution") + 1] == BUNDLE.url
    run = args[args.index("--") + 1 :]
    assert run[0] == "pack-execute"
    assert run[run.index("--inputs") + 1] == EXECUTION.inputs_url
    assert run[run.index("--output-prefix") + 1] == "s3://bucket/pack/runs/rtest123/attempts/1"
    assert run[-4:] == ["task-module", plain.module, "task-name", "plain"]
    assert len(" ".join(args)) < 1024
    assert pod["spec"]["restartPolicy"] == "Never"


def test_without_bundle_runs_execute_directly_in_the_image_workdir() -> None:
    c = primary(rendered(plain))
    assert c["args"][0] == "pack-execute"
    assert "workingDir" not in c


def test_env_and_labels_record_execution_and_digests() -> None:
    pod = rendered(plain, bundle=BUNDLE, spec_digest="sha256:" + "cd" * 32)
    env = {e["name"]: e["value"] for e in primary(pod)["env"]}
    assert env["PACK_EXECUTION_ID"] == "rtest123"
    assert env["PACK_EXECUTION_PROJECT"] == "proj"
    assert env["PACK_EXECUTION_DOMAIN"] == "dev"
    assert env["PACK_ATTEMPT"] == "1"
    labels = pod["metadata"]["labels"]
    assert labels["pack.dev/bundle-digest"] == "ab" * 16
    assert labels["pack.dev/spec-digest"] == "cd" * 16
    assert all(len(v) <= 63 for v in labels.values())
    assert pod["metadata"]["annotations"]["pack.dev/bundle-digest"] == BUNDLE.digest


def test_attempt_changes_name_env_and_output_prefix() -> None:
    pod = rendered(plain, execution=EXECUTION.with_attempt(3))
    assert pod["metadata"]["name"].endswith("-3")
    assert "/attempts/3" in " ".join(primary(pod)["args"])


def test_resources_timeout_and_user_env() -> None:
    @task(
        requests=Resources(cpu="500m", mem="1Gi", ephemeral_storage="2Gi"),
        limits=Resources(cpu=2, mem="4Gi"),
        timeout=90,
        env={"MODE": "fast", "PACK_ATTEMPT": "spoofed"},
    )
    def sized(x: int) -> int:
        return x

    pod = rendered(sized)
    res = primary(pod)["resources"]
    assert res["requests"] == {"cpu": "500m", "memory": "1Gi", "ephemeral-storage": "2Gi"}
    assert res["limits"] == {"cpu": "2", "memory": "4Gi"}
    assert pod["spec"]["activeDeadlineSeconds"] == 90
    env = {e["name"]: e["value"] for e in primary(pod)["env"]}
    assert env["MODE"] == "fast"
    assert env["PACK_ATTEMPT"] == "1"  # pack's own variables cannot be overridden


def test_gpu_accelerator_sets_limit_selector_and_toleration() -> None:
    @task(accelerator=A100, limits=Resources(gpu=2))
    def train(x: int) -> int:
        return x

    pod = rendered(train)
    assert primary(pod)["resources"]["limits"] == {"nvidia.com/gpu": "2"}
    assert pod["spec"]["nodeSelector"] == {"pack.dev/accelerator": "nvidia-tesla-a100"}
    assert {
        "key": "pack.dev/accelerator",
        "operator": "Equal",
        "value": "nvidia-tesla-a100",
        "effect": "NoSchedule",
    } in pod["spec"]["tolerations"]


def test_mig_partition_and_custom_label() -> None:
    @task(accelerator=A100.partition_1g_5gb)
    def small(x: int) -> int:
        return x

    pod = rendered(
        small, options=RenderOptions(accelerator_label="cloud.google.com/gke-accelerator")
    )
    assert primary(pod)["resources"]["limits"] == {"nvidia.com/mig-1g.5gb": "1"}
    assert pod["spec"]["nodeSelector"] == {"cloud.google.com/gke-accelerator": "nvidia-tesla-a100"}
    assert A100(partition="1g.5gb") == A100.partition_1g_5gb
    assert T4.resource_name == "nvidia.com/gpu"


TEMPLATE = PodTemplate(
    labels={"team": "ml"},
    annotations={"owner": "alice"},
    pod_spec=V1PodSpec(
        containers=[
            V1Container(
                name="primary",
                image="ignored:latest",
                args=["ignored"],
                volume_mounts=[V1VolumeMount(name="cache", mount_path="/cache")],
                env=[{"name": "FROM_TEMPLATE", "value": "yes"}],  # type: ignore[list-item]
            ),
            V1Container(name="sidecar", image="busybox:1"),
        ],
        volumes=[V1Volume(name="cache", empty_dir={})],
        tolerations=[V1Toleration(key="spot", operator="Exists", effect="NoSchedule")],
        service_account_name="runner",
    ),
)


def test_pod_template_merges_with_generated_primary() -> None:
    @task(pod_template=TEMPLATE, accelerator="T4", env={"A": "1"})
    def templated(x: int) -> int:
        return x

    pod = rendered(templated, bundle=BUNDLE)
    c = primary(pod)
    assert c["name"] == "primary"
    assert c["image"] == "registry.example/img:tag"  # generated wins
    assert c["args"][0] == "pack-fast-execute"
    assert c["volumeMounts"] == [{"name": "cache", "mountPath": "/cache"}]
    names = [e["name"] for e in c["env"]]
    assert "FROM_TEMPLATE" in names and "A" in names and "PACK_EXECUTION_ID" in names
    assert [x["name"] for x in pod["spec"]["containers"]] == ["primary", "sidecar"]
    assert pod["spec"]["serviceAccountName"] == "runner"
    keys = [t["key"] for t in pod["spec"]["tolerations"]]
    assert "spot" in keys and "pack.dev/accelerator" in keys
    assert pod["metadata"]["labels"]["team"] == "ml"
    assert pod["metadata"]["labels"]["pack.dev/task"] == "templated"
    assert pod["metadata"]["annotations"]["owner"] == "alice"


def test_cluster_default_goes_under_task_template() -> None:
    cluster = {
        "metadata": {"labels": {"team": "platform", "cost-center": "42"}},
        "spec": {
            "serviceAccountName": "default-runner",
            "containers": [{"name": "primary", "env": [{"name": "CLUSTER", "value": "1"}]}],
        },
    }

    @task(pod_template=TEMPLATE)
    def layered(x: int) -> int:
        return x

    pod = rendered(layered, options=RenderOptions(base_template=cluster))
    assert pod["metadata"]["labels"]["team"] == "ml"  # task template beats cluster default
    assert pod["metadata"]["labels"]["cost-center"] == "42"
    assert pod["spec"]["serviceAccountName"] == "runner"
    names = [e["name"] for e in primary(pod)["env"]]
    assert "CLUSTER" in names and "FROM_TEMPLATE" in names


def test_manifest_equals_the_sanitized_model_for_a_template_of_client_objects() -> None:
    @task(
        pod_template=TEMPLATE,
        accelerator="T4",
        env={"A": "1"},
        requests=Resources(cpu="1", mem="1Gi"),
        limits=Resources(mem="2Gi"),
        timeout=60,
    )
    def modelled(x: int) -> int:
        return x

    cluster = {"spec": {"hostNetwork": True, "nodeName": None}}  # nulls are dropped, as by models
    kw: dict[str, Any] = {
        "image": "a:1",
        "execution": EXECUTION.with_attempt(2),
        "bundle": BUNDLE,
        "spec_digest": "sha256:" + "cd" * 32,
        "options": RenderOptions(base_template=cluster, namespace="ns", extra_env={"B": "2"}),
    }
    manifest = render_manifest(modelled, **kw)
    model = render_pod(modelled, **kw)
    assert manifest == to_dict(model)
    assert "nodeName" not in manifest["spec"] and manifest["spec"]["hostNetwork"] is True
    kubernetes_validate.validate(manifest, K8S_VERSION, strict=True)
    # The model built back from the dict is the same pod.
    assert from_dict(manifest) == model
    # The helpers backends use read both shapes alike.
    as_dict, as_model = primary_container(manifest), primary_container(model)
    assert as_dict["args"] == as_model.args and as_dict["image"] == as_model.image == "a:1"
    assert container_env(as_dict) == container_env(as_model)
    assert container_env(as_dict)["PACK_ATTEMPT"] == "2"


def test_container_env_of_a_dict_skips_value_from_and_gives_strings() -> None:
    container = {
        "name": "primary",
        "env": [
            {"name": "N", "value": 1},
            {"name": "E"},
            {"name": "S", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}},
        ],
    }
    assert container_env(container) == {"N": "1", "E": ""}


def test_merge_pod_template_function_layers_pods() -> None:
    base = render_pod(plain, image="a:1", execution=EXECUTION)
    merged = merge_pod_template(base, PodTemplate(labels={"x": "y"}))
    assert merged == merge_pod_template(to_dict(base), PodTemplate(labels={"x": "y"}))
    kubernetes_validate.validate(merged, K8S_VERSION, strict=True)
    assert merged["metadata"]["labels"]["x"] == "y"
    assert merged["spec"]["containers"][0]["image"] == "a:1"


def test_long_task_names_give_valid_names_and_labels() -> None:
    def f(x: int) -> int:
        return x

    f.__name__ = "a_very_long_task_name_" * 5
    pod = rendered(task(f))
    assert len(pod["metadata"]["name"]) <= 63
    assert len(pod["metadata"]["labels"]["pack.dev/task"]) <= 63


# 1.25 is the oldest schema kubernetes-validate ships (the test cluster runs 1.20).
@pytest.mark.parametrize("version", ["1.25.0", K8S_VERSION])
def test_validates_against_old_and_new_schema(version: str) -> None:
    pod = render_pod(plain, image="a:1", execution=EXECUTION, bundle=BUNDLE)
    kubernetes_validate.validate(to_dict(pod), version, strict=True)


def test_configured_s3_endpoint_reaches_the_pod_env() -> None:
    pod = rendered(
        plain, bundle=BUNDLE, options=RenderOptions(s3_endpoint_url="http://s3.lan:9000")
    )
    assert container_env(primary(pod))["PACK_S3_ENDPOINT_URL"] == "http://s3.lan:9000"
    # Not configured: nothing is set, the pod's own boto3 settings decide.
    assert "PACK_S3_ENDPOINT_URL" not in container_env(primary(rendered(plain, bundle=BUNDLE)))


def test_configured_network_timeout_reaches_the_pod_env() -> None:
    pod = rendered(plain, bundle=BUNDLE, options=RenderOptions(network_timeout=2.5))
    assert container_env(primary(pod))["PACK_NETWORK_TIMEOUT"] == "2.5"
    assert "PACK_NETWORK_TIMEOUT" not in container_env(primary(rendered(plain, bundle=BUNDLE)))
