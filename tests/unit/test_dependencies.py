"""pyproject's dependency bounds hold for the environment the suite runs in, so a bound
(e.g. `kubernetes>=37.0.1,<38`) names versions the suite has actually run against."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"
DEPENDENCIES = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]["dependencies"]


@pytest.mark.parametrize("line", DEPENDENCIES)
def test_installed_version_is_within_the_declared_bounds(line: str) -> None:
    req = Requirement(line)
    if req.marker is not None and not req.marker.evaluate():
        pytest.skip(f"{req.name} is not needed here ({req.marker})")
    installed = importlib.metadata.version(req.name)
    assert req.specifier.contains(installed, prereleases=True), (
        f"{req.name} {installed} is outside {req.specifier}"
    )


def test_the_kubernetes_client_has_an_upper_bound() -> None:
    """Each client major is generated for a new Kubernetes minor: one the suite has not
    run against must not install silently."""
    (req,) = [Requirement(d) for d in DEPENDENCIES if Requirement(d).name == "kubernetes"]
    assert any(spec.operator == "<" for spec in req.specifier)
    assert not req.specifier.contains("38.0.0")
