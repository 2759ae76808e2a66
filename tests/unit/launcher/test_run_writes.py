"""What the pod reads is written while it is created: the backend waits for it (`ready`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pack.config import Config
from pack.errors import PackError
from pack.launcher.backends.base import AttemptResult, Backend, Ready
from pack.launcher.execution import Execution
from pack.launcher.load import load_task
from pack.launcher.run import run
from pack.runs.runstore import RunStore

WF = """
from pack import task

@task
def add(x: int) -> int:
    return x + 1
"""


class CreatesThenWaits(Backend):
    """Stands in for a cluster: 'creates' the pod, then waits for its inputs. The
    attempt fails without an error document (no container ran here)."""

    name = "kubernetes"  # as the record names it

    def __init__(self) -> None:
        self.events: list[str] = []

    def run(self, pod: Any, execution: Execution, *, ready: Ready | None = None) -> AttemptResult:
        self.events.append("created")
        assert ready is not None
        try:
            ready()
        except BaseException:
            self.events.append("deleted")
            raise
        inputs = Path(execution.inputs_url.removeprefix("file://"))
        self.events.append(f"ready, inputs.pb {'present' if inputs.is_file() else 'absent'}")
        return AttemptResult(attempt=1, phase="Failed", reason="NotRun")


@pytest.fixture
def project(tmp_path: Path) -> tuple[Path, Config]:
    root = tmp_path / "proj"
    root.mkdir()
    (root / "wf.py").write_text(WF)
    store = tmp_path / "store"
    store.mkdir()
    return root, Config(cache_dir=tmp_path / "cache", store=store.as_uri())


def test_the_pod_is_handed_to_the_backend_and_its_inputs_are_there_once_ready(
    project: tuple[Path, Config],
) -> None:
    root, config = project
    task, source = load_task(root / "wf.py", "add")
    backend = CreatesThenWaits()
    result = run(task, source, {"x": 2}, config=config, backend=backend, execution_id="rw1")
    assert backend.events == ["created", "ready, inputs.pb present"]
    record = RunStore.open(config.store_url).get("rw1")
    assert record.status == "failed" and len(record.attempts) == 1
    assert not result.succeeded


def test_an_inputs_write_that_fails_ends_the_run_with_its_error_and_a_failed_record(
    project: tuple[Path, Config],
) -> None:
    root, config = project
    task, source = load_task(root / "wf.py", "add")
    # A folder where inputs.pb would be: writing it fails for real.
    (Path(config.store_url.removeprefix("file://")) / "runs" / "rw2" / "inputs.pb").mkdir(
        parents=True
    )
    backend = CreatesThenWaits()
    with pytest.raises(PackError) as err:
        run(task, source, {"x": 2}, config=config, backend=backend, execution_id="rw2")
    assert "inputs.pb" in str(err.value) and "\n" not in str(err.value)
    assert backend.events == ["created", "deleted"]
    assert RunStore.open(config.store_url).get("rw2").status == "failed"
