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
