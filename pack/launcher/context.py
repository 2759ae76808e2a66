"""What a running task can know about its execution: `pack.current_context()`.

Inside a pod the values come from the environment variables the pod sets; those
variables are read in exactly one place, `context_from_env`, called by the
entrypoint. A task called directly as a function gets a local context.
"""

from __future__ import annotations

import contextvars
import functools
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

ENV_EXECUTION_ID = "PACK_EXECUTION_ID"
ENV_PROJECT = "PACK_EXECUTION_PROJECT"
ENV_DOMAIN = "PACK_EXECUTION_DOMAIN"
ENV_ATTEMPT = "PACK_ATTEMPT"
ENV_TASK = "PACK_TASK_NAME"

LOCAL_EXECUTION_ID = "local"


@dataclass(frozen=True)
class ExecutionContext:
    """Execution id, project, domain, attempt (1-based) and a scratch working directory."""

    execution_id: str
    project: str
    domain: str
    attempt: int
    working_dir: Path
    task_name: str | None = None
    raw_output_prefix: str | None = None

    @property
    def is_local(self) -> bool:
        return self.execution_id == LOCAL_EXECUTION_ID


def context_from_env(
    env: Mapping[str, str], *, working_dir: Path, raw_output_prefix: str | None = None
) -> ExecutionContext:
    """The context of a task started by a pod (the one reader of the pod's variables)."""
    attempt_text = env.get(ENV_ATTEMPT, "1")
    try:
        attempt = int(attempt_text)
    except ValueError:
        attempt = 1
    return ExecutionContext(
        execution_id=env.get(ENV_EXECUTION_ID) or LOCAL_EXECUTION_ID,
        project=env.get(ENV_PROJECT) or "default",
        domain=env.get(ENV_DOMAIN) or "development",
        attempt=attempt,
        working_dir=working_dir,
        task_name=env.get(ENV_TASK) or None,
        raw_output_prefix=raw_output_prefix,
    )


@functools.lru_cache(maxsize=1)
def _local_context() -> ExecutionContext:
    return ExecutionContext(
        execution_id=LOCAL_EXECUTION_ID,
        project="default",
        domain="development",
        attempt=1,
        working_dir=Path(tempfile.mkdtemp(prefix="pack-local-")),
    )


_current: contextvars.ContextVar[ExecutionContext | None] = contextvars.ContextVar(
    "pack_execution_context", default=None
)


def current_context() -> ExecutionContext:
    """The running task's context; a local one when the task was called as a function."""
    ctx = _current.get()
    return ctx if ctx is not None else _local_context()


def set_context(ctx: ExecutionContext) -> contextvars.Token[ExecutionContext | None]:
    return _current.set(ctx)


def reset_context(token: contextvars.Token[ExecutionContext | None]) -> None:
    _current.reset(token)
