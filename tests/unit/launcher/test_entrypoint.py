from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from pack.errors import ArchiveError
from pack.launcher.entrypoint import MARKER, ensure_bundle, user_traceback
from pack.packager.treedigest import TreeRecord, tree_digest

WF = "x = 1\n"
# A bundle URL is named by the tree digest of what it holds: here, wf.py holding WF.
URL = "file:///store/bundles/{}.tar.zst".format(
    tree_digest([TreeRecord("wf.py", "file", False, hashlib.sha256(WF.encode()).hexdigest())]).hex
)


def fake_fetch(calls: list[str], fail_times: int = 0):  # type: ignore[no-untyped-def]
    def fetch(url: str, dest: Path) -> None:
        calls.append(url)
        if len(calls) <= fail_times:
            raise OSError("connection reset")
        dest.mkdir()
        (dest / "wf.py").write_text(WF)

    return fetch


def test_extracts_once_across_concurrent_callers(tmp_path: Path) -> None:
    calls: list[str] = []
    dest = tmp_path / "code"
    threads = [
        threading.Thread(
            target=ensure_bundle, args=(URL, dest), kwargs={"fetch": fake_fetch(calls)}
        )
        for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert calls == [URL]
    assert (dest / MARKER).read_text() == URL
    assert (dest / "wf.py").is_file()


@pytest.mark.parametrize(
    "plant",
    [
        pytest.param({"wf.py": "import os; os.system('evil')\n"}, id="changed-file"),
        pytest.param({"wf.py": WF, "sitecustomize.py": "evil = 1\n"}, id="extra-file"),
        pytest.param({"wf.py": WF, "json/__init__.py": "evil = 1\n"}, id="extra-package"),
        pytest.param({"wf.py": WF, "empty/": ""}, id="extra-folder"),
        pytest.param({"wf.py": WF, "wf.py!x": ""}, id="exec-bit"),
        pytest.param({"other.py": WF}, id="renamed"),
    ],
)
def test_planted_destination_with_marker_is_not_trusted(
    tmp_path: Path, plant: dict[str, str]
) -> None:
    """A destination + marker already in place (from the image, a shared volume) is
    verified against the bundle's digest, not believed (issue 15.8)."""
    dest = tmp_path / "code"
    dest.mkdir()
    for name, text in plant.items():
        if name.endswith("/"):
            (dest / name).mkdir()
        elif name.endswith("!x"):
            (dest / name[:-2]).chmod(0o755)
        else:
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            (dest / name).write_text(text)
    (dest / MARKER).write_text(URL)
    calls: list[str] = []
    assert ensure_bundle(URL, dest, fetch=fake_fetch(calls)) is True
    assert calls == [URL]
    assert sorted(p.name for p in dest.iterdir()) == [MARKER, "wf.py"]
    assert (dest / "wf.py").read_text() == WF and not os.access(dest / "wf.py", os.X_OK)
    # What was extracted here and verified is reused.
    assert ensure_bundle(URL, dest, fetch=fake_fetch(calls)) is False and calls == [URL]


def test_destination_without_a_digest_in_its_url_is_never_reused(tmp_path: Path) -> None:
    calls: list[str] = []
    dest = tmp_path / "code"
    assert ensure_bundle("file:///b", dest, fetch=fake_fetch(calls))
    assert ensure_bundle("file:///b", dest, fetch=fake_fetch(calls))
    assert calls == ["file:///b", "file:///b"]


def test_retries_with_backoff_then_gives_up_on_bad_archives(tmp_path: Path) -> None:
    calls: list[str] = []
    sleeps: list[float] = []
    assert ensure_bundle("u", tmp_path / "c", fetch=fake_fetch(calls, 2), sleep=sleeps.append)
    assert len(calls) == 3 and sleeps == [0.5, 1.0]

    def bad(url: str, dest: Path) -> None:
        raise ArchiveError("digest mismatch")

    with pytest.raises(ArchiveError):
        ensure_bundle("v", tmp_path / "d", fetch=bad, sleep=sleeps.append)
    assert sleeps == [0.5, 1.0]  # verification failures are not retried


def test_incomplete_destination_is_replaced(tmp_path: Path) -> None:
    dest = tmp_path / "code"
    dest.mkdir()
    (dest / "stale.py").write_text("")
    calls: list[str] = []
    assert ensure_bundle("u", dest, fetch=fake_fetch(calls))
    assert not (dest / "stale.py").exists()


def test_user_traceback_drops_pack_frames() -> None:
    from pack.launcher.task import task

    @task
    def fails(n: int) -> int:
        raise RuntimeError(f"bad {n}")

    try:
        fails(3)
    except RuntimeError as exc:
        text = user_traceback(exc)
    assert "RuntimeError: bad 3" in text
    assert "test_entrypoint.py" in text
    assert "pack/launcher/task.py" not in text


def test_execute_usage_errors_exit_nonzero() -> None:
    r = subprocess.run(
        [sys.executable, "-m", "pack.launcher.entrypoint", "pack-execute", "--inputs", "x"],
        capture_output=True,
        text=True,
    )
    assert r.returncode != 0 and "pack-execute: error" in r.stderr


BIN = "/opt/pack/venv/bin"
SCRIPT = [f"{BIN}/pack-execute", "--inputs", "s3://b/i.pb"]


@pytest.mark.parametrize(
    ("cmd", "program", "bundle", "path0", "expected"),
    [
        (["pack-execute"], SCRIPT, {"wf", "assets"}, [BIN], True),
        # a bundle module named like one already loaded: a new interpreter would import it
        (["pack-execute"], SCRIPT, {"wf", "json"}, [BIN], False),
        (["pack-execute"], SCRIPT, {"wf", "botocore"}, [BIN], False),
        # started at interpreter start in a new process
        (["pack-execute"], SCRIPT, {"wf", "sitecustomize"}, [BIN], False),
        # sys.path[0] would differ
        (["pack-execute"], SCRIPT, {"wf"}, ["/tmp/pack"], False),
        (
            ["pack-execute"],
            [sys.executable, "-m", "pack.launcher.entrypoint"],
            {"wf"},
            [BIN],
            False,
        ),
        # not pack's own entrypoint, or the bundle could not be listed
        (["python3", "x.py"], ["python3", "x.py"], {"wf"}, [BIN], False),
        (["pack-execute"], SCRIPT, {"?"}, [BIN], False),
    ],
)
def test_pack_execute_continues_in_process_only_when_nothing_could_differ(
    cmd: list[str], program: list[str], bundle: set[str], path0: list[str], expected: bool
) -> None:
    from pack.launcher.entrypoint import continues_here

    loaded = {"json", "json.decoder", "botocore.session", "os", "sys"}
    assert continues_here(cmd, program, bundle, loaded, path0) is expected


def _execute_argv(store: Path, module: str, name: str) -> list[str]:
    """pack-execute's arguments for task `module.name`, inputs and outputs in `store`."""
    return [
        "--inputs", (store / "inputs.pb").as_uri(),
        "--output-prefix", (store / "out").as_uri(),
        "--raw-output-data-prefix", (store / "raw").as_uri(),
        "--", "task-module", module, "task-name", name,
    ]  # fmt: skip


def _pack_execute(
    tmp_path: Path, source: str, name: str, n: int, env: dict[str, str]
) -> tuple[subprocess.CompletedProcess[str], Path]:
    """`python -m pack.launcher.entrypoint pack-execute` of task `name` in module `source`
    (as `<name>_mod`) with input n, against a file:// store: the process and the store."""
    from pack.launcher.types.engine import TypeContext, default_engine

    module = f"{name}_mod"
    (tmp_path / f"{module}.py").write_text(source)
    store = tmp_path / "store"
    store.mkdir()
    inputs = default_engine().to_literal_map({"n": n}, {"n": int}, TypeContext())
    (store / "inputs.pb").write_bytes(inputs.SerializeToString())
    r = subprocess.run(
        [sys.executable, "-m", "pack.launcher.entrypoint", "pack-execute",
         *_execute_argv(store, module, name)],
        env={**os.environ, "PYTHONPATH": str(tmp_path), **env},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    return r, store


LATE_TASK = """\
from pack import task


@task
def double(n: int) -> int:
    return 2 * n
"""


def _late_inputs_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, wait: float, delay: float | None
):  # type: ignore[no-untyped-def]
    """pack-execute of `double` in this process against a file:// store whose inputs.pb
    is written `delay` seconds after it started (None: never)."""
    from flyteidl.core.literals_pb2 import LiteralMap

    from pack.launcher.entrypoint import execute_status
    from pack.launcher.types.engine import TypeContext, default_engine

    module = f"late_inputs_{tmp_path.name.replace('-', '_')}"
    (tmp_path / f"{module}.py").write_text(LATE_TASK)
    monkeypatch.syspath_prepend(str(tmp_path))
    store = tmp_path / "store"
    store.mkdir()
    inputs = default_engine().to_literal_map({"n": 21}, {"n": int}, TypeContext())
    writer = None
    if delay is not None:

        def write() -> None:
            time.sleep(delay)
            (store / "inputs.pb.tmp").write_bytes(inputs.SerializeToString())
            os.replace(store / "inputs.pb.tmp", store / "inputs.pb")

        writer = threading.Thread(target=write)
        writer.start()
    shown: list[str] = []
    try:
        argv = _execute_argv(store, module, "double")
        code = execute_status(argv, {}, echo=shown.append, inputs_wait=wait)
    finally:
        if writer is not None:
            writer.join()
    return code, store / "out", "".join(shown), LiteralMap


def test_pack_execute_waits_for_inputs_written_after_it_started(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, shown, literal_map = _late_inputs_run(tmp_path, monkeypatch, wait=30, delay=0.4)
    assert code == 0, shown
    outputs = literal_map.FromString((out / "outputs.pb").read_bytes())
    assert outputs.literals["o0"].scalar.primitive.integer == 42
    assert not (out / "errors.pb").exists()
    # timings.json says when the inputs were there: after they were written.
    marks = json.loads((out / "timings.json").read_text())
    assert marks["inputs_read"] >= (tmp_path / "store" / "inputs.pb").stat().st_mtime
    assert marks["inputs_read"] <= marks["task_start"]


def test_pack_execute_gives_up_on_inputs_that_never_come_with_a_system_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flyteidl.core import errors_pb2, execution_pb2

    from pack.launcher.entrypoint import EXIT_SYSTEM

    code, out, shown, _ = _late_inputs_run(tmp_path, monkeypatch, wait=0.3, delay=None)
    assert code == EXIT_SYSTEM
    assert not (out / "outputs.pb").exists()
    error = errors_pb2.ErrorDocument.FromString((out / "errors.pb").read_bytes()).error
    assert error.origin == execution_pb2.ExecutionError.SYSTEM
    first = error.message.splitlines()[0]
    url = (tmp_path / "store" / "inputs.pb").as_uri()
    assert (
        first == f"pack could not read inputs: not found: {url} (waited 0.3 s for it to be written)"
    )
    assert first in shown


EXITING_TASK = """\
import atexit
import threading
import time

from pack import task


@task
def leaves_work(n: int) -> int:
    atexit.register(lambda: print("exit handler ran"))

    def late() -> None:
        time.sleep(0.3)
        print("thread finished", flush=True)

    if n:
        threading.Thread(target=late).start()
    print("buffered, not flushed", end="")
    return n
"""


@pytest.mark.parametrize("thread", [0, 1], ids=["no-thread", "live-thread"])
def test_pack_execute_ends_as_sys_exit_would(tmp_path: Path, thread: int) -> None:
    """pack-execute skips the interpreter's teardown: the task's exit handlers still
    run, its output is flushed, a thread it left running is joined, all before the
    done line, and the status is the run's."""
    from pack.launcher.entrypoint import DONE_LINE, ENV_SAY_DONE

    r, store = _pack_execute(
        tmp_path, EXITING_TASK, "leaves_work", thread, {ENV_SAY_DONE: "0123456789abcdef"}
    )
    assert r.returncode == 0, r.stderr
    expected = "buffered, not flushed" + ("thread finished\n" if thread else "")
    assert r.stdout == f"{expected}exit handler ran\n{DONE_LINE} 0123456789abcdef\n"
    assert (store / "out" / "outputs.pb").is_file()


def test_pack_execute_usage_error_status_is_kept() -> None:
    r = subprocess.run(
        [sys.executable, "-m", "pack.launcher.entrypoint", "pack-fast-execute",
         "--additional-distribution", "file:///nowhere/b.tar.zst", "--dest-dir", "/tmp/x"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert (
        r.returncode == 2
        and r.stderr == "pack-fast-execute: error: missing `--` before the command\n"
    )


REPORT_MODULES = """\
import atexit
import sys

from pack import task


@atexit.register
def report() -> None:
    print(" ".join(sorted(sys.modules)))


@task
def plain(n: int) -> int:
    return n + 1
"""

# Modules a plain task's pack-execute does without, each a measured part of every pod's
# start (python -X importtime in the task image): a traceback only for a failure,
# resources and accelerators only for a task that names them, the workflow driver only
# for a task that calls tasks, asyncio only for an `async def`, boto3 only without
# credentials in the environment (s3lite), and nothing of the client's.
NOT_ON_THE_PLAIN_PATH = {
    "traceback",
    "pack.launcher.accelerators",
    "pack.launcher.resources",
    "pack.launcher.workflow.driver",
    "pack.tracebacks",
    "asyncio",
    "concurrent.futures",
    "boto3",
    "botocore",
    "kubernetes",
    "click",
    "yaml",
}


def test_a_plain_task_run_imports_only_what_it_needs(tmp_path: Path) -> None:
    # Every pod names a driver spec: a task that calls no task never reads it.
    spec = (tmp_path / "store" / "driver.json").as_uri()
    r, store = _pack_execute(tmp_path, REPORT_MODULES, "plain", 1, {"PACK_DRIVER_SPEC": spec})
    assert r.returncode == 0, r.stderr
    assert (store / "out" / "outputs.pb").is_file()
    loaded = set(r.stdout.split())
    assert "flyteidl.core.literals_pb2" in loaded  # the report is of a real run
    assert loaded & NOT_ON_THE_PLAIN_PATH == set()


LOGGING_TASK = """\
import subprocess
import sys
import time

from pack import task


@task
def talks(n: int) -> int:
    print("task says hello", flush=True)
    time.sleep(0.05)
    print("task warns", file=sys.stderr, flush=True)
    time.sleep(0.05)
    subprocess.run(["sh", "-c", "echo from a subprocess"], check=True)
    if n < 0:
        raise ValueError("negative")
    return n
"""


def test_pack_execute_stores_its_log_after_the_done_line_when_the_pod_asks(
    tmp_path: Path,
) -> None:
    from pack.launcher.entrypoint import DONE_LINE, ENV_SAY_DONE
    from pack.launcher.logcapture import ENV_STORE_LOG, POD_LOG_NAME

    token = "0123456789abcdef"
    r, store = _pack_execute(
        tmp_path, LOGGING_TASK, "talks", 3, {ENV_SAY_DONE: token, ENV_STORE_LOG: "1"}
    )
    assert r.returncode == 0, r.stderr
    # The container's own streams are as without the capture: stderr stays stderr.
    assert r.stdout == f"task says hello\nfrom a subprocess\n{DONE_LINE} {token}\n"
    assert r.stderr == "task warns\n"
    stored = (store / "out" / POD_LOG_NAME).read_text()
    assert stored == "task says hello\ntask warns\nfrom a subprocess\n"
    assert (store / "out" / "outputs.pb").is_file()


def test_a_failed_task_stores_no_log_and_says_no_done_line(tmp_path: Path) -> None:
    from pack.launcher.entrypoint import DONE_LINE, ENV_SAY_DONE
    from pack.launcher.logcapture import ENV_STORE_LOG, POD_LOG_NAME

    r, store = _pack_execute(
        tmp_path, LOGGING_TASK, "talks", -1, {ENV_SAY_DONE: "0123456789abcdef", ENV_STORE_LOG: "1"}
    )
    assert r.returncode == 1
    assert DONE_LINE not in r.stdout
    assert "ValueError: negative" in r.stderr  # shown by the kubelet's log, as before
    assert (store / "out" / "errors.pb").is_file()
    assert not (store / "out" / POD_LOG_NAME).exists()


def test_without_the_pods_word_no_log_is_stored(tmp_path: Path) -> None:
    from pack.launcher.entrypoint import ENV_SAY_DONE
    from pack.launcher.logcapture import POD_LOG_NAME

    r, store = _pack_execute(tmp_path, LOGGING_TASK, "talks", 3, {ENV_SAY_DONE: "0123456789abcdef"})
    assert r.returncode == 0, r.stderr
    assert not (store / "out" / POD_LOG_NAME).exists()
