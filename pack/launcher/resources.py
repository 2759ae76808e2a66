"""Resources: CPU, memory, GPU and ephemeral storage as Kubernetes quantities.

Quantities are checked here, at decoration time, because kubernetes-validate only
checks the shape of a pod, not whether `"2 GB"` is a quantity.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pack.errors import TaskError

if TYPE_CHECKING:
    from decimal import Decimal

# Kubernetes resource.Quantity grammar, non-negative (the API refuses negative requests
# and limits): a decimal number, then a binary SI suffix (Ki..Ei), a decimal SI suffix
# (n u m k M G T P E) or an exponent. The one parser: Resources and the docker backend's
# mapping of a pod's limits both go through it.
_QUANTITY = re.compile(
    r"^([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?[0-9]+)?\Z"
)
_BINARY_POWER = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}
_DECIMAL_EXPONENT = {
    "n": -9,
    "u": -6,
    "m": -3,
    "": 0,
    "k": 3,
    "M": 6,
    "G": 9,
    "T": 12,
    "P": 15,
    "E": 18,
}
_HUMAN_UNIT = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([kmgtpe])(i?)b?\s*\Z", re.IGNORECASE)

GPU_RESOURCE = "nvidia.com/gpu"


def quantity_hint(text: str) -> str | None:
    """A corrected spelling for near-miss quantities such as `2 GB` or `512MiB`."""
    match = _HUMAN_UNIT.match(text)
    if match is None:
        return None
    number, unit, binary = match.groups()
    unit = unit.upper()
    decimal = "k" if unit == "K" else unit
    if binary:
        return f"use {number}{unit}i"
    return f"use {number}{decimal} or {number}{unit}i"


def parse_quantity(field: str, value: object) -> str:
    """`value` as a canonical quantity string, or TaskError naming `field`."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise TaskError(f"{field}: {value!r} is not a Kubernetes quantity (a number or a string)")
    if isinstance(value, int | float):
        if value < 0:
            raise TaskError(f"{field}: {value!r} must not be negative")
        text = str(value)
    else:
        text = value
    if not _QUANTITY.match(text):
        hint = quantity_hint(text) if isinstance(value, str) else None
        raise TaskError(
            f"{field}: {value!r} is not a Kubernetes quantity",
            hint=hint or "use a number with an optional suffix such as 500m, 2, 512Mi, 2Gi, 10G",
        )
    return text


def quantity_value(field: str, value: object) -> Decimal:
    """The number a quantity stands for (`500m` -> 0.5, `1Ki` -> 1024), checked as
    parse_quantity checks it; no kubernetes import (it costs ~0.5 s), and decimal only
    here (every command that loads a task imports this module; only the docker
    backend asks for values)."""
    from decimal import Decimal

    match = _QUANTITY.match(parse_quantity(field, value))
    assert match is not None  # parse_quantity accepted it
    number, suffix = Decimal(match.group(1)), match.group(2) or ""
    if suffix in _BINARY_POWER:
        return number * (1024 ** _BINARY_POWER[suffix])
    if suffix in _DECIMAL_EXPONENT:
        return number.scaleb(_DECIMAL_EXPONENT[suffix])
    return number.scaleb(int(suffix[1:]))


def parse_gpu_count(field: str, value: object) -> int:
    if isinstance(value, bool):
        raise TaskError(f"{field}: {value!r} is not a GPU count")
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if not isinstance(value, int) or value < 0:
        raise TaskError(f"{field}: {value!r} is not a GPU count; use a whole number such as 1")
    return value


@dataclass(frozen=True)
class Resources:
    """`Resources(cpu=2, mem="4Gi", gpu=1, ephemeral_storage="10Gi")`; None means unset."""

    cpu: str | int | float | None = None
    mem: str | None = None
    gpu: int | str | None = None
    ephemeral_storage: str | None = None

    def __post_init__(self) -> None:
        if self.cpu is not None:
            parse_quantity("Resources.cpu", self.cpu)
        if self.mem is not None:
            parse_quantity("Resources.mem", self.mem)
        if self.gpu is not None:
            parse_gpu_count("Resources.gpu", self.gpu)
        if self.ephemeral_storage is not None:
            parse_quantity("Resources.ephemeral_storage", self.ephemeral_storage)

    @property
    def gpu_count(self) -> int | None:
        return None if self.gpu is None else parse_gpu_count("Resources.gpu", self.gpu)

    def to_k8s(self, *, include_gpu: bool = True) -> dict[str, str]:
        """The `requests`/`limits` mapping for a container (Kubernetes resource names)."""
        out: dict[str, str] = {}
        if self.cpu is not None:
            out["cpu"] = parse_quantity("Resources.cpu", self.cpu)
        if self.mem is not None:
            out["memory"] = parse_quantity("Resources.mem", self.mem)
        if self.ephemeral_storage is not None:
            out["ephemeral-storage"] = parse_quantity(
                "Resources.ephemeral_storage", self.ephemeral_storage
            )
        if include_gpu and self.gpu_count:
            out[GPU_RESOURCE] = str(self.gpu_count)
        return out
