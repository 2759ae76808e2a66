"""`map_task(t, concurrency=None, min_success_ratio=1.0)(x=[...], other=scalar)`.

Runs `t` once per element (lists zip, scalars broadcast: pack.launcher.workflow.binding),
each element its own child run, at most `concurrency` at once (None: all). The
outputs come back in input order. When fewer than `min_success_ratio` of the
elements succeed, the caller gets ChildFailed naming the first failed element
(`square[3] failed: ValueError: ...`); at or above it, failed elements are None.
Outside a driver (a plain function call, a unit test) the elements run in order,
in process, with the same rules.
"""

from __future__ import annotations

import math
from typing import Any

from pack.errors import ChildFailed, TaskError
from pack.launcher.task import Task
from pack.launcher.workflow.binding import elements


class MapTask:
    def __init__(self, task: Any, concurrency: int | None, min_success_ratio: float) -> None:
        if not isinstance(task, Task) or task.is_workflow:
            raise TaskError(f"map_task: expected a @task, got {task!r}")
        if concurrency is not None and (
            isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1
        ):
            raise TaskError(
                f"map_task({task.name}): concurrency {concurrency!r} must be a whole number >= 1 "
                "or None (all at once)"
            )
        if (
            isinstance(min_success_ratio, bool)
            or not isinstance(min_success_ratio, int | float)
            or not 0.0 <= min_success_ratio <= 1.0
        ):
            raise TaskError(
                f"map_task({task.name}): min_success_ratio {min_success_ratio!r} must be a "
                "number from 0 to 1"
            )
        self.task = task
        self.concurrency = concurrency
        self.min_success_ratio = float(min_success_ratio)
        self.name = f"map_task({task.name})"

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from pack.launcher.workflow.active import current_driver

        items = elements(self.task, args, kwargs)
        driver = current_driver()
        if driver is not None:
            return driver.map(
                self.task,
                items,
                concurrency=self.concurrency,
                min_success_ratio=self.min_success_ratio,
            )
        return self._in_process(items)

    def _in_process(self, items: list[dict[str, Any]]) -> list[Any]:
        results: list[Any] = []
        failed: list[tuple[int, Exception]] = []
        for i, inputs in enumerate(items):
            try:
                results.append(self.task.fn(**inputs))
            except Exception as exc:  # noqa: BLE001 - counted against min_success_ratio
                failed.append((i, exc))
                results.append(None)
        required = math.ceil(self.min_success_ratio * len(items) - 1e-9)
        if len(items) - len(failed) < required:
            index, first = failed[0]
            raise ChildFailed(
                f"{self.task.name}[{index}]",
                f"{type(first).__name__}: {first} ({len(failed)} of {len(items)} elements "
                f"failed; min_success_ratio={self.min_success_ratio:g} needs {required} to "
                "succeed)",
            ) from first
        return results

    def __repr__(self) -> str:
        return f"<pack {self.name}>"


def map_task(task: Any, concurrency: int | None = None, min_success_ratio: float = 1.0) -> MapTask:
    """`t` mapped over lists: call the result with the task's arguments, lists where
    one value per element is meant."""
    return MapTask(task, concurrency, min_success_ratio)
