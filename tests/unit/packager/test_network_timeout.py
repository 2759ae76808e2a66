"""`network_timeout`: how long a store or registry may stay silent before a request counts
as failed and is retried. One setting, read like the endpoint: the CLI from its Config, the
pod's entrypoints from the env render puts it in, the registry client from the Config."""

from __future__ import annotations

from pathlib import Path

import pytest

from pack.config import load_config
from pack.errors import ConfigError
from pack.launcher.entrypoint import use_pod_store_settings
from pack.packager.s3 import S3Store, shared_client
from pack.packager.store import network_timeout, open_store, split_url, use_network_timeout

pytestmark = pytest.mark.usefixtures("fake_aws")


def test_every_s3_store_opened_uses_the_process_timeout() -> None:
    use_network_timeout(2.5)
    store = open_store("s3://bucket/prefix")
    obj, _ = split_url("s3://bucket/runs/r1/inputs.pb")
    assert isinstance(store, S3Store) and isinstance(obj, S3Store)
    config = store.client.meta.config
    assert (config.connect_timeout, config.read_timeout) == (2.5, 2.5)
    assert obj.client is store.client
    use_network_timeout(None)
    default = open_store("s3://bucket/prefix").client.meta.config  # type: ignore[attr-defined]
    assert (default.connect_timeout, default.read_timeout) == (60, 60)  # boto3's own


def test_clients_of_other_timeouts_are_not_shared() -> None:
    assert shared_client("http://127.0.0.1:1", 3.0) is not shared_client("http://127.0.0.1:1")


def test_config_reads_it_from_toml_and_env(tmp_path: Path) -> None:
    project, other = tmp_path / "project", tmp_path / "other"
    project.mkdir()
    other.mkdir()
    (project / "pyproject.toml").write_text("[tool.pack]\nnetwork_timeout = 7\n")
    assert load_config(project, {}).network_timeout == 7.0
    assert load_config(project, {"PACK_NETWORK_TIMEOUT": "0.5"}).network_timeout == 0.5
    assert load_config(other, {}).network_timeout is None


@pytest.mark.parametrize("value", ["0", "-1", "soon", "inf", "nan", "1s"])
def test_a_bad_timeout_is_one_line_naming_the_key(value: str, tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError,
        match=r"^PACK_NETWORK_TIMEOUT: network_timeout must be a positive number of seconds",
    ):
        load_config(tmp_path, {"PACK_NETWORK_TIMEOUT": value})


def test_cli_config_sets_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pack.cli.common import config_from

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PACK_NETWORK_TIMEOUT", "4")
    assert config_from().network_timeout == 4.0
    assert network_timeout() == 4.0


def test_entrypoints_take_it_from_the_pod_env() -> None:
    use_pod_store_settings({"PACK_NETWORK_TIMEOUT": "3"})
    assert network_timeout() == 3.0
    for unset in ({}, {"PACK_NETWORK_TIMEOUT": "x"}, {"PACK_NETWORK_TIMEOUT": "-2"}):
        use_pod_store_settings(unset)
        assert network_timeout() is None


def test_the_registry_client_of_a_command_uses_it(tmp_path: Path) -> None:
    from pack.imagespec.ensure import ensurer_from_config

    config = load_config(tmp_path, {"PACK_NETWORK_TIMEOUT": "1.5"})
    ensurer = ensurer_from_config(config, {"HOME": str(tmp_path)})
    assert ensurer.registry.transport.timeout == 1.5  # type: ignore[attr-defined]
    default = ensurer_from_config(load_config(tmp_path, {}), {"HOME": str(tmp_path)})
    assert default.registry.transport.timeout == 30.0  # type: ignore[attr-defined]
