"""A task's signature is checked when that task is used, not when its file is imported."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from pack.launcher.entrypoint import Failure, run_task

MIXED = """
    from pack import task


    @task
    def good(n: int) -> int:
        return n * 2


    @task
    def weird() -> object:
        return object()
"""


def test_in_the_pod_a_bad_annotation_is_the_users_error_when_loading_that_task(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flyteidl.core.literals_pb2 import LiteralMap

    from pack.launcher.types.engine import TypeContext, default_engine
    from pack.packager.store import read_url

    (tmp_path / "podiface_mod.py").write_text(textwrap.dedent(MIXED))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.delitem(sys.modules, "podiface_mod", raising=False)
    inputs = tmp_path / "inputs.pb"

    def run(name: str, values: dict[str, object]) -> dict[str, float]:
        types = {k: int for k in values}
        literals = default_engine().to_literal_map(values, types, TypeContext())
        inputs.write_bytes(literals.SerializeToString())
        return run_task(
            inputs_url=inputs.as_uri(),
            output_prefix=(tmp_path / name).as_uri(),
            raw_prefix=(tmp_path / "raw").as_uri(),
            resolver_name="default",
            module="podiface_mod",
            name=name,
            env={},
        )

    with pytest.raises(Failure) as info:
        run("weird", {})
    failure = info.value
    assert (failure.step, failure.user, failure.recoverable) == ("load task", True, False)
    assert "task weird: return value: type object is not supported" in str(failure.exc)

    run("good", {"n": 21})  # the same file, another task: runs
    out = LiteralMap.FromString(read_url((tmp_path / "good" / "outputs.pb").as_uri()))
    assert out.literals["o0"].scalar.primitive.integer == 42
