"""Every task's image, prepared by the client before any driver starts.

A driver never builds: the client finds the tasks of the modules it loaded from the
project (a module-level task, or the task of a module-level map_task), prepares
each distinct image once (built or reused and pinned by digest on remote backends;
named only, on the local backend, which runs this machine's Python), and hands
the driver the refs by task name.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pack.launcher.workflow.spec import ImagePin

if TYPE_CHECKING:
    from pack.config import Config
    from pack.launcher.images import ImageChoice
    from pack.launcher.task import Task


def loaded_tasks(root: Path, extra: Iterable[Task] = ()) -> dict[str, Task]:
    """The tasks (not workflows: a called workflow runs inline in its driver) of every
    loaded module under `root`, plus `extra`, by module.name."""
    from pack.launcher.task import Task
    from pack.launcher.workflow.map_task import MapTask

    found = {t.qualified_name: t for t in extra}
    prefix = str(root) + os.sep
    for module in list(sys.modules.values()):
        file = getattr(module, "__file__", None)
        if not isinstance(file, str) or not file.startswith(prefix):
            continue
        for value in list(vars(module).values()):
            if isinstance(value, MapTask):
                value = value.task
            if isinstance(value, Task) and not value.is_workflow:
                found.setdefault(value.qualified_name, value)
    return found


Prepare = Callable[["ImageChoice"], "tuple[ImageChoice, dict[str, Any]]"]


class ImageTable:
    """The run pipeline's prepare_image, once per distinct ref: `prepare` is the remote
    backends' build or reuse (None: local, the ref is only a name)."""

    def __init__(self, config: Config, prepare: Prepare | None) -> None:
        self.config = config
        self._prepare = prepare
        self._by_ref: dict[str, tuple[ImageChoice, dict[str, Any]]] = {}

    def prepare_image(self, choice: ImageChoice) -> tuple[ImageChoice, dict[str, Any]]:
        """`choice` built/reused and pinned (remote), once per ref."""
        done = self._by_ref.get(choice.ref)
        if done is None:
            done = self._prepare(choice) if self._prepare is not None else (choice, {})
            self._by_ref[choice.ref] = done
        return done

    def pins(self, tasks: Iterable[Task]) -> dict[str, ImagePin]:
        from pack.launcher.images import image_for

        out: dict[str, ImagePin] = {}
        for task in tasks:
            pinned, _ = self.prepare_image(image_for(task.image, self.config))
            digest = None if pinned.spec_digest is None else str(pinned.spec_digest)
            out[task.qualified_name] = ImagePin(pinned.ref, digest)
        return out
