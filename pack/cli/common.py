"""Helpers shared by the CLI commands: the Config, JSON output, TTY detection."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO, TypeVar

import click

from pack.config import Config, load_config

F = TypeVar("F", bound=Callable[..., Any])

output_option = click.option(
    "--output",
    "-o",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Report format.",
)

COPY_MODES = ("all", "auto", "none")
# One default for every command that ships code: `auto` leaves data files out.
DEFAULT_COPY = "all"


def copy_option(help_text: str) -> Callable[[F], F]:
    """`--copy all|auto|none`, the same choice and default on every command taking it."""
    return click.option(
        "--copy",
        type=click.Choice(COPY_MODES),
        default=DEFAULT_COPY,
        show_default=True,
        help=help_text,
    )


follow_links_option = click.option(
    "--follow-links",
    is_flag=True,
    help="Bundle what symlinks leaving the source root point to instead of refusing them.",
)


def config_from(**overrides: Any) -> Config:
    """The one place the CLI reads the environment and the working directory. The S3
    endpoint configured there is the one every store access of the command uses."""
    from pack.atomic import private_dir
    from pack.packager.store import use_network_timeout, use_s3_endpoint

    config = load_config(Path.cwd(), os.environ, overrides)
    use_s3_endpoint(config.s3_endpoint_url)
    use_network_timeout(config.network_timeout)
    private_dir(config.cache_dir)  # before any command writes below it
    return config


def local_time(seconds: float | None) -> str:
    """Seconds since the epoch as local date and time, for listings ('-' when unknown)."""
    import datetime as dt

    if not seconds:
        return "-"
    return dt.datetime.fromtimestamp(seconds).strftime("%Y-%m-%d %H:%M:%S")


def echo_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, sort_keys=True, default=str))


def is_tty(stream: TextIO | None = None) -> bool:
    """Whether `stream` (default stderr, where progress goes) is a terminal outside CI."""
    return (stream or sys.stderr).isatty() and not os.environ.get("CI")
