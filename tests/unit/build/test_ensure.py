"""The reuse/copy/build decision with fake registry and builder (real ones: integration)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from pack.digest import Digest
from pack.errors import BuildError
from pack.imagespec.builders.base import BuildRequest, BuildResult, Progress
from pack.imagespec.ensure import EnsureOptions, ImageEnsurer, build_cache_ref, ensure_all
from pack.imagespec.hashing import ResolveDefaults
from pack.imagespec.record import ImageRecord
from pack.imagespec.ref import ImageRef
from pack.imagespec.spec import ImageSpec

DEFAULTS = ResolveDefaults(python_version="3.11", runtime_version="0.1.0")
D1 = Digest("1" * 64)
D2 = Digest("2" * 64)


class FakeRegistry:
    def __init__(self) -> None:
        self.images: dict[str, Digest] = {}
        self.calls: list[str] = []

    def lookup(self, ref: ImageRef, platforms: Sequence[str] = ()) -> Digest | None:
        self.calls.append(f"lookup {ref}")
        return self.images.get(str(ref))

    def manifest_digest(self, ref: ImageRef) -> Digest | None:
        return self.images.get(str(ref))

    def copy_image(self, src: ImageRef, dst: ImageRef) -> Digest:
        self.calls.append(f"copy {src} {dst}")
        self.images[str(dst)] = self.images[str(src)]
        return self.images[str(dst)]


class FakeBuilder:
    def __init__(self, registry: FakeRegistry, fail: set[str] | None = None) -> None:
        self.registry = registry
        self.built: list[BuildRequest] = []
        self.local: set[str] = set()
        self.fail = fail or set()

    def build(self, request: BuildRequest, progress: Progress) -> BuildResult:
        if request.ref.repository in self.fail:
            raise BuildError(f"{request.label}: step 2 failed")
        self.built.append(request)
        if request.push:
            self.registry.images[str(request.ref)] = D2
            return BuildResult(request.ref.with_digest(D2), D2)
        self.local.add(str(request.ref))
        return BuildResult(request.ref, None)

    def image_exists(self, ref: ImageRef) -> bool:
        return str(ref) in self.local


def setup(tmp_path: Path, **options: Any) -> tuple[ImageEnsurer, FakeRegistry, FakeBuilder]:
    registry = FakeRegistry()
    builder = FakeBuilder(registry, options.pop("fail", None))
    ensurer = ImageEnsurer(
        registry=registry,  # type: ignore[arg-type]
        record=ImageRecord(tmp_path / "record.json", 3600),
        builder=lambda kind: builder,
        options=EnsureOptions(**options),
    )
    return ensurer, registry, builder


def spec(
    tmp_path: Path, name: str = "team/app", registry: str | None = "reg.local:5000", **kw: Any
) -> ImageSpec:
    kw.setdefault("base_image", "reg.local:5000/base:1")
    return ImageSpec(name=name, registry=registry, runtime=False, base_dir=tmp_path, **kw)


def test_missing_is_built_then_reused_from_the_record_without_a_request(tmp_path: Path) -> None:
    ensurer, registry, builder = setup(tmp_path)
    specs = {"app": spec(tmp_path, env={"A": "1"})}
    [first] = ensure_all(specs, DEFAULTS, ensurer)
    assert first.status == "built" and first.ref.digest == D2
    assert first.pinned == f"reg.local:5000/team/app@{D2}"
    assert "FROM reg.local:5000/base:1" in builder.built[0].dockerfile
    registry.calls.clear()
    ensurer2, _, _ = setup(tmp_path)
    ensurer2.registry = registry  # type: ignore[assignment]
    [second] = ensure_all(specs, DEFAULTS, ensurer2)
    assert second.status == "reused" and second.ref.digest == D2
    assert registry.calls == []  # the record answered: not even a HEAD


def test_present_in_registry_is_reused_and_force_rebuilds(tmp_path: Path) -> None:
    s = spec(tmp_path)
    ensurer, registry, builder = setup(tmp_path)
    from pack.imagespec.hashing import resolve

    registry.images[str(resolve(s, DEFAULTS).ref)] = D1
    [out] = ensure_all({"app": s}, DEFAULTS, ensurer)
    assert (out.status, out.ref.digest, builder.built) == ("reused", D1, [])
    forced, _, fbuilder = setup(tmp_path / "f", force=True)
    forced.registry = registry  # type: ignore[assignment]
    [again] = ensure_all({"app": s}, DEFAULTS, forced)
    assert again.status == "built" and len(fbuilder.built) == 1


def test_check_reports_missing_and_builds_nothing(tmp_path: Path) -> None:
    ensurer, registry, builder = setup(tmp_path, check=True)
    [out] = ensure_all({"app": spec(tmp_path)}, DEFAULTS, ensurer)
    assert out.status == "missing" and builder.built == [] and out.pinned is None


def test_check_asks_the_registry_even_with_a_fresh_record(tmp_path: Path) -> None:
    ensurer, registry, builder = setup(tmp_path)
    specs = {"app": spec(tmp_path, env={"A": "2"})}
    [built] = ensure_all(specs, DEFAULTS, ensurer)
    registry.images.clear()  # deleted from the registry after it was built
    checker, _, _ = setup(tmp_path, check=True)
    checker.registry = registry  # type: ignore[assignment]
    registry.calls.clear()
    [out] = ensure_all(specs, DEFAULTS, checker)
    assert out.status == "missing"
    assert registry.calls == [f"lookup {_tag(built.ref)}"]


def _tag(ref: ImageRef) -> ImageRef:
    return ImageRef(ref.registry, ref.repository, ref.tag, None)


def test_renamed_spec_is_copied_not_rebuilt(tmp_path: Path) -> None:
    ensurer, registry, builder = setup(tmp_path)
    ensure_all({"app": spec(tmp_path, name="team/old")}, DEFAULTS, ensurer)
    [moved] = ensure_all({"app": spec(tmp_path, name="team/new")}, DEFAULTS, ensurer)
    assert moved.status == "copied" and moved.ref.digest == D2
    assert len(builder.built) == 1
    assert any(c.startswith("copy reg.local:5000/team/old:") for c in registry.calls)


def test_local_only_spec_checks_the_engine(tmp_path: Path) -> None:
    ensurer, registry, builder = setup(tmp_path)
    s = spec(tmp_path, registry=None)
    [first] = ensure_all({"app": s}, DEFAULTS, ensurer)
    assert first.status == "built" and builder.built[0].push is False
    (tmp_path / "record.json").unlink()
    ensurer2, _, builder2 = setup(tmp_path)
    builder2.local = builder.local
    [second] = ensure_all({"app": s}, DEFAULTS, ensurer2)
    assert second.status == "reused" and registry.calls == []


def test_base_spec_builds_first_and_its_failure_fails_dependents(tmp_path: Path) -> None:
    base = spec(tmp_path, name="team/base")
    child = spec(tmp_path, name="team/child", base_image=base)
    lone = spec(tmp_path, name="team/lone")
    ensurer, registry, builder = setup(tmp_path)
    outs = ensure_all({"child": child, "base": base}, DEFAULTS, ensurer)
    assert [o.variable for o in outs] == ["base", "child"]
    assert [r.ref.repository for r in builder.built] == ["team/base", "team/child"]
    assert f"FROM {outs[0].ref.registry}/team/base:" in builder.built[1].dockerfile

    failing, _, fb = setup(tmp_path / "x", fail={"team/base"})
    outs = ensure_all({"child": child, "base": base, "lone": lone}, DEFAULTS, failing)
    status = {o.variable: (o.status, o.error) for o in outs}
    assert status["base"] == ("failed", "base: step 2 failed")
    assert status["child"][0] == "failed" and "base image base failed" in str(status["child"][1])
    assert status["lone"][0] == "built"


def test_build_cache_ref_naming() -> None:
    assert str(build_cache_ref("127.0.0.1:5000/cache/pack", "team/app")) == (
        "127.0.0.1:5000/cache/pack:team-app"
    )
    assert str(build_cache_ref("r:5000/c:fixed", "x")) == "r:5000/c:fixed"
    with pytest.raises(Exception, match="build_cache"):
        build_cache_ref("Not A Ref", "x")
