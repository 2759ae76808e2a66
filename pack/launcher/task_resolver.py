"""Resolvers: how `pack-execute` finds the task object from `task-module M task-name N`.

`default` imports module M (from the working directory, i.e. the extracted bundle,
or anything on PYTHONPATH) and takes its attribute N. Another resolver is named as
`package.module:attribute`, a callable `(module, name) -> Task`.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable
from typing import Any

DEFAULT = "default"

Resolver = Callable[[str, str], Any]


class ResolverError(Exception):
    """The resolver itself cannot be found: pack's problem, not the user's code."""


def default_resolver(module: str, name: str) -> Any:
    # Console scripts put their own bin/ first on sys.path, not the working directory;
    # `python -m` would put the cwd first. Match the latter so bundles and images that
    # set WORKDIR to their code both work.
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    mod = importlib.import_module(module)
    obj = getattr(mod, name, None)
    if obj is None:
        # A task held by a variable of another name (`count_lines = ShellTask(name="count")`).
        obj = next(
            (
                v
                for v in vars(mod).values()
                if getattr(v, "name", None) == name and hasattr(v, "fn")
            ),
            None,
        )
    if obj is None:
        raise AttributeError(f"module {module!r} has no task named {name!r}")
    if not (hasattr(obj, "fn") and hasattr(type(obj), "interface")):  # not computing it
        raise TypeError(f"{module}.{name} is not a pack task (decorate it with @pack.task)")
    return obj


def load_resolver(name: str) -> Resolver:
    if name == DEFAULT:
        return default_resolver
    module, sep, attr = name.partition(":")
    if not sep or not module or not attr:
        raise ResolverError(f"resolver {name!r}: use 'default' or 'package.module:attribute'")
    try:
        fn = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise ResolverError(f"resolver {name!r} cannot be loaded: {exc}") from None
    if not callable(fn):
        raise ResolverError(f"resolver {name!r} is not callable")
    return fn  # type: ignore[no-any-return]
