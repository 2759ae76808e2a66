"""Multiple outputs: return annotations -> wire names, values -> literals and back."""

from __future__ import annotations

from typing import NamedTuple

import pytest

from pack.errors import TaskError
from pack.launcher.outputs import named_outputs, output_shape, returned_value
from pack.launcher.task import task


class Stats(NamedTuple):
    mean: float
    label: str


def test_shapes_and_wire_names() -> None:
    assert output_shape(None).kind == "none" and output_shape(None).names == []
    assert output_shape(int).names == ["o0"]
    pair = output_shape(tuple[int, str])
    assert (pair.kind, pair.types) == ("tuple", {"o0": int, "o1": str})
    named = output_shape(Stats)
    assert (named.kind, named.types) == ("namedtuple", {"mean": float, "label": str})
    # A single value that happens to be optional is one output, not a tuple.
    assert output_shape(int | None).names == ["o0"]


@pytest.mark.parametrize("bad", [tuple, tuple[int, ...], tuple[()]])
def test_tuples_without_a_fixed_length_are_refused(bad: object) -> None:
    with pytest.raises(TypeError, match="no fixed length"):
        output_shape(bad)


def test_values_are_split_by_name_and_joined_back() -> None:
    pair = output_shape(tuple[int, str])
    assert named_outputs((3, "x"), pair) == {"o0": 3, "o1": "x"}
    assert returned_value({"o1": "x", "o0": 3}, pair) == (3, "x")
    named = output_shape(Stats)
    values = named_outputs(Stats(1.5, "a"), named)
    assert values == {"mean": 1.5, "label": "a"}
    back = returned_value(values, named)
    assert isinstance(back, Stats) and back.label == "a"
    assert returned_value({"o0": 7}, output_shape(int)) == 7
    assert returned_value({}, output_shape(None)) is None


def test_a_value_of_the_wrong_arity_is_a_type_error() -> None:
    pair = output_shape(tuple[int, str])
    with pytest.raises(TypeError, match="expected 2 values, got a tuple of 3"):
        named_outputs((1, "a", 2), pair)
    with pytest.raises(TypeError, match="expected a tuple of 2 values, got int"):
        named_outputs(1, pair)


def test_task_interface_names_each_output_and_checks_its_type() -> None:
    @task
    def split(n: int) -> tuple[int, str]:
        return n, str(n)

    @task
    def stats(n: int) -> Stats:
        return Stats(n, "x")

    assert split.interface.outputs == {"o0": int, "o1": str}
    assert stats.interface.outputs == {"mean": float, "label": str}

    @task
    def bad(n: int) -> tuple[int, object]:
        return n, None

    with pytest.raises(TaskError, match=r"task bad: output 'o1': type .*object.* is not supported"):
        _ = bad.interface

    @task
    def open_ended(n: int) -> tuple[int, ...]:
        return (n,)

    with pytest.raises(TaskError, match="task open_ended: return value: .*no fixed length"):
        _ = open_ended.interface
