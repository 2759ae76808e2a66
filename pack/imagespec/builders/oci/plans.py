"""Layer plans: what a layer will hold and the cache key that names it, before any work.

A plan's key is computed from its inputs alone (wheel hashes, file hashes, layout,
mtime, bytecode version), so the pusher can ask the layer cache and the registry about
it before fetching a single wheel. `entries` does the work when it has to be done.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from pack.imagespec.builders.oci import tar
from pack.imagespec.builders.oci.bytecode import UNCOMPILED_FOLDERS, Compiler
from pack.imagespec.builders.oci.groups import Group, pin_size
from pack.imagespec.builders.oci.layercache import layer_key
from pack.imagespec.builders.oci.layers import copy_entries, wheel_entries
from pack.imagespec.builders.oci.resolve import Pin
from pack.imagespec.builders.oci.venv import VenvLayout, skeleton
from pack.imagespec.dockerfile import COPY_DEST
from pack.imagespec.recipe import CopyFile


@dataclass(frozen=True)
class LayerPlan:
    key: str
    created_by: str  # the history line of the image config
    pins: tuple[Pin, ...]  # wheels to fetch before `entries` can run
    entries: Callable[[Mapping[str, Path]], list[tar.Entry]]  # {pin name: wheel file} -> entries
    weight: int = 0  # bytes in, roughly what building it costs: the heaviest start first


def wheel_plan(
    group: Group,
    layout: VenvLayout,
    compiler: Compiler | None,
    *,
    mtime: int,
    with_skeleton: bool,
) -> LayerPlan:
    """The layer of one group of wheels (with the venv itself when `with_skeleton`)."""
    key = layer_key(
        {
            "kind": group.kind,
            "skeleton": with_skeleton,
            "layout": [layout.root, layout.python_version, layout.interpreter],
            "mtime": mtime,
            "bytecode": layout.cache_tag if compiler is not None else None,
            "uncompiled": [list(UNCOMPILED_FOLDERS), list(group.uncompiled)],
            "wheels": [[p.name, p.version, p.artifact.sha256] for p in group.pins],
        }
    )

    def entries(paths: Mapping[str, Path]) -> list[tar.Entry]:
        out = wheel_entries(
            [paths[p.name] for p in group.pins],
            layout,
            compiler,
            mtime,
            uncompiled=group.uncompiled,
        )
        if with_skeleton:
            have = {e.path for e in out}
            out += [e for e in skeleton(layout) if e.path not in have]
        return out

    what = group.describe() if group.pins else "venv"
    if with_skeleton and group.pins:
        what = f"venv, {what}"
    weight = sum(pin_size(p) for p in group.pins)
    return LayerPlan(key, f"pack oci: {what}", group.pins, entries, weight)


def copy_plan(copies: Sequence[CopyFile], dirs: Sequence[str], *, mtime: int) -> LayerPlan:
    """The spec's `copy` entries, where the Docker builder's COPY lines put them."""
    key = layer_key(
        {
            "kind": "copy",
            "mtime": mtime,
            "files": [[c.dest, c.sha256, c.executable] for c in copies],
            "dirs": list(dirs),
        }
    )
    floor = COPY_DEST.lstrip("/")

    def entries(_: Mapping[str, Path]) -> list[tar.Entry]:
        return copy_entries(copies, dirs, floor)

    weight = sum(c.source.stat().st_size for c in copies if c.source.is_file())
    return LayerPlan(key, f"pack oci: copy {len(copies)} files", (), entries, weight)
