"""Shared test setup: every test gets its own pack cache dir, never the user's."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _isolated_cache(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    cache = tmp_path_factory.mktemp("pack-cache")
    monkeypatch.setenv("PACK_CACHE_DIR", str(cache))
    return cache


@pytest.fixture(autouse=True)
def _no_process_s3_endpoint() -> object:
    """The S3 endpoint is one setting per process (`use_s3_endpoint`): a test that
    set one (or ran a CLI command that did) must not hand it to the next test."""
    from pack.packager.store import use_network_timeout, use_s3_endpoint

    use_s3_endpoint(None)
    use_network_timeout(None)
    yield
    use_s3_endpoint(None)
    use_network_timeout(None)


@pytest.fixture(autouse=True)
def _no_light_s3(monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process tests use boto3 (a process's default is the boto3-free client wherever
    its environment allows, and the entrypoints turn it on); a test that wants the light
    client turns it on itself, and leaves nothing on for the tests after it."""
    from pack.packager import store

    monkeypatch.setattr(store, "_light_s3", False)
