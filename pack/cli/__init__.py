"""The `pack` command: a click group whose subcommands are imported only when used.

Keeping imports lazy keeps `pack --help` and a cached `pack build` fast: no
boto3, kubernetes or docker client is imported until a command needs it.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

# name -> (module, attribute, one-line help shown by `pack --help` without importing the module)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "hash": ("pack.cli.hash", "command", "Print the tag each ImageSpec in a spec file hashes to."),
    "build": (
        "pack.cli.build",
        "command",
        "Reuse or build and push every ImageSpec in a spec file.",
    ),
    "package": ("pack.cli.package", "command", "Bundle local code and upload it once to a store."),
    "run": (
        "pack.cli.run",
        "command",
        "Run a task from a local file with its code shipped as a bundle.",
    ),
    "render": ("pack.cli.render", "command", "Print the Kubernetes pod a task would run in."),
    "status": ("pack.cli.status", "status", "Show the state of a detached run."),
    "logs": ("pack.cli.status", "logs", "Print the logs of a run."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            return None
        module_name, attr, _ = entry
        return getattr(importlib.import_module(module_name), attr)  # type: ignore[no-any-return]

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][2]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="pack", prog_name="pack")
def cli() -> None:
    """pack: build images from ImageSpecs and run Python tasks on a cluster."""


def main(argv: list[str] | None = None) -> Any:
    """Console-script entry: maps PackError to a one-line message and its exit code."""
    from pack.errors import PackError

    try:
        return cli.main(args=argv, prog_name="pack", standalone_mode=False)
    except PackError as exc:
        click.echo(f"pack: error: {exc.message}", err=True)
        if exc.hint:
            click.echo(f"hint: {exc.hint}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        sys.exit(130)
