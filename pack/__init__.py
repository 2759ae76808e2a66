"""pack: ImageSpec-driven image builds and content-addressed code bundles for cluster runs.

The public names are imported lazily so `import pack` (and the CLI) stay fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "ImageSpec": "pack.imagespec.spec",
    "Resources": "pack.launcher.resources",
    "task": "pack.launcher.task",
    "File": "pack.launcher.types.files",
    "Directory": "pack.launcher.types.files",
    "current_context": "pack.launcher.context",
    "Deck": "pack.deck.deck",
    "workflow": "pack.launcher.workflow.definition",
    "map_task": "pack.launcher.workflow.map_task",
    "ShellTask": "pack.launcher.workflow.shell",
}

__all__ = [
    "Deck",
    "Directory",
    "File",
    "ImageSpec",
    "Resources",
    "ShellTask",
    "current_context",
    "map_task",
    "task",
    "workflow",
]

if TYPE_CHECKING:
    from pack.deck.deck import Deck
    from pack.imagespec.spec import ImageSpec
    from pack.launcher.context import current_context
    from pack.launcher.resources import Resources
    from pack.launcher.task import task
    from pack.launcher.types.files import Directory, File
    from pack.launcher.workflow.definition import workflow
    from pack.launcher.workflow.map_task import map_task
    from pack.launcher.workflow.shell import ShellTask


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pack' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
