from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest

from pack.errors import ArchiveError
from pack.launcher.entrypoint import MARKER, ensure_bundle, user_traceback


def fake_fetch(calls: list[str], fail_times: int = 0):  # type: ignore[no-untyped-def]
    def fetch(url: str, dest: Path) -> None:
        calls.append(url)
        if len(calls) <= fail_times:
            raise OSError("connection reset")
        dest.mkdir()
        (dest / "wf.py").write_text("x = 1\n")

    return fetch


def test_extracts_once_across_concurrent_callers(tmp_path: Path) -> None:
    calls: list[str] = []
    dest = tmp_path / "code"
    threads = [
        threading.Thread(
            target=ensure_bundle, args=("file:///b", dest), kwargs={"fetch": fake_fetch(calls)}
        )
        for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert calls == ["file:///b"]
    assert (dest / MARKER).read_text() == "file:///b"
    assert (dest / "wf.py").is_file()


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
