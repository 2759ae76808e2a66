"""pack.launcher.logcapture: fd 1 and fd 2 copied through pipes, to where they went
and into memory. Each case runs in its own interpreter: the capture replaces the
process's standard descriptors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pack.launcher import logcapture


def _run(
    script: str, tmp_path: Path, env: dict[str, str] | None = None
) -> tuple[subprocess.CompletedProcess[str], bytes | None]:
    """Run `script` (which sets `log`, the capture's result) in a new interpreter: what
    reached its real stdout and stderr, and what the capture held (None: not whole)."""
    out = tmp_path / "captured"
    program = (
        "import os, subprocess, sys\n"
        "from pack.launcher import logcapture\n"
        f"{script}\n"
        f"with open({str(out)!r}, 'wb') as f:\n"
        "    f.write(b'NONE' if log is None else b'LOG:' + log)\n"
    )
    r = subprocess.run(
        [sys.executable, "-c", program],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    data = out.read_bytes()
    return r, None if data == b"NONE" else data.removeprefix(b"LOG:")


def test_both_streams_and_a_subprocess_are_copied_and_still_shown(tmp_path: Path) -> None:
    r, log = _run(
        "import time\n"
        "logcapture.begin(os.environ)\n"
        "print('to stdout', flush=True)\n"
        "time.sleep(0.05)\n"
        "print('to stderr', file=sys.stderr, flush=True)\n"
        "time.sleep(0.05)\n"
        "subprocess.run(['sh', '-c', 'echo from a child; sleep 0.05; echo child err >&2'])\n"
        "time.sleep(0.05)\n"
        "sys.stdout.write('no newline at the end')\n"
        "sys.stdout.flush()\n"
        "log = logcapture.end()\n"
        "print('after the capture')\n",
        tmp_path,
        {logcapture.ENV_STORE_LOG: "1"},
    )
    assert r.stdout == "to stdout\nfrom a child\nno newline at the endafter the capture\n"
    assert r.stderr == "to stderr\nchild err\n"
    assert log is not None
    # Each line once, in the order written: the two pipes are read side by side, so
    # writes to the two streams a moment apart keep their order.
    assert log == b"to stdout\nto stderr\nfrom a child\nchild err\nno newline at the end"


def test_nothing_is_captured_unless_the_pod_asks(tmp_path: Path) -> None:
    r, log = _run(
        "assert logcapture.begin(os.environ) is None\nprint('plain')\nlog = logcapture.end()\n",
        tmp_path,
        {logcapture.ENV_STORE_LOG: "0"},
    )
    assert log is None and r.stdout == "plain\n"


def test_a_log_over_the_limit_is_not_whole_but_all_of_it_is_shown(tmp_path: Path) -> None:
    r, log = _run(
        "logcapture.LIMIT_BYTES = 1000\n"
        "logcapture.begin(os.environ)\n"
        "for i in range(100):\n"
        "    print(f'line {i:04d} of a long log', flush=True)\n"
        "log = logcapture.end()\n",
        tmp_path,
        {logcapture.ENV_STORE_LOG: "1"},
    )
    assert log is None
    assert r.stdout.splitlines() == [f"line {i:04d} of a long log" for i in range(100)]


def test_a_process_left_holding_the_pipe_makes_it_not_whole_without_a_long_wait(
    tmp_path: Path,
) -> None:
    r, log = _run(
        "import time\n"
        "logcapture.begin(os.environ)\n"
        "subprocess.Popen(['sleep', '3'])\n"
        "print('before the end', flush=True)\n"
        "t = time.monotonic()\n"
        "log = logcapture.end(timeout=0.3)\n"
        "print(f'end took {time.monotonic() - t:.2f}')\n",
        tmp_path,
        {logcapture.ENV_STORE_LOG: "1"},
    )
    assert log is None
    lines = r.stdout.splitlines()
    assert lines[0] == "before the end"
    assert float(lines[1].split()[-1]) < 1.0


def test_a_capture_is_handed_on_through_an_exec(tmp_path: Path) -> None:
    r, log = _run(
        "logcapture.begin(os.environ)\n"
        "print('fetch retried', file=sys.stderr, flush=True)\n"
        "env = dict(os.environ)\n"
        "logcapture.hand_on(env)\n"
        "assert env[logcapture.ENV_STORE_LOG] == '1'\n"
        "os.environ.clear(); os.environ.update(env)\n"  # what the exec'd program sees
        "logcapture.begin(os.environ)\n"
        "assert logcapture.ENV_PREFACE not in os.environ\n"
        "print('task ran', flush=True)\n"
        "log = logcapture.end()\n",
        tmp_path,
        {logcapture.ENV_STORE_LOG: "1"},
    )
    assert log == b"fetch retried\ntask ran\n"
    assert r.stderr == "fetch retried\n" and r.stdout == "task ran\n"


def test_a_capture_too_big_to_hand_on_stores_no_log_after_the_exec(tmp_path: Path) -> None:
    _, log = _run(
        "logcapture.PREFACE_LIMIT_BYTES = 10\n"
        "logcapture.begin(os.environ)\n"
        "print('more than ten bytes', flush=True)\n"
        "env = dict(os.environ)\n"
        "logcapture.hand_on(env)\n"
        "assert logcapture.ENV_STORE_LOG not in env\n"
        "assert logcapture.begin(env) is None\n"
        "log = logcapture.end()\n",
        tmp_path,
        {logcapture.ENV_STORE_LOG: "1"},
    )
    assert log is None


@pytest.mark.parametrize("data", [b"", b"a\n", b"a\nb", b"a\n\nb\n", b"bad \xff byte\n"])
def test_stored_log_lines_are_what_a_log_stream_gives(data: bytes) -> None:
    from pack.launcher.backends.k8sapi import stream_lines
    from pack.launcher.backends.storedlog import log_lines_of

    class OneChunk:
        def stream(self, size: int) -> list[bytes]:
            return [data] if data else []

    streamed = [line.decode("utf-8", errors="replace") for line in stream_lines(OneChunk())]  # type: ignore[arg-type]
    assert log_lines_of(data) == streamed


def test_what_a_killed_task_wrote_last_still_reaches_the_containers_log(tmp_path: Path) -> None:
    """The copier is a process of its own: a task killed (out of memory, say) right
    after a write, while it held the interpreter's lock, loses nothing of the log."""
    r = subprocess.run(
        [
            sys.executable,
            "-c",
            "import os, signal\n"
            "from pack.launcher import logcapture\n"
            "logcapture.begin(os.environ)\n"
            "os.write(1, b'last words\\n')\n"
            "os.write(2, b'last warning\\n')\n"
            "os.kill(os.getpid(), signal.SIGKILL)\n",
        ],
        env={**os.environ, logcapture.ENV_STORE_LOG: "1"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == -9
    assert r.stdout == "last words\n" and r.stderr == "last warning\n"
