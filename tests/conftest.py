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
