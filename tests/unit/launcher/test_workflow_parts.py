"""The pure parts of workflows: argument binding, map elements, cache keys, child pod layers,
the driver spec, RBAC manifests, task options."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from pack import File, ShellTask, map_task, task, workflow
from pack.errors import ObjectNotFound, TaskError
from pack.launcher.workflow.binding import bind, elements
from pack.launcher.workflow.cache import cache_key, image_identity
from pack.launcher.workflow.driver import OwnPod, child_template
from pack.launcher.workflow.rbac import rbac_manifests
from pack.launcher.workflow.spec import DriverSpec, ImagePin, read_spec


@task
def add(a: int, b: int = 2) -> int:
    return a + b


@task
def total(xs: list[int], scale: int = 1) -> int:
    return sum(xs) * scale


@task(cache=True, cache_version="1")
def cached(a: int) -> int:
    return a


@task
def fit(data: list[list[float]], fold: int) -> float:
    return data[fold][0]


def test_bind_applies_defaults_and_names_the_task_on_bad_arguments() -> None:
    assert bind(add, (1,), {}) == {"a": 1, "b": 2}
    assert bind(add, (), {"a": 1, "b": 5}) == {"a": 1, "b": 5}
    with pytest.raises(TaskError, match=r"add\(\): missing a required argument: 'a'"):
        bind(add, (), {})
    with pytest.raises(TaskError, match=r"add\(\): got an unexpected keyword argument 'c'"):
        bind(add, (1,), {"c": 3})


def test_map_elements_zip_lists_and_broadcast_scalars() -> None:
    assert elements(add, (), {"a": [1, 2, 3], "b": 10}) == [
        {"a": 1, "b": 10},
        {"a": 2, "b": 10},
        {"a": 3, "b": 10},
    ]
    assert elements(add, ([1, 2], [3, 4]), {}) == [{"a": 1, "b": 3}, {"a": 2, "b": 4}]
    # A list parameter takes a list as one value (broadcast) unless given a list of lists.
    assert elements(total, ([[1], [2, 3]],), {"scale": [1, 2]}) == [
        {"xs": [1], "scale": 1},
        {"xs": [2, 3], "scale": 2},
    ]
    assert elements(total, ([1, 2],), {"scale": [1, 2, 3]}) == [
        {"xs": [1, 2], "scale": s} for s in (1, 2, 3)
    ]
    # Rows of a table stay one value for a list[list[float]] parameter.
    table = [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]
    assert elements(fit, (table,), {"fold": [0, 1]}) == [
        {"data": table, "fold": 0},
        {"data": table, "fold": 1},
    ]
    with pytest.raises(TaskError, match=r"mapped lists differ in length \(a=2, b=3\)"):
        elements(add, (), {"a": [1, 2], "b": [1, 2, 3]})
    with pytest.raises(TaskError, match="no argument is a list to map over"):
        elements(add, (1,), {})


def test_map_task_checks_its_options() -> None:
    with pytest.raises(TaskError, match="concurrency 0 must be a whole number >= 1"):
        map_task(add, concurrency=0)
    with pytest.raises(TaskError, match="min_success_ratio 1.5 must be a number from 0 to 1"):
        map_task(add, min_success_ratio=1.5)

    @workflow
    def wf() -> int:
        return 1

    with pytest.raises(TaskError, match="expected a @task"):
        map_task(wf)


def test_map_task_outside_a_driver_runs_in_process_with_the_same_rules() -> None:
    @task
    def inv(x: int) -> float:
        return 1 / x

    assert map_task(inv, min_success_ratio=0.5)(x=[1, 0, 2]) == [1.0, None, 0.5]
    with pytest.raises(Exception, match=r"inv\[1\] failed: ZeroDivisionError: division by zero"):
        map_task(inv)(x=[1, 0, 2])


def test_workflow_and_task_calls_outside_a_driver_are_plain_calls() -> None:
    @workflow
    def wf(n: int) -> int:
        return add(n, 1) + sum(map_task(add)(a=[n, n]))

    assert wf(1) == 2 + 6
    assert wf.is_workflow and not add.is_workflow


def test_decorators_refuse_unknown_and_inconsistent_options() -> None:
    with pytest.raises(TaskError, match="@task: unknown option 'cache_verison'"):
        task(cache_verison="1")
    with pytest.raises(TaskError, match="@workflow: unknown option 'cache'"):
        workflow(cache=True)

    def one(x: int) -> int:
        return x

    with pytest.raises(TaskError, match="cache_version='2' without cache=True"):
        task(cache_version="2")(one)


def _literals(**values: int):  # type: ignore[no-untyped-def]
    from pack.launcher.types.engine import TypeContext, default_engine

    return default_engine().to_literal_map(values, {k: int for k in values}, TypeContext())


def test_cache_key_covers_task_interface_version_image_and_inputs() -> None:
    base = cache_key(cached, "r/img@sha256:aa", _literals(a=1))
    assert base == cache_key(cached, "r/img@sha256:aa", _literals(a=1))
    assert base != cache_key(cached, "r/img@sha256:bb", _literals(a=1))  # image digest
    assert base != cache_key(cached, "r/img@sha256:aa", _literals(a=2))  # inputs
    # The same digest under another repository name is the same image.
    assert base == cache_key(cached, "other/repo@sha256:aa", _literals(a=1))

    def cached_v2(a: int) -> int:
        return a

    def cached_str(a: int) -> str:
        return str(a)

    for other in (
        task(cache=True, cache_version="2")(cached_v2),  # another version
        task(cache=True, cache_version="1")(cached_str),  # another interface
    ):
        other.name = "cached"  # the same module.name as the original
        assert base != cache_key(other, "r/img@sha256:aa", _literals(a=1))
    assert image_identity("r/img:tag") == "r/img:tag"


SPEC = DriverSpec(
    root="rroot",
    backend="kubernetes",
    store_url="s3://b/p",
    namespace="team",
    images={"wf.add": ImagePin("r/img@sha256:aa", "sha256:" + "a" * 64)},
    pod_template={"spec": {"hostNetwork": True, "serviceAccountName": "pack-driver"}},
    pass_env=("AWS_SECRET_ACCESS_KEY",),
    env_from_secret=("extra",),
)


def test_driver_spec_round_trips_and_refuses_what_it_cannot_read() -> None:
    again = DriverSpec.from_json(SPEC.to_json(), "x")
    assert again == SPEC
    assert again.url == "s3://b/p/runs/rroot/driver.json"
    assert b"AWS_SECRET_ACCESS_KEY" in SPEC.to_json()  # the name, never a value
    with pytest.raises(Exception, match="driver spec x is not readable"):
        DriverSpec.from_json(b'{"format": 99}', "x")


def test_driver_spec_written_after_the_pod_started_is_waited_for(tmp_path: Path) -> None:
    """The client may create a pod before its driver.json is in the store."""
    url = (tmp_path / "driver.json").as_uri()

    def write() -> None:
        time.sleep(0.3)
        (tmp_path / "tmp.json").write_bytes(SPEC.to_json())
        os.replace(tmp_path / "tmp.json", tmp_path / "driver.json")

    writer = threading.Thread(target=write)
    writer.start()
    try:
        assert read_spec(url, wait=30) == SPEC
    finally:
        writer.join()
    missing = (tmp_path / "never.json").as_uri()
    with pytest.raises(ObjectNotFound, match=f"not found: {missing} \\(waited 0.2 s"):
        read_spec(missing, wait=0.2)


def test_kubernetes_children_read_credentials_from_the_secret_and_name_their_owner() -> None:
    layer = child_template(
        SPEC,
        parent="rparent",
        primary="primary",
        environ={"AWS_SECRET_ACCESS_KEY": "s3cr3t"},
        own_pod=OwnPod("driver-pod", "uid-1"),
        secret="rroot-pass-env",
    )
    assert "s3cr3t" not in repr(layer)
    meta = layer["metadata"]
    assert meta["labels"] == {
        "pack.dev/root-execution": "rroot",
        "pack.dev/parent-execution": "rparent",
    }
    assert meta["ownerReferences"] == [
        {"apiVersion": "v1", "kind": "Pod", "name": "driver-pod", "uid": "uid-1"}
    ]
    spec = layer["spec"]
    assert spec["hostNetwork"] is True and spec["serviceAccountName"] == "pack-driver"
    (container,) = spec["containers"]
    env = {e["name"]: e for e in container["env"]}
    assert env["AWS_SECRET_ACCESS_KEY"]["valueFrom"] == {
        "secretKeyRef": {"name": "rroot-pass-env", "key": "AWS_SECRET_ACCESS_KEY"}
    }
    assert env["PACK_PASS_ENV_SECRET"]["value"] == "rroot-pass-env"
    assert env["PACK_POD_UID"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.uid"}}
    assert container["envFrom"] == [{"secretRef": {"name": "extra"}}]

    with pytest.raises(Exception, match="knows no Secret holding them"):
        child_template(SPEC, parent="p", primary="primary", environ={}, own_pod=None, secret=None)


def test_local_children_get_the_values_from_the_drivers_environment() -> None:
    from dataclasses import replace

    local = replace(SPEC, backend="local", env_from_secret=())
    layer = child_template(
        local,
        parent="p",
        primary="primary",
        environ={"AWS_SECRET_ACCESS_KEY": "v"},
        own_pod=None,
        secret=None,
    )
    (container,) = layer["spec"]["containers"]
    assert {"name": "AWS_SECRET_ACCESS_KEY", "value": "v"} in container["env"]
    assert "ownerReferences" not in layer["metadata"]


def test_rbac_is_pods_and_their_logs_in_one_namespace() -> None:
    account, role, binding = rbac_manifests("team", "drv")
    assert account["kind"] == "ServiceAccount" and account["metadata"]["namespace"] == "team"
    resources = {r for rule in role["rules"] for r in rule["resources"]}
    assert resources == {"pods", "pods/log"}  # no secrets: children reuse the run's
    assert binding["roleRef"]["name"] == "drv"
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "drv", "namespace": "team"}]


def test_shell_task_checks_its_script_against_its_declarations() -> None:
    with pytest.raises(TaskError, match=r"uses \{inputs.y\} but inputs declares only x"):
        ShellTask(name="t", script="echo {inputs.y}", inputs={"x": int})
    with pytest.raises(TaskError, match="outputs 'o' has type list"):
        ShellTask(name="t", script="true", outputs={"o": list})
    t = ShellTask(
        name="t", script="echo {inputs.x} > {outputs.o}", inputs={"x": int}, outputs={"o": File}
    )
    assert t.interface.outputs == {"o": File} and t.module == __name__
