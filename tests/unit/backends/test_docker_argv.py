"""The docker backend's pure parts: pod → `docker create` argv, and container state → outcome."""

from __future__ import annotations

from typing import Any

import pytest

from pack.errors import LaunchError, TaskError
from pack.launcher.backends.docker import _timestamp, docker_outcome, docker_run_argv
from pack.launcher.execution import Execution
from pack.launcher.podspec import (
    BundleInfo,
    PodTemplate,
    RenderOptions,
    from_dict,
    render_manifest,
)
from pack.launcher.resources import Resources, quantity_value
from pack.launcher.task import task

IMAGE = "127.0.0.1:5000/pack/t@sha256:" + "ab" * 32
EXECUTION = Execution("rdock1", "proj", "dev", "file:///var/store")
BUNDLE = BundleInfo("file:///var/store/bundles/x.tar.zst", "sha256:" + "cd" * 32)


@task(limits=Resources(cpu="500m", mem="1Gi"), env={"A": "1"}, timeout=30)
def limited(x: int) -> int:
    return x


def argv_for(t: Any = limited, *, model: bool = False, **kw: Any) -> Any:
    """The argv for the manifest dict the run pipeline sends (or, with `model`, its V1Pod)."""
    pod: Any = render_manifest(
        t,
        image=IMAGE,
        execution=EXECUTION,
        bundle=BUNDLE,
        options=kw.pop("options", RenderOptions()),
    )
    if model:
        pod = from_dict(pod)
    kw.setdefault("host_network", True)
    kw.setdefault("gpu_runtime", False)
    return docker_run_argv(pod, name="limited-rdock1-1", store_urls=[EXECUTION.store_url], **kw)


def flag(argv: list[str], name: str) -> list[str]:
    return [argv[i + 1] for i, a in enumerate(argv) if a == name]


def test_same_image_args_env_and_limits_as_the_pod() -> None:
    run = argv_for()
    argv = run.argv
    assert argv[:3] == ["create", "--name", "limited-rdock1-1"]
    image_at = argv.index(IMAGE)
    assert argv[image_at + 1] == "pack-fast-execute"
    assert BUNDLE.url in argv[image_at:]
    assert flag(argv, "--cpus") == ["0.5"]
    assert flag(argv, "--memory") == [str(1024**3)]
    assert flag(argv, "--memory-swap") == [str(1024**3)]
    assert flag(argv, "--network") == ["host"]
    assert flag(argv, "-w") == ["/tmp/pack"]
    assert run.env["A"] == "1" and run.env["PACK_EXECUTION_ID"] == "rdock1"
    assert run.env["PACK_ATTEMPT"] == "1"
    assert run.timeout_seconds == 30 and run.memory_limit == "1Gi"
    assert "pack.dev/execution-id=rdock1" in flag(argv, "--label")


def test_env_values_never_reach_the_command_line() -> None:
    @task(env={"TOKEN": "hunter2"})
    def secretive(x: int) -> int:
        return x

    run = argv_for(secretive)
    assert run.env["TOKEN"] == "hunter2"
    assert not any("hunter2" in a for a in run.argv)
    assert flag(run.argv, "--env-file") == ["ENV_FILE"]


def test_file_store_is_mounted_at_the_same_path() -> None:
    assert "/var/store:/var/store" in flag(argv_for().argv, "-v")


def test_bridge_engine_keeps_its_network_unless_the_pod_wants_the_host() -> None:
    assert flag(argv_for(host_network=False).argv, "--network") == []
    host = RenderOptions(base_template={"spec": {"hostNetwork": True}})
    assert flag(argv_for(host_network=False, options=host).argv, "--network") == ["host"]


def test_gpus_need_the_nvidia_runtime() -> None:
    @task(limits=Resources(gpu=2))
    def gpu(x: int) -> int:
        return x

    with pytest.raises(LaunchError, match="2 GPU"):
        argv_for(gpu)
    assert flag(argv_for(gpu, gpu_runtime=True).argv, "--gpus") == ["2"]


def test_kubernetes_only_env_sources_are_refused_with_the_alternative() -> None:
    secret = RenderOptions(
        base_template={
            "spec": {
                "containers": [{"name": "primary", "envFrom": [{"secretRef": {"name": "s3"}}]}]
            }
        }
    )
    with pytest.raises(LaunchError, match="--pass-env"):
        argv_for(options=secret)


def test_unsupported_volume_is_named() -> None:
    @task(
        pod_template=PodTemplate(
            pod_spec={
                "containers": [
                    {"name": "primary", "volumeMounts": [{"name": "cfg", "mountPath": "/cfg"}]}
                ],
                "volumes": [{"name": "cfg", "configMap": {"name": "c"}}],
            }
        )
    )
    def withvol(x: int) -> int:
        return x

    with pytest.raises(LaunchError, match="'cfg'"):
        argv_for(withvol)


MOUNTED = PodTemplate(
    pod_spec={
        "containers": [
            {
                "name": "primary",
                "command": ["/bin/entry", "--flag"],
                "volumeMounts": [
                    {"name": "data", "mountPath": "/data", "readOnly": True},
                    {"name": "scratch", "mountPath": "/scratch"},
                ],
            }
        ],
        "volumes": [
            {"name": "data", "hostPath": {"path": "/srv/data"}},
            {"name": "scratch", "emptyDir": {}},
        ],
    }
)


@pytest.mark.parametrize("model", [False, True], ids=["manifest", "V1Pod"])
def test_volumes_and_command_from_a_template(model: bool) -> None:
    @task(pod_template=MOUNTED, limits=Resources(cpu="1.5", mem="300M"))
    def mounted(x: int) -> int:
        return x

    run = argv_for(mounted, model=model)
    assert flag(run.argv, "-v")[:2] == ["/srv/data:/data:ro", "/scratch"]
    assert flag(run.argv, "--entrypoint") == ["/bin/entry"]
    image_at = run.argv.index(IMAGE)
    assert run.argv[image_at + 1 : image_at + 3] == ["--flag", "pack-fast-execute"]
    assert flag(run.argv, "--cpus") == ["1.5"] and flag(run.argv, "--memory") == ["300000000"]


def test_a_manifest_and_its_v1pod_give_the_same_docker_run() -> None:
    for t in (limited, secretive_task()):
        assert argv_for(t) == argv_for(t, model=True)


def secretive_task() -> Any:
    @task(env={"TOKEN": "x"}, requests=Resources(cpu="250m"), timeout=5)
    def other(x: int) -> int:
        return x

    return other


@pytest.mark.parametrize(
    "text", ["500m", "1", "1.5", "2Gi", "512Mi", "1Ki", "300M", "10G", "1e3", "1E-3", "100u", "7n"]
)
def test_quantities_parse_as_the_kubernetes_client_does(text: str) -> None:
    from kubernetes.utils.quantity import parse_quantity

    assert quantity_value("limits.cpu", text) == parse_quantity(text)


def _with_limits(limits: dict[str, str]) -> Any:
    """A rendered pod whose limits were set as a pod template sets them (not through Resources)."""
    pod = render_manifest(limited, image=IMAGE, execution=EXECUTION, bundle=BUNDLE)
    pod["spec"]["containers"][0]["resources"] = {"limits": limits}
    return pod


@pytest.mark.parametrize(
    "text", ["500m", "2", "1.", ".5", "512Mi", "1e3", "-1", "+2", " 2", "2 GB", "2Gb", "", "1 "]
)
def test_the_docker_backend_accepts_exactly_the_quantities_resources_accept(text: str) -> None:
    """One parser: a pod template's limits are read as Resources reads a task's."""
    try:
        Resources(cpu=text, mem=text)
        accepted = True
    except TaskError:
        accepted = False
    pod = _with_limits({"cpu": text, "memory": text})
    if accepted:
        argv = docker_run_argv(pod, name="n", host_network=True, gpu_runtime=False).argv
        expected = quantity_value("limits.cpu", text)
        assert argv[argv.index("--cpus") + 1] == format(expected.normalize(), "f")
        assert argv[argv.index("--memory") + 1] == str(int(expected))
    else:
        with pytest.raises(TaskError, match="limits.cpu"):
            docker_run_argv(pod, name="n", host_network=True, gpu_runtime=False)


def test_a_bad_quantity_is_an_error_naming_it() -> None:
    pod = _with_limits({"memory": "2 GB"})
    with pytest.raises(TaskError, match="limits.memory: '2 GB'") as info:
        docker_run_argv(pod, name="n", host_network=True, gpu_runtime=False)
    assert info.value.hint == "use 2G or 2Gi"


def test_outcomes() -> None:
    ok = docker_outcome(
        {"Status": "exited", "ExitCode": 0}, memory_limit=None, timed_out=False, timeout=None
    )
    assert ok[0] == "Succeeded"
    oom = docker_outcome(
        {"Status": "exited", "ExitCode": 137, "OOMKilled": True},
        memory_limit="64Mi",
        timed_out=False,
        timeout=None,
    )
    assert oom[:2] == ("Failed", "OOMKilled") and "64Mi" in (oom[2] or "")
    late = docker_outcome(
        {"Status": "exited", "ExitCode": 137}, memory_limit=None, timed_out=True, timeout=5
    )
    assert late[1] == "DeadlineExceeded" and "5 s" in (late[2] or "")
    err = docker_outcome(
        {"Status": "exited", "ExitCode": 2}, memory_limit=None, timed_out=False, timeout=None
    )
    assert err[:2] == ("Failed", "Error") and "code 2" in (err[2] or "")
    running = docker_outcome(
        {"Status": "running"}, memory_limit=None, timed_out=False, timeout=None
    )
    assert running[0] == "Running"


def test_timestamps() -> None:
    assert _timestamp("1970-01-01T00:00:01.500000000Z") == 1.5
    assert _timestamp("0001-01-01T00:00:00Z") is None
    assert _timestamp("") is None


FAKE_DOCKER = """\
#!{python}
import json, os, stat, sys
args = sys.argv[1:]
if args[:1] == ["-H"]:
    args = args[2:]
record = {{"args": args}}
taken = {log!r} + ".taken"  # a container of this name exists
if args[0] == "create":
    path = args[args.index("--env-file") + 1]
    record["env_file"] = path
    record["mode"] = stat.S_IMODE(os.stat(path).st_mode)
    record["content"] = open(path).read()
with open({log!r}, "a") as log:
    log.write(json.dumps(record) + "\\n")
if args[0] == "info":
    print("{{}}")
if args[0] == "rm" and os.path.exists(taken):
    os.remove(taken)
if args[0] == "create":
    if os.path.exists(taken):
        sys.stderr.write('Error response from daemon: Conflict. The container name is already in use\\n')
        sys.exit(1)
    open(taken, "w").close()
"""


def test_env_values_go_through_a_private_env_file_removed_after_create(tmp_path: Any) -> None:
    import json
    import os
    import sys

    from pack.launcher.backends.docker import DockerBackend
    from pack.launcher.credentials import credentials_manifest, pod_credentials

    log = tmp_path / "calls.jsonl"
    cli = tmp_path / "docker"
    cli.write_text(FAKE_DOCKER.format(python=sys.executable, log=str(log)))
    cli.chmod(0o755)
    secret = "s3cr3t-never-on-a-command-line"
    base = credentials_manifest(
        pod_credentials(["AWS_SECRET_ACCESS_KEY"], [], {"AWS_SECRET_ACCESS_KEY": secret}),
        "primary",
    )
    pod = render_manifest(
        limited, image=IMAGE, execution=EXECUTION, options=RenderOptions(base_template=base)
    )
    DockerBackend(cli=str(cli))._create(pod, EXECUTION, "c1")
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    (create,) = [c for c in calls if c["args"][0] == "create"]
    assert create["mode"] == 0o600
    assert f"AWS_SECRET_ACCESS_KEY={secret}\n" in create["content"]
    assert not os.path.exists(create["env_file"])  # removed once the container exists
    assert not any(secret in arg for c in calls for arg in c["args"])


def _fake_cli(tmp_path: Any) -> tuple[Any, Any]:
    import sys

    log = tmp_path / "calls.jsonl"
    cli = tmp_path / "docker"
    cli.write_text(FAKE_DOCKER.format(python=sys.executable, log=str(log)))
    cli.chmod(0o755)
    return cli, log


def _calls(log: Any) -> list[list[str]]:
    import json

    return [json.loads(line)["args"] for line in log.read_text().splitlines()]


def test_create_removes_nothing_unless_a_container_of_that_name_is_in_the_way(
    tmp_path: Any,
) -> None:
    from pack.launcher.backends.docker import DockerBackend

    cli, log = _fake_cli(tmp_path)
    pod = render_manifest(limited, image=IMAGE, execution=EXECUTION)
    backend = DockerBackend(cli=str(cli))
    backend._create(pod, EXECUTION, "c1")
    first = [c[0] for c in _calls(log)]
    assert "rm" not in first and first.count("create") == 1
    assert {"network", "info", "image"} <= set(first)  # engine and image asked first

    log.write_text("")
    backend._create(pod, EXECUTION, "c1")  # the name is taken now
    again = _calls(log)
    assert [c[0] for c in again] == ["image", "create", "rm", "create"]  # engine asked once
    assert again[2] == ["rm", "-f", "-v", "c1"]


def test_a_create_that_fails_otherwise_is_one_line_naming_the_engine(tmp_path: Any) -> None:
    import sys

    from pack.launcher.backends.docker import DockerBackend

    cli = tmp_path / "docker"
    cli.write_text(
        f"#!{sys.executable}\nimport sys\n"
        "if 'create' in sys.argv:\n"
        "    sys.stderr.write('Error response from daemon: no such image\\n'); sys.exit(1)\n"
    )
    cli.chmod(0o755)
    pod = render_manifest(limited, image=IMAGE, execution=EXECUTION)
    with pytest.raises(
        LaunchError, match=r"^docker create failed on the default engine: .*no such image"
    ):
        DockerBackend(cli=str(cli))._create(pod, EXECUTION, "c2")
