"""What ships without bytecode: runtime subtrees pack never imports, and only those."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from pack.imagespec.builders.oci.bytecode import RUNTIME_UNIMPORTED, Compiler, pyc_path
from pack.imagespec.builders.oci.groups import layer_groups
from pack.imagespec.builders.oci.layers import wheel_entries
from pack.imagespec.builders.oci.resolve import ROOT, Artifact, Pin, Resolution
from pack.imagespec.builders.oci.venv import VenvLayout
from tests.unit.oci.wheels import make_wheel

ROOT_DIR = Path(__file__).resolve().parents[3]
THIS = f"{sys.version_info.major}.{sys.version_info.minor}"


def pin(name: str) -> Pin:
    return Pin(name, "1", Artifact("wheel", f"{name}-1-py3-none-any.whl", name * 2, size=10))


def groups_for(parents: dict[str, frozenset[str]]) -> dict[str, tuple[str, ...]]:
    pins = tuple(pin(n) for n in sorted(parents))
    res = Resolution(pins, parents)
    groups = layer_groups(res, pins, tools=(), runtime=True, venv=False)
    return {p.name: g.uncompiled for g in groups for p in g.pins}


def test_only_a_distribution_the_runtime_alone_needs_skips_its_unimported_parts() -> None:
    runtime = {"pack": frozenset({ROOT}), "requests": frozenset({"kubernetes"})}
    alone = groups_for({**runtime, "kubernetes": frozenset({"pack"})})
    assert alone["kubernetes"] == ("kubernetes/aio/",)  # its group's (requests shares it)
    assert alone["pack"] == ()
    # The spec asks for kubernetes itself: its user may import any of it, so all compiles.
    asked = groups_for({**runtime, "kubernetes": frozenset({"pack", ROOT})})
    assert asked["kubernetes"] == ()
    # A spec package needs it (kopf would use the asyncio client): all compiles too.
    needed = groups_for(
        {**runtime, "kopf": frozenset({ROOT}), "kubernetes": frozenset({"pack", "kopf"})}
    )
    assert needed["kubernetes"] == ()


def test_test_suites_and_uncompiled_prefixes_ship_sources_without_bytecode(
    tmp_path: Path,
) -> None:
    layout = VenvLayout(THIS, "/usr/bin/python3")
    site = layout.site_packages
    modules = [
        "kub/__init__.py",
        "kub/aio/__init__.py",
        "kub/tests/__init__.py",
        "kub/io/tests/test_io.py",
        "kub/tests.py",  # a module named tests is code, not a test suite folder
        "kub/testing/__init__.py",  # numpy.testing: imported by users' code
    ]
    wheel = make_wheel(tmp_path, "kub", "1", {m: b"A = 1\n" for m in modules})
    compiler = Compiler(THIS, "")

    def compiled(**kw: list[str]) -> list[str]:
        paths = {e.path for e in wheel_entries([wheel], layout, compiler, 0, **kw)}
        assert {f"{site}/{m}" for m in modules} <= paths  # every source ships
        return [m for m in modules if pyc_path(f"{site}/{m}", layout.cache_tag) in paths]

    assert compiled(uncompiled=["kub/aio/"]) == [
        "kub/__init__.py",
        "kub/tests.py",
        "kub/testing/__init__.py",
    ]
    assert compiled() == [
        "kub/__init__.py",
        "kub/aio/__init__.py",
        "kub/tests.py",
        "kub/testing/__init__.py",
    ]


def test_pack_never_imports_what_ships_uncompiled() -> None:
    """Every pack module imported, and the kubernetes client as the backend uses it."""
    prefixes = [p for ps in RUNTIME_UNIMPORTED.values() for p in ps]
    code = (
        "import importlib, json, pkgutil, sys, pack\n"
        "for m in pkgutil.walk_packages(pack.__path__, 'pack.'):\n"
        "    importlib.import_module(m.name)\n"
        "import kubernetes\n"
        "from kubernetes import client, config, watch\n"
        "client.CoreV1Api, client.V1Pod, client.ApiClient, client.exceptions.ApiException\n"
        "print(json.dumps(sorted(m for m in sys.modules)))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT_DIR, check=True
    )
    loaded = json.loads(proc.stdout)
    assert "pack.launcher.backends.kubernetes" in loaded and "kubernetes.client" in loaded
    dotted = [p.rstrip("/").replace("/", ".") for p in prefixes]
    assert [m for m in loaded if any(m == d or m.startswith(d + ".") for d in dotted)] == []
    # Nor does any pack source name it (an import inside a function would not show above).
    named = [
        str(f.relative_to(ROOT_DIR))
        for f in (ROOT_DIR / "pack").rglob("*.py")
        for d in dotted
        if d in f.read_text()
    ]
    assert named == []
