from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

import pytest

from pack.errors import ConfigError
from pack.imagespec.dockercreds import credentials_for, default_config_path, normalize_host


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def no_helper(name: str, host: str) -> Mapping[str, Any] | None:
    raise AssertionError(f"helper {name} should not run")


def test_auths_entry_matches_any_spelling_of_the_host() -> None:
    config = {"auths": {"https://reg.example.com/v1/": {"auth": b64("u:p:with:colons")}}}
    creds = credentials_for("reg.example.com", config, origin="c", helper=no_helper)
    assert creds is not None and (creds.username, creds.password) == ("u", "p:with:colons")
    assert credentials_for("other.example.com", config, origin="c", helper=no_helper) is None


def test_cred_helper_for_host_wins_over_store_and_auths() -> None:
    calls: list[tuple[str, str]] = []

    def helper(name: str, host: str) -> Mapping[str, Any] | None:
        calls.append((name, host))
        return {"Username": "hu", "Secret": "hs"}

    config = {
        "credHelpers": {"reg.example.com": "ecr-login"},
        "credsStore": "desktop",
        "auths": {"reg.example.com": {"auth": b64("a:b")}},
    }
    creds = credentials_for("reg.example.com", config, origin="c", helper=helper)
    assert creds is not None and creds.username == "hu"
    assert calls == [("ecr-login", "reg.example.com")]


def test_store_without_entry_falls_back_to_auths() -> None:
    config = {"credsStore": "desktop", "auths": {"docker.io": {"auth": b64("a:b")}}}
    seen: list[str] = []

    def helper(name: str, host: str) -> Mapping[str, Any] | None:
        seen.append(host)
        return None

    creds = credentials_for("index.docker.io", config, origin="c", helper=helper)
    assert creds is not None and creds.username == "a"
    assert seen == ["https://index.docker.io/v1/"]


def test_helper_token_user_means_identity_token() -> None:
    config = {"credsStore": "x"}
    creds = credentials_for(
        "r", config, origin="c", helper=lambda n, h: {"Username": "<token>", "Secret": "rt"}
    )
    assert creds is not None and creds.identity_token == "rt"


def test_bad_auth_field_names_the_entry() -> None:
    with pytest.raises(ConfigError, match=r"auths\['r'\]"):
        credentials_for(
            "r", {"auths": {"r": {"auth": b64("nocolon")}}}, origin="c", helper=no_helper
        )


def test_normalize_and_path(tmp_path: Any) -> None:
    assert normalize_host("https://Registry-1.docker.io/v2/") == "docker.io"
    assert normalize_host("http://127.0.0.1:5001") == "127.0.0.1:5001"
    assert default_config_path(None, tmp_path) == tmp_path / ".docker" / "config.json"
    assert default_config_path(tmp_path / "d", tmp_path) == tmp_path / "d" / "config.json"


def test_real_helper_program_is_run_with_the_host_on_stdin(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json
    import os

    from pack.imagespec.dockercreds import DockerCredentials

    helper = tmp_path / "bin" / "docker-credential-packtest"
    helper.parent.mkdir()
    helper.write_text(
        "#!/bin/sh\nread host\n"
        'if [ "$host" = "reg.example.com" ]; then\n'
        '  echo "{\\"ServerURL\\":\\"$host\\",\\"Username\\":\\"hu\\",\\"Secret\\":\\"hs\\"}"\n'
        "else echo 'credentials not found in native keychain'; exit 1; fi\n"
    )
    helper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{helper.parent}{os.pathsep}{os.environ['PATH']}")
    config = tmp_path / "config.json"
    config.write_text(
        json.dumps({"credHelpers": {"reg.example.com": "packtest"}, "credsStore": "packtest"})
    )
    creds = DockerCredentials(config)
    found = creds.get("reg.example.com")
    assert found is not None and (found.username, found.password) == ("hu", "hs")
    assert creds.get("other.example.com") is None  # "not found" is no entry, not an error
    assert "hs" not in repr(found)
