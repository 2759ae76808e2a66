"""Backends are opened by name; an option a backend does not know is an error, not ignored."""

from __future__ import annotations

import pytest

from pack.config import Config
from pack.errors import LaunchError
from pack.launcher.run import open_backend


@pytest.mark.parametrize("name", ["local", "docker", "kubernetes"])
def test_unknown_option_is_rejected(name: str) -> None:
    with pytest.raises(TypeError, match="unexpected keyword argument 'kep'"):
        open_backend(name, Config(store="s3://bucket/prefix"), {}, kep=True)


def test_local_backend_takes_no_keep() -> None:
    with pytest.raises(TypeError, match="keep"):
        open_backend("local", Config(), {}, keep=True)


def test_unknown_backend_names_the_valid_ones() -> None:
    with pytest.raises(LaunchError, match="valid: local, docker, kubernetes"):
        open_backend("nomad", Config(), {})
