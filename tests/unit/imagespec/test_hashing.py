from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pack.imagespec.hashing import (
    ResolveDefaults,
    canonical_inputs,
    encode,
    normalize_requirement,
    resolve,
)
from pack.imagespec.spec import ImageSpec

from .conftest import DEFAULTS, load_one, ref_of, resolved

SPEC = """
from pack import ImageSpec

image = ImageSpec(
    name="ml",
    packages=["numpy>=1.26", "pandas"],
    apt_packages=["libgomp1"],
    requirements="requirements.txt",
    copy=["assets"],
    env={"A": "1"},
)
"""
FILES = {"requirements.txt": "scikit-learn==1.5.0\n", "assets/labels.json": "[1, 2]\n"}


def spec(**kwargs: object) -> ImageSpec:
    return ImageSpec(name="img", base_dir=Path("/nonexistent"), **kwargs)  # type: ignore[arg-type]


# ------------------------------------------------------------ same ref


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ({"packages": ["numpy", "pandas"]}, {"packages": ["pandas", "numpy"]}),
        ({"packages": ["NumPy>=1.26"]}, {"packages": ["numpy>=1.26"]}),
        ({"packages": ["scikit_learn"]}, {"packages": ["scikit-learn"]}),
        ({"packages": ["zope.interface"]}, {"packages": ["Zope_Interface"]}),
        ({"packages": ["numpy >= 1.26 , < 2"]}, {"packages": ["numpy<2,>=1.26"]}),
        ({"packages": ["requests[socks,security]"]}, {"packages": ["requests[Security,socks]"]}),
        (
            {"packages": ["numpy; python_version<'3.12'"]},
            {"packages": ['numpy ; python_version < "3.12"']},
        ),
        ({"packages": ["numpy", "numpy"]}, {"packages": ["numpy"]}),
        ({"apt_packages": ["curl", "libgomp1"]}, {"apt_packages": ["libgomp1", "curl"]}),
        ({"env": {"A": "1", "B": "2"}}, {"env": {"B": "2", "A": "1"}}),
        ({"secret_mounts": ["a", "b"]}, {"secret_mounts": {"b": "/x/b", "a": None}}),
        ({"platform": "linux/arm64,linux/amd64"}, {"platform": "linux/amd64, linux/arm64"}),
        ({}, {"python_version": "3.11"}),  # the resolved default counts, not how it was given
        ({}, {"platform": "linux/amd64"}),
        ({}, {"builder": "docker"}),
        ({}, {"tag_format": None, "source_root": "src"}),
        (
            {"pip_index_url": "https://user:old@pypi.example.com/simple"},
            {"pip_index_url": "https://user:new@pypi.example.com/simple"},
        ),
    ],
)
def test_same_digest(a: dict[str, object], b: dict[str, object]) -> None:
    assert resolved(spec(**a)).digest == resolved(spec(**b)).digest


def test_registry_changes_ref_not_digest() -> None:
    local = resolved(spec())
    remote = resolved(spec(registry="127.0.0.1:5000/team"))
    assert local.digest == remote.digest
    assert str(local.ref) == f"img:{local.digest.hex[:20]}"
    assert str(remote.ref) == f"127.0.0.1:5000/team/img:{local.digest.hex[:20]}"
    assert remote.ref.registry == "127.0.0.1:5000"
    via_default = resolve(spec(), ResolveDefaults("3.11", "0.1.0", registry="r.example.com"))
    assert str(via_default.ref).startswith("r.example.com/img:")


# ------------------------------------------------------------ different ref


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ({"packages": ["numpy"]}, {"packages": ["numpy", "pandas"]}),
        ({"packages": ["numpy>=1"]}, {"packages": ["numpy>=2"]}),
        ({"apt_packages": ["curl"]}, {"apt_packages": ["wget"]}),
        ({"env": {"A": "1"}}, {"env": {"A": "2"}}),
        ({"commands": ["echo a", "echo b"]}, {"commands": ["echo b", "echo a"]}),
        ({}, {"python_version": "3.12"}),
        ({}, {"platform": "linux/arm64"}),
        ({}, {"runtime": False}),
        ({}, {"secret_mounts": ["token"]}),
        ({}, {"labels": {"team": "ml"}}),
        ({}, {"entrypoint": ["python"]}),
        ({}, {"base_image": "debian:bookworm"}),
        ({}, {"pip_index_url": "https://pypi.example.com/simple"}),
        (
            {"pip_extra_index_urls": ["https://a.example/simple", "https://b.example/simple"]},
            {"pip_extra_index_urls": ["https://b.example/simple", "https://a.example/simple"]},
        ),
    ],
)
def test_different_digest(a: dict[str, object], b: dict[str, object]) -> None:
    assert resolved(spec(**a)).digest != resolved(spec(**b)).digest


def test_defaults_count() -> None:
    s = spec()
    base = resolve(s, DEFAULTS).digest
    assert resolve(s, ResolveDefaults("3.12", "0.1.0")).digest != base
    assert resolve(s, ResolveDefaults("3.11", "0.2.0")).digest != base
    assert resolve(s, ResolveDefaults("3.11", "0.1.0", platform="linux/arm64")).digest != base
    assert resolve(s, ResolveDefaults("3.11", "0.1.0", python_base="my/python")).digest != base
    # Opting out of the runtime makes its version irrelevant.
    bare = spec(runtime=False)
    assert resolve(bare, DEFAULTS).digest == resolve(bare, ResolveDefaults("3.11", "9.9")).digest


def test_python_base_template() -> None:
    r = resolve(spec(python_version="3.12"), ResolveDefaults("3.11", "0.1.0"))
    assert r.base_image == "python:3.12-slim"
    r = resolve(spec(), ResolveDefaults("3.11", "0.1.0", python_base="reg/py:{python_version}"))
    assert r.base_image == "reg/py:3.11"


def test_base_spec_contributes_its_digest() -> None:
    parent = spec(packages=["numpy"], registry="127.0.0.1:5000")
    child = ImageSpec(name="child", base_image=parent, packages=["pandas"], base_dir=Path("/x"))
    r = resolved(child)
    assert r.base is not None
    assert r.base_image == str(resolved(parent).ref)
    assert canonical_inputs(r)["base"] == {"spec_digest": str(resolved(parent).digest)}
    # The child has the parent's venv and runtime: it installs neither again.
    assert not r.installs_tools and r.runtime_version is None
    changed = ImageSpec(
        name="child",
        base_image=parent.with_packages("scipy"),
        packages=["pandas"],
        base_dir=Path("/x"),
    )
    assert resolved(changed).digest != r.digest
    # ...but the parent's registry does not move the child's digest.
    moved = ImageSpec(
        name="child",
        base_image=spec(packages=["numpy"]),
        packages=["pandas"],
        base_dir=Path("/x"),
    )
    assert resolved(moved).digest == r.digest


def test_child_inherits_python_and_platform_from_parent() -> None:
    parent = spec(python_version="3.10", platform="linux/arm64")
    child = ImageSpec(name="child", base_image=parent, base_dir=Path("/x"))
    r = resolve(child, ResolveDefaults("3.12", "0.1.0"))
    assert r.python_version == "3.10" and r.platforms == ("linux/arm64",)


# ------------------------------------------------------------ files


def test_files_count_by_content(spec_folder: Callable[..., Path]) -> None:
    folder = spec_folder(SPEC, FILES)
    before = ref_of(load_one(folder))

    (folder / "unrelated.txt").write_text("not used by the spec")
    os.utime(folder / "requirements.txt", (1, 1))
    os.utime(folder / "assets" / "labels.json", (1, 1))
    assert ref_of(load_one(folder)) == before

    (folder / "requirements.txt").write_text("scikit-learn==1.5.1\n")
    after_requirements = ref_of(load_one(folder))
    assert after_requirements != before

    (folder / "assets" / "labels.json").write_text("[1, 2, 3]\n")
    after_asset = ref_of(load_one(folder))
    assert after_asset != after_requirements

    (folder / "assets" / "new.txt").write_text("x")
    after_new_file = ref_of(load_one(folder))
    assert after_new_file != after_asset

    (folder / "assets" / "new.txt").chmod(0o755)
    assert ref_of(load_one(folder)) != after_new_file


def test_absolute_location_does_not_count(spec_folder: Callable[..., Path], tmp_path: Path) -> None:
    folder = spec_folder(SPEC, FILES)
    elsewhere = tmp_path / "somewhere" / "else" / "entirely"
    shutil.copytree(folder, elsewhere)
    a, b = resolved(load_one(folder)), resolved(load_one(elsewhere))
    assert a.digest == b.digest
    assert str(folder) not in encode(canonical_inputs(a)).decode()


def test_pycache_is_ignored_in_copied_folders(spec_folder: Callable[..., Path]) -> None:
    folder = spec_folder(SPEC, FILES)
    before = ref_of(load_one(folder))
    (folder / "assets" / "__pycache__").mkdir()
    (folder / "assets" / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"\0")
    assert ref_of(load_one(folder)) == before


def test_uv_lock_brings_its_pyproject(spec_folder: Callable[..., Path]) -> None:
    folder = spec_folder(
        "from pack import ImageSpec\nimage = ImageSpec(name='x', requirements='lock/uv.lock')\n",
        {"lock/uv.lock": "version = 1\n", "lock/pyproject.toml": "[project]\nname='x'\n"},
    )
    r = resolved(load_one(folder))
    assert r.requirements is not None and r.requirements.kind == "uv.lock"
    assert [f.path for f in r.requirements.files] == ["lock/uv.lock", "lock/pyproject.toml"]
    before = r.digest
    (folder / "lock" / "pyproject.toml").write_text("[project]\nname='y'\n")
    assert resolved(load_one(folder)).digest != before


# ------------------------------------------------------------ tag


def test_tag_format() -> None:
    r = resolved(spec(tag_format="{name}-py{python}-{digest:.12}"))
    assert r.ref.tag == f"img-py3.11-{r.digest.hex[:12]}"
    nested = resolved(
        ImageSpec(name="team/img", tag_format="{name}-{digest:.8}", base_dir=Path("/x"))
    )
    assert nested.ref.tag == f"team-img-{nested.digest.hex[:8]}"


# ------------------------------------------------------------ golden values: the encoding is pinned


def test_golden_minimal() -> None:
    r = resolved(spec())
    assert encode(canonical_inputs(r)) == (
        b'{"apt_packages":[],"base":{"image":"python:3.11-slim"},"commands":[],"copy":[],'
        b'"encoding":"pack.imagespec/1","entrypoint":null,"env":{},"labels":{},'
        b'"packages":[],"pip_extra_index_urls":[],"pip_index_url":null,'
        b'"platforms":["linux/amd64"],"python":"3.11","requirements":null,'
        b'"runtime":"0.1.0","secret_ids":[],"tools":{"uv":"0.13.9"}}'
    )
    assert r.digest.hex == GOLDEN_MINIMAL
    # The salt is part of the pinned encoding too.
    assert hashlib.sha256(b"pack.imagespec/1\n" + encode(canonical_inputs(r))).hexdigest() == (
        GOLDEN_MINIMAL
    )


def test_golden_full(spec_folder: Callable[..., Path]) -> None:
    folder = spec_folder(SPEC, FILES)
    assert resolved(load_one(folder)).digest.hex == GOLDEN_FULL


GOLDEN_MINIMAL = "11df9df641bd7501e134bfc949ba35da634eedf57da80a4e78b0f455dc863338"
GOLDEN_FULL = "4956838cbc675ab22e617f98af36bf66b25b965f094643107088e7ba9d77922e"


# ------------------------------------------------------------ properties

_names = st.sampled_from(["numpy", "pandas", "scikit-learn", "requests", "zope.interface", "attrs"])
_apt = st.sampled_from(["curl", "libgomp1", "git", "wget", "ca-certificates"])
_env = st.dictionaries(
    st.from_regex(r"[A-Z][A-Z0-9_]{0,6}", fullmatch=True),
    st.text(max_size=5).filter(lambda v: "\n" not in v and "\r" not in v),
    max_size=5,
)


def _respell(name: str, data: st.DataObject) -> str:
    upper = data.draw(st.booleans())
    sep = data.draw(st.sampled_from(["-", "_", "."]))
    text = name.replace("-", sep).replace(".", sep)
    return text.upper() if upper else text


@settings(max_examples=60, deadline=None)
@given(
    packages=st.lists(_names, unique=True, max_size=5),
    apt=st.lists(_apt, unique=True, max_size=4),
    env=_env,
    data=st.data(),
)
def test_order_and_spelling_never_move_the_digest(
    packages: list[str], apt: list[str], env: dict[str, str], data: st.DataObject
) -> None:
    reference = resolved(spec(packages=packages, apt_packages=apt, env=env)).digest
    shuffled_packages = data.draw(st.permutations(packages))
    respelled = [_respell(p, data) for p in shuffled_packages]
    shuffled_apt = data.draw(st.permutations(apt))
    shuffled_env = dict(data.draw(st.permutations(list(env.items()))))
    other = spec(packages=respelled, apt_packages=shuffled_apt, env=shuffled_env)
    assert resolved(other).digest == reference


@settings(max_examples=40, deadline=None)
@given(commands=st.lists(st.sampled_from(["echo a", "echo b", "echo c"]), min_size=2, max_size=4))
def test_command_order_counts(commands: list[str]) -> None:
    reordered = list(reversed(commands))
    same = reordered == commands
    digests = {resolved(spec(commands=c)).digest for c in (commands, reordered)}
    assert (len(digests) == 1) == same


def test_normalize_requirement() -> None:
    assert normalize_requirement("Foo_Bar [B , a] >= 1.0 , < 2 ; python_version<'3.12'") == (
        'foo-bar[a,b]<2,>=1.0; python_version < "3.12"'
    )
    assert normalize_requirement("Pkg @ https://x/pkg.whl") == "pkg @ https://x/pkg.whl"
