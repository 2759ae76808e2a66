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


_TOKENED = [
    "https://user:tok-secret-1@pypi.example.com/simple",
    "https://pypi.fury.io/tok-secret-1/simple/",
    "https://gitlab.example.com/simple?private_token=tok-secret-1",
]


@pytest.mark.parametrize("url", _TOKENED)
@pytest.mark.parametrize("fieldname", ["pip_index_url", "pip_extra_index_urls"])
def test_a_rejected_index_url_is_redacted_even_for_a_trailing_newline(
    url: str, fieldname: str
) -> None:
    value: object = url + "\n" if fieldname == "pip_index_url" else [url + "\n"]
    with pytest.raises(SpecError, match=fieldname) as info:
        ImageSpec(name="img", **{fieldname: value})  # type: ignore[arg-type]
    assert "tok-secret-1" not in str(info.value)
    assert "example.com" in str(info.value) or "fury.io" in str(info.value)


@pytest.mark.parametrize("url", _TOKENED)
def test_repr_and_hash_inputs_hold_no_index_token(url: str, tmp_path: Path) -> None:
    import json

    from pack.imagespec.hashing import ResolveDefaults, canonical_inputs, resolve

    spec = ImageSpec(name="img", pip_index_url=url, pip_extra_index_urls=[url], base_dir=tmp_path)
    assert "tok-secret-1" not in repr(spec)
    assert "pip_index_url='https://" in repr(spec)
    inputs = canonical_inputs(resolve(spec, ResolveDefaults("3.11", "0.1.0")))
    assert "tok-secret-1" not in json.dumps(inputs)


def test_redact_url_keeps_scheme_and_host_only() -> None:
    from pack.imagespec.spec import redact_url

    assert redact_url("https://u:p@h.example:8443/a/b?t=1") == "https://h.example:8443/…"
    assert redact_url("https://h.example?token=x") == "https://h.example/…"
    assert redact_url("https://h.example/") == "https://h.example"
    assert redact_url("u:p@h/simple") == "h/…"
