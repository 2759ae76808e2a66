"""`@workflow`: a function whose body is ordinary Python that calls tasks.

Its body runs in a driver and does no heavy work itself: each task it calls runs
as its own container, pod or process (see pack.launcher.workflow.driver). A workflow is a
Task in every other respect (`pack run wf.py main`, inputs from the command line,
its own image for a detached driver pod), so the loader, the CLI and the run
pipeline need no second path. Called from another workflow's body, a workflow
runs inline in the same driver (no pod of its own); called outside any driver
(a unit test), it is a plain function whose task calls are plain calls too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pack.errors import TaskError
from pack.launcher.task import Task, check_options

WORKFLOW_OPTIONS = ("image", "requests", "limits", "retries", "timeout", "env", "pod_template")


class Workflow(Task):
    """A Task whose body drives other tasks."""

    @property
    def is_workflow(self) -> bool:
        return True

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        # Inline in whichever driver (or none) is calling: a sub-workflow is just code.
        return self.fn(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<pack workflow {self.qualified_name}>"


def workflow(fn: Callable[..., Any] | None = None, /, **options: Any) -> Any:
    """Decorate a function (sync or `async def`) as a workflow: `@workflow` or
    `@workflow(image=..., timeout=...)`."""
    if fn is not None:
        if options or not callable(fn):
            raise TaskError("@workflow takes keyword options only, e.g. @workflow(timeout=3600)")
        return Workflow(fn)
    check_options("@workflow", options, WORKFLOW_OPTIONS)

    def decorate(f: Callable[..., Any]) -> Workflow:
        return Workflow(f, **options)

    return decorate
