from __future__ import annotations

from pathlib import Path

import pytest

from pack.errors import SpecError
from pack.imagespec.spec import FrozenMap, ImageSpec


@pytest.mark.parametrize(
    ("kwargs", "field", "value"),
    [
        ({"packages": ["numpy>>1"]}, "packages", "numpy>>1"),
        ({"packages": ["numpy", ""]}, "packages", "''"),
        ({"platform": "linux/amd65"}, "platform", "linux/amd65"),
        ({"platform": "windows/amd64"}, "platform", "windows/amd64"),
        ({"platform": "linux/amd64,linux/amd64"}, "platform", "linux/amd64"),
        ({"python_version": "3"}, "python_version", "'3'"),
        ({"apt_packages": ["lib gomp"]}, "apt_packages", "lib gomp"),
        ({"env": {"1BAD": "x"}}, "env", "1BAD"),
        ({"env": {"A": 1}}, "env", "1"),
        ({"copy": ["/etc/passwd"]}, "copy", "/etc/passwd"),
        ({"copy": ["../outside"]}, "copy", "../outside"),
        ({"commands": ["echo a\necho b"]}, "commands", "echo a"),
        ({"tag_format": "{name}"}, "tag_format", "{digest}"),
        ({"tag_format": "{digest}-{branch}"}, "tag_format", "{branch}"),
        ({"tag_format": "v/{digest}"}, "tag_format", "v/"),
        ({"registry": "not a host"}, "registry", "not a host"),
        ({"pip_index_url": "ftp://x"}, "pip_index_url", "ftp://x"),
        ({"secret_mounts": ["pack-ca"]}, "secret_mounts", "pack-ca"),
        ({"runtime": "yes"}, "runtime", "yes"),
        ({"entrypoint": []}, "entrypoint", "[]"),
    ],
)
def test_invalid_field_is_one_line_naming_field_and_value(
    kwargs: dict[str, object], field: str, value: str
) -> None:
    with pytest.raises(SpecError) as info:
        ImageSpec(name="img", **kwargs)  # type: ignore[arg-type]
    message = str(info.value)
    assert "\n" not in message
    assert f"{field}:" in message
    assert value in message


@pytest.mark.parametrize("name", ["", "UPPER", "has space", "-lead", "a//b"])
def test_invalid_name(name: str) -> None:
    with pytest.raises(SpecError, match="name"):
        ImageSpec(name=name)


@pytest.mark.parametrize(
    "url", ["gopher://user:hunter2@host/simple", "user:hunter2@host/simple", "user:hunter2@host"]
)
@pytest.mark.parametrize("fieldname", ["pip_index_url", "pip_extra_index_urls"])
def test_credentials_in_index_url_are_not_echoed(url: str, fieldname: str) -> None:
    value: object = url if fieldname == "pip_index_url" else [url]
    with pytest.raises(SpecError, match=fieldname) as info:
        ImageSpec(name="img", **{fieldname: value})  # type: ignore[arg-type]
    assert "hunter2" not in str(info.value) and "host" in str(info.value)


def test_lists_are_stored_as_tuples_and_maps_frozen() -> None:
    spec = ImageSpec(
        name="img",
        packages=["numpy", "pandas"],
        apt_packages=["libgomp1"],
        env={"A": "1"},
        secret_mounts=["tok"],
        entrypoint="python -m app",
        platform="linux/amd64, linux/arm64",
    )
    assert spec.packages == ("numpy", "pandas")
    assert spec.apt_packages == ("libgomp1",)
    assert isinstance(spec.env, FrozenMap) and spec.env == {"A": "1"}
    assert dict(spec.secret_mounts) == {"tok": None}
    assert spec.entrypoint == ("python", "-m", "app")
    assert spec.platform == "linux/amd64,linux/arm64"
    hash(spec)  # frozen specs are hashable (usable as dict keys, in sets)
    with pytest.raises(AttributeError):
        spec.name = "other"  # type: ignore[misc]


def test_with_methods_return_new_specs() -> None:
    spec = ImageSpec(name="img", packages=["numpy"], env={"A": "1"}, base_dir=Path("/x"))
    more = spec.with_packages("pandas").with_apt_packages(["curl"]).with_commands("echo hi")
    more = more.with_env(B="2")
    assert spec.packages == ("numpy",) and spec.env == {"A": "1"}
    assert more.packages == ("numpy", "pandas")
    assert more.apt_packages == ("curl",)
    assert more.commands == ("echo hi",)
    assert more.env == {"A": "1", "B": "2"}
    assert more.base_dir == Path("/x")
    with pytest.raises(SpecError):
        spec.with_packages("numpy>>1")


def test_base_dir_defaults_to_the_calling_file_folder() -> None:
    spec = ImageSpec(name="img")
    assert spec.base_dir == Path(__file__).resolve().parent


def test_explicit_base_dir_wins(tmp_path: Path) -> None:
    assert ImageSpec(name="img", base_dir=tmp_path).base_dir == tmp_path


def test_base_image_may_be_a_spec() -> None:
    base = ImageSpec(name="base")
    child = ImageSpec(name="child", base_image=base)
    assert child.base_image is base
