"""One S3 endpoint per process: every way of opening a store uses it, the CLI sets it
from its Config and the entrypoints from the pod's env."""

from __future__ import annotations

from pathlib import Path

import pytest

from pack.config import load_config
from pack.errors import ConfigError
from pack.launcher.entrypoint import use_pod_store_settings
from pack.packager.s3 import S3Store
from pack.packager.store import open_store, s3_endpoint, split_url, use_s3_endpoint


def test_every_store_opened_uses_the_process_endpoint() -> None:
    use_s3_endpoint("http://127.0.0.1:9")
    store = open_store("s3://bucket/prefix")
    obj, key = split_url("s3://bucket/runs/r1/attempts/1/outputs.pb")
    assert isinstance(store, S3Store) and isinstance(obj, S3Store)
    assert store.endpoint_url == obj.endpoint_url == "http://127.0.0.1:9"
    assert key == "outputs.pb"
    use_s3_endpoint(None)
    assert open_store("s3://bucket/prefix").endpoint_url is None  # type: ignore[attr-defined]


def test_entrypoints_take_the_endpoint_from_the_pod_env() -> None:
    use_pod_store_settings({"PACK_S3_ENDPOINT_URL": "http://10.0.0.5:9000"})
    assert s3_endpoint() == "http://10.0.0.5:9000"
    use_pod_store_settings({})
    assert s3_endpoint() is None


def test_cli_config_sets_the_endpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pack.cli.common import config_from

    (tmp_path / "pyproject.toml").write_text(
        '[tool.pack]\ns3_endpoint_url = "http://127.0.0.1:9000"\n'
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PACK_S3_ENDPOINT_URL", raising=False)
    assert config_from().s3_endpoint_url == "http://127.0.0.1:9000"
    assert s3_endpoint() == "http://127.0.0.1:9000"


@pytest.mark.parametrize(
    "value", ["127.0.0.1:9000", "ftp://h", "http://h:99999", "http://h/\n", "http://h/?x=1"]
)
def test_bad_endpoint_is_one_line_naming_the_key(value: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^PACK_S3_ENDPOINT_URL: s3_endpoint_url must be an"):
        load_config(tmp_path, {"PACK_S3_ENDPOINT_URL": value})


def test_endpoint_with_credentials_is_refused_without_echoing_them(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path, {"PACK_S3_ENDPOINT_URL": "http://AKIA:s3cr3t@127.0.0.1:9000"})
    assert "s3cr3t" not in str(info.value) and "must not carry credentials" in str(info.value)
