"""Which builder builds a spec, what the oci builder refuses, and the no-engine hint."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pack.config import load_config
from pack.errors import BuildError, ConfigError, EngineUnavailable, SpecError
from pack.imagespec.builders.base import BuildRequest, BuildResult, Progress
from pack.imagespec.ensure import EnsureOptions, ImageEnsurer, ensure_all
from pack.imagespec.hashing import ResolveDefaults, resolve
from pack.imagespec.recipe import recipe_of
from pack.imagespec.record import ImageRecord
from pack.imagespec.spec import ImageSpec
from tests.unit.build.test_ensure import D2, FakeRegistry

DEFAULTS = ResolveDefaults(python_version="3.11", runtime_version="0.1.0")


class Named:
    def __init__(self, kind: str, fail: Exception | None = None) -> None:
        self.kind = kind
        self.fail = fail
        self.requests: list[BuildRequest] = []

    def build(self, request: BuildRequest, progress: Progress) -> BuildResult:
        if self.fail is not None:
            raise self.fail
        self.requests.append(request)
        return BuildResult(request.ref.with_digest(D2), D2)

    def image_exists(self, ref: Any) -> bool:
        return False


def ensurer(tmp_path: Path, builders: dict[str, Named], **options: Any) -> ImageEnsurer:
    return ImageEnsurer(
        registry=FakeRegistry(),  # type: ignore[arg-type]
        record=ImageRecord(tmp_path / "record.json", 3600),
        builder=lambda kind: builders[kind],
        options=EnsureOptions(**options),
    )


def spec(tmp_path: Path, **kw: Any) -> ImageSpec:
    kw.setdefault("base_image", "reg.local:5000/base:1")
    return ImageSpec(
        name="team/app",
        registry="reg.local:5000",
        runtime=False,
        base_dir=tmp_path,
        python_version="3.11",
        **kw,
    )


def test_flag_beats_spec_beats_config(tmp_path: Path) -> None:
    for options, spec_builder, expected in [
        ({}, None, "docker"),
        ({"default_builder": "oci"}, None, "oci"),
        ({"default_builder": "oci"}, "docker", "docker"),
        ({"builder": "oci", "default_builder": "docker"}, "docker", "oci"),
    ]:
        builders = {"docker": Named("docker"), "oci": Named("oci")}
        e = ensurer(tmp_path / expected / str(len(options)), builders, **options)
        [out] = ensure_all({"app": spec(tmp_path, builder=spec_builder)}, DEFAULTS, e)
        assert out.status == "built"
        assert [k for k, b in builders.items() if b.requests] == [expected]
    request = builders["oci"].requests[0]
    assert request.recipe is not None and request.recipe.name == "team/app"


def test_oci_refuses_apt_packages_and_commands_naming_the_field(tmp_path: Path) -> None:
    builders = {"docker": Named("docker"), "oci": Named("oci")}
    e = ensurer(tmp_path, builders, builder="oci")
    [apt, cmd] = ensure_all(
        {
            "apt": spec(tmp_path, apt_packages=["curl"]),
            "cmd": ImageSpec(
                name="team/cmd",
                registry="reg.local:5000",
                runtime=False,
                base_dir=tmp_path,
                base_image="reg.local:5000/base:1",
                commands=["echo hi"],
            ),
        },
        DEFAULTS,
        e,
    )
    assert apt.status == cmd.status == "failed"
    assert apt.error is not None and apt.error.startswith("apt: apt_packages: the oci builder")
    assert "curl" in apt.error and "builder='docker'" in apt.error
    assert cmd.error is not None and cmd.error.startswith("cmd: commands: the oci builder")
    assert builders["oci"].requests == []  # refused before anything ran
    for field in ("apt_packages", "commands"):
        with pytest.raises(SpecError, match=rf"ImageSpec 'x': {field}: builder='oci' runs no"):
            ImageSpec(name="x", builder="oci", **{field: ["curl"]})
    with pytest.raises(SpecError, match="builder: 'kaniko' is not one of: docker, oci"):
        ImageSpec(name="x", builder="kaniko")


def test_no_engine_says_to_use_the_oci_builder_when_the_spec_allows(tmp_path: Path) -> None:
    gone = EngineUnavailable("cannot talk to the Docker engine with /usr/bin/docker: refused")
    e = ensurer(tmp_path, {"docker": Named("docker", gone)})
    [out] = ensure_all({"app": spec(tmp_path)}, DEFAULTS, e)
    assert out.status == "failed" and out.error is not None
    assert (
        "refused; this spec needs no engine: build it with `pack build --builder oci`" in out.error
    )
    e2 = ensurer(tmp_path / "2", {"docker": Named("docker", gone)})
    [apt] = ensure_all({"app": spec(tmp_path, apt_packages=["curl"])}, DEFAULTS, e2)
    assert apt.error is not None and "--builder oci" not in apt.error
    plain = BuildError("step 3 failed")
    e3 = ensurer(tmp_path / "3", {"docker": Named("docker", plain)})
    [other] = ensure_all({"app": spec(tmp_path)}, DEFAULTS, e3)
    assert other.error is not None and "--builder oci" not in other.error


def test_config_builder_key_and_variable(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.pack]\nbuilder = "oci"\n')
    assert load_config(tmp_path, {}).builder == "oci"
    assert load_config(tmp_path, {"PACK_BUILDER": "docker"}).builder == "docker"
    with pytest.raises(ConfigError, match="builder = 'buildah' is not one of: docker, oci"):
        load_config(tmp_path, {"PACK_BUILDER": "buildah"})


def test_recipe_mirrors_what_the_dockerfile_installs(tmp_path: Path) -> None:
    (tmp_path / "assets").mkdir()
    (tmp_path / "assets" / "run.sh").write_text("#!/bin/sh\n")
    (tmp_path / "assets" / "run.sh").chmod(0o755)
    (tmp_path / "requirements.txt").write_text("six\n")
    s = ImageSpec(
        name="a",
        registry="r:5000",
        base_dir=tmp_path,
        packages=["NumPy>=1"],
        requirements="requirements.txt",
        copy=["assets"],
        env={"B": "2", "A": "1"},
        labels={"team": "ml"},
        entrypoint="python -m app",
    )
    r = resolve(s, DEFAULTS)
    recipe = recipe_of(r)
    assert recipe.installs_venv and recipe.runtime and recipe.packages == ("numpy>=1",)
    assert recipe.requirements_kind == "requirements.txt"
    assert recipe.requirements_files == (tmp_path / "requirements.txt",)
    assert recipe.env == (("A", "1"), ("B", "2"))
    assert recipe.labels[0] == ("org.pack.spec-digest", str(r.digest))
    assert [(c.dest, c.executable) for c in recipe.copies] == [("root/assets/run.sh", True)]
    assert recipe.copy_dirs == ("root/assets",)
    assert recipe.entrypoint == ("python", "-m", "app")
    assert not recipe.python_version_given
    child = recipe_of(
        resolve(ImageSpec(name="c", base_image=s, packages=["six"], base_dir=tmp_path), DEFAULTS)
    )
    assert child.python_version_given and not child.installs_venv


def test_the_oci_extra_pins_the_uv_images_get() -> None:
    import sys

    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib

    from pack.imagespec.hashing import UV_VERSION

    root = Path(__file__).resolve().parents[3]
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    assert project["optional-dependencies"]["oci"] == [f"uv=={UV_VERSION}"]
