"""LogCapture keeps what it forwards, per attempt; LiveLog stores it while it runs."""

from __future__ import annotations

import io
import threading

from pack.runs.logs import LiveLog, LogCapture


def test_capture_forwards_and_keeps_per_attempt() -> None:
    terminal = io.StringIO()
    capture = LogCapture(terminal)
    capture.write("before\n")
    capture.take()
    capture.write("one\n")
    capture.write("two\n")
    assert terminal.getvalue() == "before\none\ntwo\n"
    assert capture.take() == "one\ntwo\n"
    assert capture.take() == ""


def test_capture_keeps_the_end_of_a_long_log() -> None:
    capture = LogCapture(None, limit=10)
    for i in range(10):
        capture.write(f"{i}\n")
    text = capture.take()
    assert text.endswith("5\n6\n7\n8\n9\n")
    assert text.startswith("[pack: the first 10 characters of this log were not kept]")


def test_live_log_saves_while_running_and_retries_a_failed_write() -> None:
    capture = LogCapture(None)
    saved: list[str] = []
    calls = 0
    changed = threading.Event()

    def save(text: str) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise OSError("store away")
        saved.append(text)
        changed.set()

    with LiveLog(capture, save, interval=0.01):
        capture.write("hello\n")
        assert changed.wait(5)
    assert saved and saved[-1] == "hello\n"
