"""Ctrl-C and SIGTERM during `pack build` on the real engine and registry (issue 11.10):
one line, exit 130/143, the build cancelled (not left running in the engine), nothing
pushed or recorded, no temp folder left (TMPDIR of the test's own)."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from pack.imagespec.ref import ImageRef
from pack.imagespec.registry import RegistryClient

from .test_build import HOST_CA

pytestmark = pytest.mark.integration


def _processes_with(argv: list[str]) -> list[int]:
    wanted = "\0".join(argv).encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "cmdline").read_bytes().rstrip(b"\0") == wanted:
                    found.append(int(entry.name))
            except OSError:
                pass
    return found


def _stop(
    proc: subprocess.Popen[str], signum: int, started: Callable[[], bool], timeout: float
) -> str:
    """Once `started()`, Ctrl-C (SIGINT to the whole group, as a terminal sends it) or
    SIGTERM (to pack alone, as `timeout` does); the one `pack: ` line pack printed,
    after checking the exit code and that no traceback came with it."""
    try:
        assert _wait(started, timeout), "never got to the point to interrupt"
        time.sleep(1)
        if signum == signal.SIGINT:
            os.killpg(proc.pid, signal.SIGINT)
        else:
            proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 128 + signum, err
    assert "Traceback" not in err
    stops = [line for line in err.splitlines() if line.startswith("pack: ")]
    assert len(stops) == 1, err
    return stops[0]


def _wait(cond, timeout: float) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.1)
    return False


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_interrupted_build_is_cancelled_and_leaves_nothing(
    tmp_path: Path, docker_engine, registry, base_image: str, signum: int
) -> None:  # type: ignore[no-untyped-def]
    # A RUN step this test alone runs, so its process can be found in the engine.
    seconds = f"{random.randint(500, 900)}.{random.randint(100, 999)}"
    step = ["sleep", seconds]
    work = tmp_path / "project"
    work.mkdir()
    (work / "spec.py").write_text(
        "from pack import ImageSpec\n"
        f"app = ImageSpec(name='test/interrupt-{uuid.uuid4().hex[:10]}', "
        f"registry={registry.host!r}, base_image={base_image!r}, runtime=False, "
        f"commands=[{' '.join(step)!r}])\n"
    )
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = {
        **os.environ,
        "TMPDIR": str(tmp),
        "PACK_DOCKER_HOST": docker_engine.host,
        "PACK_DOCKER_CLI": docker_engine.cli,
        "PACK_BUILD_CA_BUNDLE": str(HOST_CA),
        "DOCKER_CONFIG": str(tmp_path / "no-docker-config"),
    }
    env.pop("PACK_BUILD_CACHE", None)
    pack = [sys.executable, "-m", "pack"]
    hashed = subprocess.run(
        [*pack, "hash", "-o", "json", "spec.py"], cwd=work, env=env, capture_output=True, text=True
    )
    ref = ImageRef.parse(json.loads(hashed.stdout)[0]["ref"])

    proc = subprocess.Popen(
        [*pack, "build", "spec.py"],
        cwd=work,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    line = _stop(proc, signum, lambda: bool(_processes_with(step)), 240)
    assert line == ("pack: interrupted" if signum == signal.SIGINT else "pack: terminated")
    assert _wait(lambda: not _processes_with(step), 60), "the build kept running in the engine"
    assert list(tmp.iterdir()) == []
    assert RegistryClient().exists(ref) is False
    record = Path(env["PACK_CACHE_DIR"]) / "image-record.json"
    assert not record.exists() or str(ref) not in record.read_text()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_interrupted_docker_run_removes_its_container(
    tmp_path: Path, registry, base_image: str, docker_engine, s3_env, signum: int
) -> None:  # type: ignore[no-untyped-def]
    from .test_remote_docker import PASS_ENV, make_project

    project = make_project(tmp_path, registry, base_image, docker_engine, s3_env, {})
    task = f"nap_{uuid.uuid4().hex[:8]}"
    with open(project.root / "wf.py", "a") as wf:
        wf.write(
            f"\n\n@task(image=image)\ndef {task}(x: int) -> int:\n"
            "    import time\n\n    print('napping', flush=True)\n    time.sleep(300)\n"
            "    return x\n"
        )
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    label = f"pack.dev/task={task}"

    def containers(*flags: str) -> list[str]:
        out = docker_engine.run("ps", *flags, "-q", "--filter", f"label={label}").stdout
        return out.split()

    proc = subprocess.Popen(
        [sys.executable, "-m", "pack", "run", "--copy", "all", "--backend", "docker"]
        + ["--store", project.store, *PASS_ENV, "wf.py", task, "--x", "1"],
        cwd=project.root,
        env={**project.env, "TMPDIR": str(tmp)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    line = _stop(proc, signum, lambda: bool(containers()), 600)
    assert line.startswith("pack: interrupted: stopped container")
    assert containers("-a") == []
    assert list(tmp.iterdir()) == []
