"""Named GPU types and how a pod asks for one.

Scheduling choice (documented in the README): a task with `accelerator=A100` gets
- a limit on `nvidia.com/gpu` (or `nvidia.com/mig-<profile>` for a MIG partition,
  the NVIDIA device plugin's "mixed" strategy resource name);
- a node selector `<label>: <device>` where `<label>` defaults to
  `pack.dev/accelerator` (configurable per render, e.g. `cloud.google.com/gke-accelerator`
  or `k8s.amazonaws.com/accelerator`) and `<device>` is a stable name such as
  `nvidia-tesla-a100` (the GKE / EKS convention, not the long SKU string of
  `nvidia.com/gpu.product`, which differs between SXM and PCIe cards);
- tolerations for the taint GPU node pools carry: `<label>=<device>:NoSchedule` and
  `nvidia.com/gpu:NoSchedule` (Exists), so the pod lands on tainted GPU nodes.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from pack.errors import TaskError
from pack.launcher.resources import GPU_RESOURCE

DEFAULT_NODE_LABEL = "pack.dev/accelerator"

_A100_40_PROFILES = ("1g.5gb", "2g.10gb", "3g.20gb", "4g.20gb", "7g.40gb")
_80GB_PROFILES = ("1g.10gb", "2g.20gb", "3g.40gb", "4g.40gb", "7g.80gb")


@dataclass(frozen=True)
class GPU:
    """A GPU type; call it to choose a MIG partition: `A100(partition="1g.5gb")`."""

    name: str
    device: str
    partitions: tuple[str, ...] = ()
    partition: str | None = None

    def __call__(self, partition: str | None = None) -> GPU:
        if partition is None:
            return replace(self, partition=None)
        if partition not in self.partitions:
            valid = ", ".join(self.partitions) or "none (this GPU has no MIG profiles)"
            raise TaskError(
                f"accelerator {self.name}: unknown partition {partition!r}; valid: {valid}"
            )
        return replace(self, partition=partition)

    def __getattr__(self, attr: str) -> GPU:
        # A100.partition_1g_5gb -> A100(partition="1g.5gb")
        if attr.startswith("partition_"):
            profile = attr.removeprefix("partition_").replace("_", ".", 1)
            if profile in self.partitions:
                return self(partition=profile)
        raise AttributeError(attr)

    @property
    def resource_name(self) -> str:
        return f"nvidia.com/mig-{self.partition}" if self.partition else GPU_RESOURCE

    def __str__(self) -> str:
        return f"{self.name}({self.partition})" if self.partition else self.name


A100 = GPU("A100", "nvidia-tesla-a100", _A100_40_PROFILES)
A100_80GB = GPU("A100-80GB", "nvidia-a100-80gb", _80GB_PROFILES)
H100 = GPU("H100", "nvidia-h100-80gb", _80GB_PROFILES)
L4 = GPU("L4", "nvidia-l4")
T4 = GPU("T4", "nvidia-tesla-t4")
V100 = GPU("V100", "nvidia-tesla-v100")

KNOWN: dict[str, GPU] = {g.name: g for g in (A100, A100_80GB, H100, L4, T4, V100)}


def parse_accelerator(value: GPU | str) -> GPU:
    """A GPU from a GPU object or a name such as "A100" or "A100:1g.5gb"."""
    if isinstance(value, GPU):
        return value
    if isinstance(value, str):
        name, _, partition = value.partition(":")
        gpu = KNOWN.get(name.upper()) or KNOWN.get(name)
        if gpu is None:
            raise TaskError(
                f"accelerator: unknown GPU {value!r}; valid: {', '.join(sorted(KNOWN))}"
            )
        return gpu(partition or None)
    raise TaskError(
        f"accelerator: {value!r} is not a GPU; use e.g. pack.launcher.accelerators.A100"
    )


@dataclass(frozen=True)
class Scheduling:
    """What a pod needs to land on a node with the accelerator."""

    limits: dict[str, str]
    node_selector: dict[str, str]
    tolerations: list[dict[str, str]]


def scheduling(gpu: GPU, count: int, node_label: str = DEFAULT_NODE_LABEL) -> Scheduling:
    """Pure: the limits, node selector and tolerations for `count` of `gpu`."""
    return Scheduling(
        limits={gpu.resource_name: str(count)},
        node_selector={node_label: gpu.device},
        tolerations=[
            {"key": node_label, "operator": "Equal", "value": gpu.device, "effect": "NoSchedule"},
            {"key": GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"},
        ],
    )
