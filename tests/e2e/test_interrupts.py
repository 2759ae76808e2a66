"""Exit paths of real `pack` processes (issues 11.9, 11.10): success, failure, timeout,
Ctrl-C (SIGINT to the whole foreground process group, as a terminal sends it) and
SIGTERM (to pack alone, as `timeout` sends it). After each, the temp dir (TMPDIR, a
folder of the test's own) is empty, no task process is left, nothing half written is
visible in the store or the cache, and an interrupt is one line with exit 130/143."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

WF = """\
import os
import time
from pathlib import Path

from pack import task


@task
def work(marker: str, seconds: int) -> str:
    Path(marker).write_text(str(os.getpid()))
    time.sleep(seconds)
    return "done"


@task
def fails(marker: str) -> str:
    Path(marker).write_text(str(os.getpid()))
    raise ValueError("no luck")


@task(timeout=6)  # room for the interpreter and pack to start under load
def slow(marker: str) -> str:
    Path(marker).write_text(str(os.getpid()))
    time.sleep(60)
    return "never"
"""


@dataclass
class Env:
    root: Path
    tmp: Path  # TMPDIR of every process
    cache: Path
    store: Path
    marker: Path

    @property
    def vars(self) -> dict[str, str]:
        return {
            **os.environ,
            "TMPDIR": str(self.tmp),
            "PACK_CACHE_DIR": str(self.cache),
            "PACK_STORE": self.store.as_uri(),
        }

    def start(self, *args: str) -> subprocess.Popen[str]:
        # A session of its own: killpg stands for the terminal's Ctrl-C to the foreground job.
        return subprocess.Popen(
            [sys.executable, "-m", "pack", *args],
            cwd=self.root,
            env=self.vars,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )

    def leftovers(self) -> list[str]:
        """Temp files and folders: TMPDIR, the cache's own temp, store temp names."""
        found = [str(p) for p in self.tmp.iterdir()]
        found += [str(p) for p in (self.cache / "packager" / "tmp").glob("*")]
        if self.store.exists():
            found += [str(p) for p in self.store.rglob(".*") if p.is_file()]
        return found


@pytest.fixture()
def env(tmp_path: Path) -> Env:
    root = tmp_path / "proj"
    root.mkdir()
    (root / "wf.py").write_text(WF)
    made = Env(root, tmp_path / "tmp", tmp_path / "cache", tmp_path / "store", tmp_path / "pid")
    made.tmp.mkdir()
    return made


def wait_for(cond: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.02)


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def one_stop_line(err: str, expected: str) -> None:
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.strip()]
    stops = [line for line in lines if "interrupted" in line or "terminated" in line]
    assert len(stops) == 1 and stops[0].startswith(expected), err
    assert lines[-1] == stops[0], err


RUN = ("run", "--copy", "all", "wf.py")


@pytest.mark.parametrize(
    ("path", "task", "signum", "code", "line"),
    [
        ("success", "work", None, 0, None),
        ("failure", "fails", None, 1, None),
        ("timeout", "slow", None, 1, None),
        ("ctrl-c", "work", signal.SIGINT, 130, "pack: interrupted: stopped the task"),
        ("sigterm", "work", signal.SIGTERM, 143, "pack: interrupted: stopped the task"),
    ],
)
def test_a_run_leaves_no_temp_folder_and_no_process_on_any_exit_path(
    env: Env, path: str, task: str, signum: int | None, code: int, line: str | None
) -> None:
    seconds = ("--seconds", "60" if signum else "0") if task == "work" else ()
    proc = env.start(*RUN, task, "--marker", str(env.marker), *seconds)
    if signum is not None:
        wait_for(env.marker.exists)
        time.sleep(0.2)
        if signum == signal.SIGINT:
            os.killpg(proc.pid, signal.SIGINT)  # the terminal: pack and whatever shares its group
        else:
            proc.send_signal(signal.SIGTERM)  # `timeout`: pack alone
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == code, err
    if line is not None:
        one_stop_line(err, line)
    if path == "timeout":
        assert "longer than its timeout of 6s" in err
    assert env.leftovers() == []
    assert gone(int(env.marker.read_text()))


def _big_project(env: Env) -> None:
    data = env.root / "data"
    data.mkdir()
    for i in range(24):  # incompressible: archiving takes a while
        (data / f"blob{i}.bin").write_bytes(os.urandom(2 * 1024 * 1024))


def test_ctrl_c_while_packaging_leaves_nothing_half_written(env: Env) -> None:
    from pack.packager.extract import fetch_and_extract

    _big_project(env)
    tmp = env.cache / "packager" / "tmp"
    proc = env.start("package", "--copy", "all", "-o", "json")
    wait_for(lambda: tmp.is_dir() and any(tmp.iterdir()))  # the archive is being written
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    one_stop_line(err, "pack: interrupted")
    assert out == ""
    assert not (env.store / "bundles").exists() or list((env.store / "bundles").iterdir()) == []
    assert env.leftovers() == []
    for entry in (env.cache / "packager" / "statcache").glob("*"):
        json.loads(entry.read_text())  # a cache entry is whole or absent

    again = env.start("package", "--copy", "all", "-o", "json")
    out, err = again.communicate(timeout=120)
    assert again.returncode == 0, err
    bundle = json.loads(out)
    assert bundle["uploaded"] is True
    extracted = fetch_and_extract(bundle["url"], env.root.parent / "check" / "code")
    assert (extracted / "data" / "blob3.bin").stat().st_size == 2 * 1024 * 1024


def test_sigterm_while_packaging_is_one_line_and_143(env: Env) -> None:
    _big_project(env)
    tmp = env.cache / "packager" / "tmp"
    proc = env.start("package", "--copy", "all")
    wait_for(lambda: tmp.is_dir() and any(tmp.iterdir()))
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    one_stop_line(err, "pack: terminated")
    assert env.leftovers() == []


def _pod_command(env: Env, task: str, **inputs: object) -> list[str]:
    """The argv a pod of `task` would run (`pack-fast-execute ... -- pack-execute ...`),
    with its bundle and inputs in the test's file:// store."""
    from pack.config import Config
    from pack.launcher.backends.local import LocalBackend
    from pack.launcher.execution import Execution
    from pack.launcher.load import load_task
    from pack.launcher.podspec import BundleInfo, render_manifest
    from pack.launcher.run import input_literals
    from pack.packager.publish import package_and_publish
    from pack.packager.store import write_url

    config = Config(cache_dir=env.cache, store=env.store.as_uri())
    loaded, _ = load_task(env.root / "wf.py", task)
    ref = package_and_publish(env.root, "all", None, config.store_url, cache_dir=env.cache)
    assert ref is not None
    execution = Execution("rtest", "p", "d", config.store_url)
    write_url(execution.inputs_url, input_literals(loaded, inputs, execution).SerializeToString())
    pod = render_manifest(
        loaded, image="unused", execution=execution, bundle=BundleInfo(ref.url, str(ref.digest))
    )
    return LocalBackend(base_env={}).command(pod)


@pytest.mark.parametrize(
    ("task", "signum", "code"),
    [("work", None, 0), ("fails", None, 1), ("work", signal.SIGTERM, 143)],
)
def test_the_entrypoints_leave_no_temp_folder(
    env: Env, task: str, signum: int | None, code: int
) -> None:
    """pack-fast-execute + pack-execute as a pod runs them (no local backend around them
    to remove anything): success, a failing task, SIGTERM (a pod being deleted)."""
    inputs: dict[str, object] = {"marker": str(env.marker)}
    if task == "work":
        inputs["seconds"] = 60 if signum else 0
    argv = _pod_command(env, task, **inputs)
    cwd = env.root.parent / "container"
    cwd.mkdir()
    proc = subprocess.Popen(
        argv,
        cwd=cwd,
        env={**env.vars, "PYTHONPATH": ""},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    if signum is not None:
        wait_for(env.marker.exists)
        proc.send_signal(signum)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == code, err
    if signum is not None:
        one_stop_line(err, "pack-execute: terminated")
    assert list(env.tmp.iterdir()) == []
    assert sorted(p.name for p in cwd.iterdir()) == [".code.lock", "code"]


def _age(paths: list[str]) -> None:
    """Make leftovers older than the sweep's minimum age, as the next day's run finds them."""
    from pack.scratch import MIN_AGE

    old = time.time() - MIN_AGE - 5
    for path in paths:
        os.utime(path, (old, old), follow_symlinks=False)


def test_kill_9_while_packaging_leaves_an_archive_the_next_package_sweeps(env: Env) -> None:
    from pack.packager.extract import fetch_and_extract

    _big_project(env)
    tmp = env.cache / "packager" / "tmp"
    proc = env.start("package", "--copy", "all", "-o", "json")
    wait_for(lambda: tmp.is_dir() and any(tmp.iterdir()))  # the archive is being written
    os.kill(proc.pid, signal.SIGKILL)  # no cleanup runs
    proc.communicate(timeout=60)
    left = env.leftovers()
    assert [Path(p).name[:8] for p in left] == [".bundle-"]
    _age(left)
    again = env.start("package", "--copy", "all", "-o", "json")
    out, err = again.communicate(timeout=120)
    assert again.returncode == 0, err
    assert env.leftovers() == []
    fetch_and_extract(json.loads(out)["url"], env.root.parent / "check" / "code")


def test_kill_9_of_pack_run_leaves_a_folder_the_next_run_sweeps_once_its_task_ended(
    env: Env,
) -> None:
    proc = env.start(*RUN, "work", "--marker", str(env.marker), "--seconds", "6")
    wait_for(env.marker.exists)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=60)
    left = env.leftovers()
    assert len(left) == 1 and Path(left[0]).name.startswith("pack-r"), left
    _age(left)
    task = int(env.marker.read_text())
    assert not gone(task)  # the task outlived its client, in that folder:
    env.marker.unlink()
    during = env.start(*RUN, "work", "--marker", str(env.marker), "--seconds", "0")
    assert during.communicate(timeout=120) and during.returncode == 0
    assert Path(left[0]).is_dir()  # kept while its task runs
    wait_for(lambda: gone(task))
    after = env.start(*RUN, "work", "--marker", str(env.marker), "--seconds", "0")
    assert after.communicate(timeout=120) and after.returncode == 0
    assert env.leftovers() == []
