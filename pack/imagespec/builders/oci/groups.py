"""Which distribution goes in which layer (pure), so a one-package change moves one layer.

Layers, in order:
1. `venv`: the environment itself and pip (only when this image creates the venv);
2. `runtime`: the pack runtime and everything it needs, the same for every spec built
   with one pack, so the registry already has it for all but the first;
3. `packages`: what the spec adds on top.
Inside each group a wheel of BIG bytes or more gets a layer of its own (numpy, pandas,
botocore, uv), and so does pack itself (it changes with every pack source change): a
version change of one of them re-uploads that layer only, and the small ones of a group
share one layer, cheap to re-upload whole.

A group also names the subtrees it ships without bytecode (`uncompiled`): those of
`bytecode.RUNTIME_UNIMPORTED` whose distribution is in the image for the pack runtime alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from pack.imagespec.builders.oci.bytecode import RUNTIME_UNIMPORTED
from pack.imagespec.builders.oci.resolve import ROOT, Pin, Resolution

BIG = 2 << 20
VENV, RUNTIME, PACKAGES = "venv", "runtime", "packages"
RUNTIME_ROOT = "pack"


@dataclass(frozen=True)
class Group:
    kind: str  # VENV | RUNTIME | PACKAGES
    pins: tuple[Pin, ...]
    alone: bool = False  # one big wheel
    uncompiled: tuple[str, ...] = ()  # site-packages relative prefixes shipped without .pyc

    def describe(self) -> str:
        if self.alone or len(self.pins) == 1:
            pin = self.pins[0]
            return f"{pin.name}=={pin.version}"
        names = ", ".join(p.name for p in self.pins[:3])
        more = f" and {len(self.pins) - 3} more" if len(self.pins) > 3 else ""
        return f"{self.kind}: {names}{more}"


def pin_size(pin: Pin) -> int:
    """The wheel's size in bytes as far as it is known (0 for an sdist not built yet)."""
    art = pin.artifact
    if art.size is not None:
        return art.size
    if art.path is not None:
        try:
            return art.path.stat().st_size
        except OSError:
            return 0
    return 0


def _split(
    kind: str,
    pins: Iterable[Pin],
    *,
    big: int,
    keep_small: bool,
    uncompiled: Mapping[str, tuple[str, ...]] | None = None,
) -> list[Group]:
    ordered = sorted(pins, key=lambda p: p.name)
    skip = uncompiled or {}

    def by_itself(pin: Pin) -> bool:
        # The runtime changes with every pack source change: never rebuild its deps for it.
        return pin_size(pin) >= big or pin.name == RUNTIME_ROOT

    def group(pins: tuple[Pin, ...], alone: bool = False) -> Group:
        prefixes = tuple(sorted(x for p in pins for x in skip.get(p.name, ())))
        return Group(kind, pins, alone, prefixes)

    small = tuple(p for p in ordered if not by_itself(p))
    alone = [group((p,), alone=True) for p in ordered if by_itself(p)]
    head = [group(small)] if small or keep_small else []
    return head + alone


def runtime_only_unimported(
    resolution: Resolution, runtime_names: set[str]
) -> dict[str, tuple[str, ...]]:
    """`RUNTIME_UNIMPORTED` entries of distributions only the pack runtime requires (pure).

    One the spec asks for, or one a spec package depends on, is compiled whole: its user
    may import any of it.
    """
    out: dict[str, tuple[str, ...]] = {}
    for name, prefixes in RUNTIME_UNIMPORTED.items():
        parents = resolution.parents.get(name)
        if name in runtime_names and parents and ROOT not in parents and parents <= runtime_names:
            out[name] = prefixes
    return out


def layer_groups(
    resolution: Resolution,
    install: Sequence[Pin],
    *,
    tools: Iterable[str],
    runtime: bool,
    venv: bool,
    big: int = BIG,
) -> list[Group]:
    """Groups for the pins to `install` (the base may hold the rest of the resolution)."""
    tool_names = set(tools)
    runtime_names = resolution.closure([RUNTIME_ROOT]) if runtime else set()
    groups: list[Group] = []
    tool_pins = [p for p in install if p.name in tool_names]
    # The venv layer exists whenever this image makes the venv, even with nothing small.
    if venv:
        groups += _split(VENV, tool_pins, big=big, keep_small=True)
    rest = [p for p in install if p.name not in tool_names]
    groups += _split(
        RUNTIME,
        (p for p in rest if p.name in runtime_names),
        big=big,
        keep_small=False,
        uncompiled=runtime_only_unimported(resolution, runtime_names),
    )
    groups += _split(
        PACKAGES, (p for p in rest if p.name not in runtime_names), big=big, keep_small=False
    )
    return groups
