"""Resolution for the target: uv's command lines, its answers parsed, layers grouped."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from pack.errors import BuildError
from pack.imagespec.builders.oci.groups import layer_groups
from pack.imagespec.builders.oci.platforms import Target
from pack.imagespec.builders.oci.resolve import (
    ROOT,
    Artifact,
    PackageResolver,
    Pin,
    Request,
    Resolution,
    parse_parents,
    select_artifact,
    uv_env,
)

ARM = Target("linux/arm64", "3.11")
AMD = Target("linux/amd64", "3.12")


def test_target_names_the_uv_platform_tags_and_markers() -> None:
    assert ARM.uv_platform == "aarch64-manylinux_2_28"
    assert (ARM.architecture, ARM.variant, ARM.machine) == ("arm64", None, "aarch64")
    tags = ARM.wheel_tags()
    assert tags.index("cp311-cp311-manylinux_2_28_aarch64") < tags.index(
        "cp311-abi3-manylinux_2_17_aarch64"
    )
    assert tags.index("cp311-abi3-manylinux2014_aarch64") < tags.index("py3-none-any")
    assert not any("x86_64" in t or "manylinux_2_29" in t for t in tags)
    with pytest.raises(BuildError, match="linux/s390x"):
        Target("linux/s390x", "3.11").check()


LOCK_PACKAGE = {
    "name": "Charset_Normalizer",
    "version": "3.5.3",
    "wheels": [
        {
            "url": "https://files/charset_normalizer-3.5.3-py3-none-any.whl",
            "size": 10,
            "hashes": {"sha256": "a" * 64},
        },
        {
            "url": "https://files/charset_normalizer-3.5.3-cp37-abi3-manylinux2014_aarch64.manylinux_2_17_aarch64.whl",
            "size": 20,
            "hashes": {"sha256": "b" * 64},
        },
        {
            "url": "https://files/charset_normalizer-3.5.3-cp311-cp311-manylinux_2_28_aarch64.whl",
            "size": 30,
            "hashes": {"sha256": "c" * 64},
        },
        {
            "url": "https://files/charset_normalizer-3.5.3-cp311-cp311-manylinux_2_28_x86_64.whl",
            "size": 40,
            "hashes": {"sha256": "d" * 64},
        },
    ],
}


def test_the_most_specific_wheel_for_the_target_is_chosen() -> None:
    pin = select_artifact(LOCK_PACKAGE, ARM, ARM.wheel_tags())
    assert pin.name == "charset-normalizer" and pin.artifact.sha256 == "c" * 64
    assert pin.artifact.filename.endswith("cp311-cp311-manylinux_2_28_aarch64.whl")
    amd = select_artifact(LOCK_PACKAGE, AMD, AMD.wheel_tags())
    assert amd.artifact.sha256 == "a" * 64  # cp311 x86_64 does not fit 3.12: the pure one does
    local = select_artifact(
        {
            "name": "pack",
            "version": "0.1.0",
            "archive": {"path": "/w/pack-0.1.0-py3-none-any.whl", "hashes": {"sha256": "e" * 64}},
        },
        ARM,
        ARM.wheel_tags(),
    )
    assert local.artifact.kind == "local" and local.artifact.path == Path(
        "/w/pack-0.1.0-py3-none-any.whl"
    )
    sdist = select_artifact(
        {
            "name": "docopt",
            "version": "0.6.2",
            "sdist": {"url": "https://files/docopt-0.6.2.tar.gz", "hashes": {"sha256": "f" * 64}},
        },
        ARM,
        ARM.wheel_tags(),
    )
    assert sdist.artifact.kind == "sdist"
    with pytest.raises(BuildError, match=r"numpy==2.0 has no wheel for linux/arm64"):
        select_artifact(
            {
                "name": "numpy",
                "version": "2.0",
                "wheels": [
                    {
                        "url": "https://f/numpy-2.0-cp311-cp311-manylinux_2_28_x86_64.whl",
                        "hashes": {"sha256": "1" * 64},
                    }
                ],
            },
            ARM,
            ARM.wheel_tags(),
        )


ANNOTATED = """\
boto3==1.44.8
    # via pack
botocore==1.44.8
    # via
    #   boto3
    #   s3transfer
pack @ file:///tmp/w/pack-0.1.0-py3-none-any.whl
    # via -r /tmp/x/requirements.in
requests[socks]==2.34.2
    # via
    #   -r /tmp/x/requirements.in
    #   kubernetes
s3transfer==0.19.3
    # via boto3
six==1.17.0
    # via -c constraints.txt
"""


def pin(name: str, size: int = 10) -> Pin:
    return Pin(name, "1", Artifact("wheel", f"{name}-1-py3-none-any.whl", name * 2, size=size))


def test_the_dependency_graph_from_uv_annotations_and_its_closure() -> None:
    parents = parse_parents(ANNOTATED)
    assert parents["botocore"] == {"boto3", "s3transfer"}
    assert parents["pack"] == {ROOT}
    assert parents["requests"] == {ROOT, "kubernetes"}
    res = Resolution(tuple(pin(n) for n in parents), parents)
    assert res.closure(["pack"]) == {"pack", "boto3", "botocore", "s3transfer"}


def test_layers_group_tools_runtime_and_packages_with_big_wheels_alone() -> None:
    parents = {
        "uv": frozenset({ROOT}),
        "pip": frozenset({ROOT}),
        "pack": frozenset({ROOT}),
        "click": frozenset({"pack"}),
        "botocore": frozenset({"pack"}),
        "numpy": frozenset({ROOT}),
        "six": frozenset({ROOT}),
        "attrs": frozenset({ROOT}),
    }
    sizes = {"uv": 5_000_000, "botocore": 3_000_000, "numpy": 9_000_000}
    pins = tuple(pin(n, sizes.get(n, 1000)) for n in sorted(parents))
    res = Resolution(pins, parents)
    groups = layer_groups(res, pins, tools=("uv", "pip"), runtime=True, venv=True)
    shape = [(g.kind, [p.name for p in g.pins]) for g in groups]
    assert shape == [
        ("venv", ["pip"]),
        ("venv", ["uv"]),
        ("runtime", ["click"]),
        ("runtime", ["botocore"]),
        ("runtime", ["pack"]),  # alone: it changes with every pack source change
        ("packages", ["attrs", "six"]),
        ("packages", ["numpy"]),
    ]
    # A one-package change touches one group: the others keep their exact pins.
    changed = tuple(pin("six", 1001) if p.name == "six" else p for p in pins)
    again = layer_groups(
        Resolution(changed, parents), changed, tools=("uv", "pip"), runtime=True, venv=True
    )
    differ = [a for a, b in zip(groups, again, strict=True) if a != b]
    assert [g.describe() for g in differ] == ["packages: attrs, six"]
    # A child image on a base with the venv: no venv layer, even with nothing small.
    child = layer_groups(res, [pin("attrs")], tools=("uv", "pip"), runtime=False, venv=False)
    assert [(g.kind, [p.name for p in g.pins]) for g in child] == [("packages", ["attrs"])]


class FakeUv:
    """Answers `uv pip compile` like uv: a lock and an annotated file, or an error."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = errors
        self.calls: list[tuple[list[str], dict[str, str]]] = []

    def __call__(self, argv: Sequence[str], env: Mapping[str, str]) -> tuple[int, str, str]:
        self.calls.append((list(argv), dict(env)))
        if self.errors:
            return 1, "", self.errors.pop(0)
        out = Path(argv[argv.index("-o") + 1])
        if "--format" in argv:
            out.write_text(
                '[[packages]]\nname = "docopt"\nversion = "0.6.2"\n'
                'sdist = { url = "https://f/docopt-0.6.2.tar.gz", hashes = { sha256 = "'
                + "a" * 64
                + '" } }\n'
            )
        else:
            out.write_text("docopt==0.6.2\n    # via -r requirements.in\n")
        return 0, "", ""


def test_resolver_argv_env_and_the_retry_for_sdist_only_projects(tmp_path: Path) -> None:
    uv = FakeUv(
        [
            "error: No solution found\n  cause: all versions of docopt have no usable wheels\n"
            "hint: Wheels are required for `docopt` because building from source is disabled"
        ]
    )
    secret = "https://user:s3cret@pypi.example/simple"
    resolver = PackageResolver(
        "/bin/uv",
        {
            "PATH": "/bin",
            "UV_INDEX_URL": "https://host-config",
            "PIP_INDEX_URL": "x",
            "UV_CACHE_DIR": "/c",
        },
        python="/py",
        runner=uv,
    )
    got = resolver.resolve(Request(ARM, ("docopt",), index_url=secret), "spec")
    assert [p.name for p in got.pins] == ["docopt"] and got.pins[0].artifact.kind == "sdist"
    first, second, graph = (c[0] for c in uv.calls)
    assert first[:3] == ["/bin/uv", "pip", "compile"]
    for flag, value in [
        ("--python", "/py"),
        ("--python-version", "3.11"),
        ("--python-platform", "aarch64-manylinux_2_28"),
        ("--only-binary", ":all:"),
    ]:
        assert first[first.index(flag) + 1] == value
    assert "--no-config" in first and "--no-binary" not in first
    assert second[second.index("--no-binary") + 1] == "docopt"
    assert "--offline" in graph and "--format" not in graph
    env = uv.calls[0][1]
    assert (
        env["UV_INDEX_URL"] == secret and "PIP_INDEX_URL" not in env and env["UV_CACHE_DIR"] == "/c"
    )
    assert not any("s3cret" in a for c in uv.calls for a in c[0])  # never on a command line


def test_a_resolution_failure_names_the_target_and_hides_credentials(tmp_path: Path) -> None:
    secret = "https://user:s3cret@pypi.example/simple"
    uv = FakeUv([f"error: Because nothing==9 was not found in {secret}\n"])
    resolver = PackageResolver(
        "/bin/uv", {}, runner=uv, redact=lambda s: s.replace(secret, "https://pypi.example/simple")
    )
    with pytest.raises(BuildError) as err:
        resolver.resolve(Request(ARM, ("nothing==9",), index_url=secret), "spec")
    assert "spec: resolving for linux/arm64 (CPython 3.11" in err.value.message
    assert "nothing==9 was not found" in err.value.message and "s3cret" not in err.value.message


def test_uv_env_strips_host_index_settings_and_passes_the_ca() -> None:
    env = uv_env(
        {"UV_EXTRA_INDEX_URL": "x", "UV_FIND_LINKS": "y", "HOME": "/h"},
        Request(ARM, extra_index_urls=("https://a", "https://b")),
        Path("/ca.pem"),
    )
    assert env["UV_EXTRA_INDEX_URL"] == "https://a https://b" and "UV_FIND_LINKS" not in env
    assert env["SSL_CERT_FILE"] == "/ca.pem" and env["HOME"] == "/h"
