"""`pack run [OPTIONS] FILE TASK [--param value ...]`: run a task with its code as a bundle."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click

from pack.cli.common import config_from, echo_json

CONTEXT = {
    "help_option_names": ["-h", "--help"],
    # Everything after FILE belongs to the task: `pack run wf.py main --help` is the task's help.
    "allow_interspersed_args": False,
    "ignore_unknown_options": True,
}


def resolve_task(
    file: str, args: tuple[str, ...], verb: str
) -> tuple[Any, Any, Mapping[str, Any] | None]:
    """Load FILE, pick TASK from `args`, parse the rest as the task's options."""
    from pack.errors import UsageError
    from pack.launcher.load import import_source, load_task, source_of, tasks_in
    from pack.launcher.params import parse_task_args

    if not args or args[0] in ("-h", "--help"):
        source = source_of(Path(file))
        names = ", ".join(sorted(tasks_in(import_source(source)))) or "none"
        if args:
            click.echo(f"Usage: pack {verb} [OPTIONS] {file} TASK [TASK OPTIONS]\n\nTasks: {names}")
            sys.exit(0)
        raise UsageError(f"missing TASK after {file}; tasks in this file: {names}")
    task, source = load_task(Path(file), args[0])
    values = parse_task_args(task, list(args[1:]), f"pack {verb} {file} {args[0]}")
    return task, source, values


@click.command(context_settings=CONTEXT)
@click.option(
    "--copy",
    type=click.Choice(["all", "auto", "none"]),
    default="auto",
    show_default=True,
    help="Code to ship: all files under the source root, the entry file and what it imports, or none (the code is in the image).",
)
@click.option(
    "--backend",
    type=click.Choice(["local", "docker", "kubernetes"]),
    default=None,
    help="Where to run (default: config `backend`, else local).",
)
@click.option(
    "--store", default=None, help="Store URL for bundles, inputs and outputs (file:///… or s3://…)."
)
@click.option("--project", default=None, help="Project recorded on the execution.")
@click.option("--domain", default=None, help="Domain recorded on the execution.")
@click.option(
    "--output",
    "-o",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Report format.",
)
@click.argument("file", type=click.Path(dir_okay=False))
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def command(
    copy: str,
    backend: str | None,
    store: str | None,
    project: str | None,
    domain: str | None,
    output: str,
    file: str,
    args: tuple[str, ...],
) -> None:
    """Run TASK from FILE: package its code, then run it as a pod would.

    Task inputs are options after TASK; `pack run FILE TASK --help` lists them.
    """
    from pack.launcher.run import open_backend, run

    config = config_from(store=store, backend=backend, project=project, domain=domain)
    task, source, values = resolve_task(file, args, "run")
    if values is None:
        return
    be = open_backend(config.backend, config, os.environ, log_sink=sys.stderr)
    try:
        result = run(
            task,
            source,
            values,
            config=config,
            backend=be,
            copy=copy,
            on_warning=lambda m: click.echo(f"pack: warning: {m}", err=True),
            on_attempt=lambda a, e: _report_attempt(a, e, task.retries),
        )
    finally:
        be.close()
    if output == "json":
        echo_json(result.as_json())
    elif result.succeeded:
        for value in result.outputs.values():
            click.echo(_plain(value))
        click.echo(
            f"pack: {result.task} succeeded (execution {result.execution.id}, "
            f"{result.timings.get('total', 0.0):.2f}s); artifacts: {result.execution.run_prefix}",
            err=True,
        )
    if not result.succeeded:
        raise result.failure()


def _report_attempt(attempt: Any, error: Any, retries: int) -> None:
    if attempt.succeeded or attempt.attempt > retries:
        return
    if error is not None and error.recoverable:
        click.echo(
            f"pack: attempt {attempt.attempt} failed with {error.code} (recoverable); retrying",
            err=True,
        )


def _plain(value: Any) -> str:
    from pack.launcher.run import jsonable
    from pack.launcher.types.files import _Ref

    if isinstance(value, _Ref):
        return str(value.uri)
    if isinstance(value, str):
        return value
    if isinstance(value, float | int | bool) or value is None:
        return repr(value)
    return repr(value) if not isinstance(value, list | dict) else str(jsonable(value))
