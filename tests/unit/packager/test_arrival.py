"""Objects read before they are written (pack.packager.arrival): the pod of a kubernetes
run can start before the client's PUT of its inputs.pb has finished."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from pack.errors import ObjectNotFound, StoreError
from pack.packager.arrival import WAIT_SECONDS, read_on_arrival, read_url_on_arrival, steps
from pack.packager.store import FileStore


def test_steps_double_from_short_to_half_a_second_and_add_up_to_the_bound() -> None:
    pauses = list(steps(3.0))
    assert pauses[:5] == [0.05, 0.1, 0.2, 0.4, 0.5]
    assert max(pauses) == 0.5
    assert sum(pauses) == pytest.approx(3.0)
    assert list(steps(0.12)) == pytest.approx([0.05, 0.07])
    assert list(steps(0)) == []
    # The default bound asks about twice a second for a minute, not thousands of times.
    assert 100 < len(list(steps(WAIT_SECONDS))) < 130


def _write_later(store: FileStore, key: str, data: bytes, delay: float) -> threading.Thread:
    def write() -> None:
        time.sleep(delay)
        store.put_bytes(key, data)

    thread = threading.Thread(target=write)
    thread.start()
    return thread


def test_an_object_written_while_waiting_is_read(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    writer = _write_later(store, "inputs.pb", b"late bytes", 0.3)
    try:
        assert read_url_on_arrival((tmp_path / "inputs.pb").as_uri(), bound=10) == b"late bytes"
    finally:
        writer.join()


def test_an_object_that_never_comes_names_the_url_and_the_wait(tmp_path: Path) -> None:
    url = (tmp_path / "inputs.pb").as_uri()
    started = time.monotonic()
    with pytest.raises(ObjectNotFound) as caught:
        read_url_on_arrival(url, bound=0.3)
    assert time.monotonic() - started >= 0.3
    assert url in str(caught.value)
    assert "waited 0.3 s" in str(caught.value)


def test_only_not_found_is_waited_on() -> None:
    sleeps: list[float] = []
    calls: list[int] = []

    def broken() -> bytes:
        calls.append(1)
        raise StoreError("cannot read s3://b/k: AccessDenied")

    with pytest.raises(StoreError, match="AccessDenied"):
        read_on_arrival(broken, "s3://b/k", sleep=sleeps.append)
    assert calls == [1] and sleeps == []


def test_reads_until_found_with_growing_pauses() -> None:
    sleeps: list[float] = []
    answers: list[bytes | None] = [None, None, None, b"here"]

    def read() -> bytes:
        answer = answers.pop(0)
        if answer is None:
            raise ObjectNotFound("not found: s3://b/k")
        return answer

    assert read_on_arrival(read, "s3://b/k", sleep=sleeps.append) == b"here"
    assert sleeps == [0.05, 0.1, 0.2]
