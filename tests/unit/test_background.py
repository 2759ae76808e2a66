import threading

import pytest

from pack.background import Background


def test_calls_run_beside_the_caller_and_results_come_back_by_name() -> None:
    gate = threading.Event()
    calls = Background()
    calls.start("slow", lambda: gate.wait(5) and "slow done")
    calls.start("quick", lambda x: x * 2, 21)
    assert calls.result("quick") == 42  # not held up by the other
    gate.set()
    assert calls.result("slow") == "slow done"
    calls.wait()


def test_wait_raises_the_first_error_in_start_order_after_all_ended() -> None:
    ended: list[str] = []
    calls = Background()

    def fail(name: str) -> None:
        ended.append(name)
        raise ValueError(f"{name} failed")

    calls.start("a", fail, "a")
    calls.start("b", fail, "b")
    calls.start("c", ended.append, "c")
    with pytest.raises(ValueError, match="a failed"):
        calls.wait()
    assert sorted(ended) == ["a", "b", "c"]
    with pytest.raises(ValueError, match="b failed"):
        calls.result("b")


def test_settle_waits_and_drops_errors() -> None:
    calls = Background()
    calls.start("x", lambda: 1 / 0)
    calls.settle()  # no error raised
    with pytest.raises(ZeroDivisionError):
        calls.result("x")  # it was kept for whoever asks


def test_a_name_is_started_once() -> None:
    calls = Background()
    calls.start("x", lambda: None)
    with pytest.raises(ValueError, match="'x' was already started"):
        calls.start("x", lambda: None)
