"""`pack`'s exit without the interpreter's teardown: same status, output and exit
handlers as sys.exit, and the ordinary exit while a non-daemon thread still runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pack.__main__ import exit_status


@pytest.mark.parametrize(
    ("code", "status"), [(None, 0), (0, 0), (2, 2), (130, 130), (256 + 3, 3), ("bad", 1)]
)
def test_exit_status_is_what_sys_exit_gives(code: object, status: int) -> None:
    assert exit_status(code) == status


def python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )


def test_exit_handlers_run_and_buffered_output_is_flushed() -> None:
    r = python(
        "import atexit, sys\n"
        "from pack.__main__ import leave\n"
        "atexit.register(lambda: print('bye'))\n"
        "print('hi', end='')\n"
        "sys.stderr.write('err')\n"
        "leave(4)\n"
    )
    assert (r.returncode, r.stdout, r.stderr) == (4, "hibye\n", "err")


def test_a_text_code_is_printed_and_is_status_1() -> None:
    r = python("from pack.__main__ import leave\nleave('pack: no')\n")
    assert (r.returncode, r.stderr) == (1, "pack: no\n")


def test_a_running_thread_is_joined_as_by_sys_exit() -> None:
    r = python(
        "import threading, time\n"
        "from pack.__main__ import leave\n"
        "def late():\n"
        "    time.sleep(0.2)\n"
        "    print('joined', flush=True)\n"
        "threading.Thread(target=late).start()\n"
        "leave(3)\n"
    )
    assert (r.returncode, r.stdout) == (3, "joined\n")


def test_the_cli_exits_with_its_status() -> None:
    ok = subprocess.run([sys.executable, "-m", "pack", "--help"], capture_output=True, text=True)
    assert ok.returncode == 0 and "Usage" in ok.stdout
    bad = subprocess.run([sys.executable, "-m", "pack", "nosuch"], capture_output=True, text=True)
    assert bad.returncode == 2 and "nosuch" in bad.stderr


def test_a_profiler_gets_to_write_its_results(tmp_path: Path) -> None:
    out = tmp_path / "profile.out"
    r = subprocess.run(
        [sys.executable, "-m", "cProfile", "-o", str(out), "-m", "pack", "--help"],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0 and out.stat().st_size > 0
