from __future__ import annotations

import pytest

from pack.errors import TaskError
from pack.launcher.accelerators import A100, parse_accelerator
from pack.launcher.resources import Resources


@pytest.mark.parametrize("good", ["1", "500m", "0.5", "2Gi", "10G", "1e3", "128974848", ".5"])
def test_valid_quantities(good: str) -> None:
    assert Resources(mem=good).to_k8s()["memory"] == good


@pytest.mark.parametrize(
    ("bad", "hint"),
    [("2 GB", "use 2G or 2Gi"), ("512MiB", "use 512Mi"), ("1.5gb", "use 1.5G or 1.5Gi")],
)
def test_human_units_refused_with_hint(bad: str, hint: str) -> None:
    with pytest.raises(TaskError) as info:
        Resources(mem=bad)
    assert "Resources.mem" in str(info.value) and repr(bad) in str(info.value)
    assert info.value.hint == hint


@pytest.mark.parametrize("bad", ["lots", "-1", "2Gb", ""])
def test_garbage_refused(bad: str) -> None:
    with pytest.raises(TaskError, match="Resources.cpu"):
        Resources(cpu=bad)


def test_numbers_and_gpu() -> None:
    assert Resources(cpu=2, gpu=1).to_k8s() == {"cpu": "2", "nvidia.com/gpu": "1"}
    with pytest.raises(TaskError, match="GPU count"):
        Resources(gpu=-1)
    with pytest.raises(TaskError, match="negative"):
        Resources(cpu=-0.5)


def test_accelerators_by_name_and_partition() -> None:
    assert parse_accelerator("a100") == A100
    assert parse_accelerator("A100:1g.5gb").resource_name == "nvidia.com/mig-1g.5gb"
    with pytest.raises(TaskError, match="valid: 1g.5gb"):
        A100(partition="9g.99gb")
    with pytest.raises(TaskError, match="unknown GPU"):
        parse_accelerator("B200-ish")
