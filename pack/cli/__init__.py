"""The `pack` command: a click group whose subcommands are imported only when used.

Keeping imports lazy keeps `pack --help` and a cached `pack build` fast: no
boto3, kubernetes or docker client is imported until a command needs it.
"""

from __future__ import annotations

import importlib
import sys
from typing import TYPE_CHECKING, Any, NoReturn

import click

if TYPE_CHECKING:
    from pack.errors import PackError
    from pack.interrupts import Stop

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
    "runs": ("pack.cli.runs", "command", "List runs, newest first."),
    "status": (
        "pack.cli.status",
        "status",
        "Show the state of a run and the tree of task calls it made.",
    ),
    "logs": ("pack.cli.status", "logs", "Print the log of a run."),
    "outputs": ("pack.cli.outputs", "outputs", "Print (or download) the outputs of a run."),
    "inputs": ("pack.cli.outputs", "inputs", "Print the inputs of a run."),
    "deck": ("pack.cli.deck", "command", "Print the path of a local copy of a run's deck.html."),
    "gc": ("pack.cli.gc", "command", "Delete runs, bundles and image records past an age."),
    "ui": ("pack.cli.ui", "command", "Serve a web console of the runs in a store (pack[ui])."),
    "cancel": (
        "pack.cli.cancel",
        "command",
        "Stop a run and everything it started (pods, containers, processes).",
    ),
    "k8s": ("pack.cli.k8s", "group", "Kubernetes setup for pack (the RBAC a driver pod needs)."),
}


class CliState:
    """What the global options set for this invocation (the root context's obj). A plain
    class: importing dataclasses would cost `pack --help` ~9 ms."""

    def __init__(self) -> None:
        self.verbose = False


def _set_verbose(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    state = ctx.find_object(CliState)
    if value and state is not None:
        state.verbose = True


def verbose_option() -> click.Option:
    return click.Option(
        ["-v", "--verbose"],
        is_flag=True,
        expose_value=False,
        callback=_set_verbose,
        help="On an error, also print the traceback behind it.",
    )


class _Stopped(Exception):
    """A KeyboardInterrupt on its way through click to `main`."""


class LazyGroup(click.Group):
    """Subcommands imported on use; each also takes -v (`pack build -v spec.py` as well
    as `pack -v build spec.py`)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = COMMANDS.get(cmd_name)
        if entry is None:
            return None
        module_name, attr, _ = entry
        command: click.Command = getattr(importlib.import_module(module_name), attr)
        if not any(p.name == "verbose" for p in command.params):
            command.params.append(verbose_option())
        return command

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            # click would print an empty line and raise Abort; main prints one line.
            raise _Stopped() from None

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][2]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="pack", prog_name="pack")
def cli() -> None:
    """pack: build images from ImageSpecs and run Python tasks on a cluster."""


cli.params.append(verbose_option())


def report(exc: PackError, verbose: bool) -> None:
    """The one-line error (and hint). The exception behind it (`__cause__`, e.g. what
    the user's code raised on import) is printed in full under -v; without -v the line
    offers it when that traceback goes through the user's files."""
    cause = exc.__cause__
    message = exc.message
    if cause is not None and cause.__traceback__ is not None:
        if verbose:
            import traceback

            click.echo("".join(traceback.format_exception(cause)).rstrip(), err=True)
        else:
            from pack.tracebacks import innermost_user_location

            if innermost_user_location(cause) is not None:
                message += "; -v shows the traceback"
    click.echo(f"pack: error: {message}", err=True)
    if exc.hint:
        click.echo(f"hint: {exc.hint}", err=True)


def main(argv: list[str] | None = None) -> Any:
    """Console-script entry: maps PackError to a one-line message and its exit code.

    Ctrl-C or SIGTERM anywhere below: the work unwinds through its cleanup (nothing half
    written stays visible), then one line and exit 130 (143 for SIGTERM)."""
    from pack.interrupts import stop_on_signals

    with stop_on_signals() as stop:
        try:
            return _main(argv, stop)
        except KeyboardInterrupt:  # arrived while an error was being reported
            stopped(stop, stop.word)


def _main(argv: list[str] | None, stop: Stop) -> Any:
    from pack.errors import Interrupted, PackError

    state = CliState()
    try:
        return cli.main(args=argv, prog_name="pack", standalone_mode=False, obj=state)
    except Interrupted as exc:  # a backend says what it stopped
        stopped(stop, exc.message)
    except PackError as exc:
        report(exc, state.verbose)
        sys.exit(exc.exit_code)
    except (KeyboardInterrupt, click.exceptions.Abort, _Stopped):
        stopped(stop, stop.word)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)


def stopped(stop: Stop, message: str) -> NoReturn:
    # On a terminal the line starts after the echoed ^C.
    lead = "\n" if sys.stderr.isatty() else ""
    click.echo(f"{lead}pack: {message}", err=True)
    sys.exit(stop.exit_code)
