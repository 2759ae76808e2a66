"""`pack build FILE`: reuse or build and push every ImageSpec in a spec file.

Kept light on purpose: with every image recorded as present, this command reads the
spec file, hashes, checks the local record and exits, importing neither jinja2 nor
rich (both come in only when something is rendered or drawn on a TTY).
"""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from pack.cli.common import config_from, echo_json, is_tty, output_option

if TYPE_CHECKING:
    from pack.config import Config
    from pack.imagespec.ensure import Outcome


class PlainProgress:
    """`[variable] line` on stderr; one lock keeps parallel builds' lines whole."""

    def __init__(self) -> None:
        self._lock = threading.Lock()

    def line(self, label: str, text: str) -> None:
        with self._lock:
            click.echo(f"[{label}] {text}", err=True)

    def close(self) -> None:
        pass


class RichProgress:
    """On a TTY: step lines (`#N [i/n] …`) printed, other output shown as a live status."""

    def __init__(self) -> None:
        from rich.console import Console

        self.console = Console(stderr=True, highlight=False)
        self._status = self.console.status("resolving images…")
        self._status.start()
        self._lock = threading.Lock()

    def line(self, label: str, text: str) -> None:
        from rich.markup import escape

        with self._lock:
            if " [" in text and text.startswith("#") and "]" in text or "ERROR" in text:
                self.console.print(f"[bold]{escape(label)}[/] {escape(text)}")
            else:
                room = max(20, self.console.width - len(label) - 6)
                self._status.update(f"[bold]{escape(label)}[/] [dim]{escape(text[:room])}[/]")

    def close(self) -> None:
        self._status.stop()


def _parse_secrets(values: tuple[str, ...]) -> dict[str, Path]:
    from pack.errors import UsageError

    out: dict[str, Path] = {}
    for value in values:
        sid, sep, path = value.partition("=")
        if not sep or not sid or not path:
            raise UsageError(f"--secret {value!r}: expected ID=PATH")
        out[sid] = Path(path).expanduser()
    return out


def _dry_run(specs: dict[str, Any], config: Config, as_json: bool) -> None:
    from pack.imagespec import dockerfile as df
    from pack.imagespec.hashing import defaults_from_config, resolve
    from pack.imagespec.plan import plan

    defaults = defaults_from_config(config)
    cache: dict[int, Any] = {}
    rows = []
    for wave in plan(specs):
        for node in wave:
            r = resolve(node.spec, defaults, cache)
            for warning in r.warnings:
                click.echo(f"pack: warning: {warning}", err=True)
            files = sorted(df.context_files(r))
            if df.needs_runtime_wheel(r):
                files.append(f"{df.RUNTIME_WHEEL_DIR}/pack-*.whl")
            rows.append(
                {
                    "variable": node.label,
                    "ref": str(r.ref),
                    "spec_digest": str(r.digest),
                    "dockerfile": df.render(r),
                    "context": files,
                }
            )
    if as_json:
        echo_json(rows)
        return
    for row in rows:
        click.echo(f"# {row['variable']}: {row['ref']}")
        click.echo(f"# context: {', '.join(row['context']) or '(empty)'}")
        click.echo(row["dockerfile"])


def _report(outcomes: list[Outcome]) -> None:
    width = max((len(o.variable) for o in outcomes), default=0)
    for o in outcomes:
        click.echo(f"{o.variable:<{width}}  {o.status:<7}  {o.ref}  ({o.seconds:.1f}s)")


@click.command(name="build")
@click.argument("spec_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Print each ref and Dockerfile; talk to no server.")
@click.option("--check", is_flag=True, help="Only report; exit 1 if any image is missing.")
@click.option("--force", is_flag=True, help="Rebuild even when the image exists.")
@click.option("--no-push", is_flag=True, help="Build into the local engine only.")
@click.option(
    "--secret",
    "secrets",
    multiple=True,
    metavar="ID=PATH",
    help="Source file for a secret_mounts id the spec leaves without one (repeatable).",
)
@click.option(
    "--builder",
    type=click.Choice(["docker", "oci"]),
    default=None,
    help="Build with BuildKit through a Docker engine, or daemonless (oci: layers written "
    "here, pushed to the registry). Default: each spec's builder, else [tool.pack] builder.",
)
@click.option("--jobs", "-j", type=click.IntRange(1, 32), default=4, show_default=True)
@output_option
def command(
    spec_file: Path,
    dry_run: bool,
    check: bool,
    force: bool,
    no_push: bool,
    secrets: tuple[str, ...],
    builder: str | None,
    jobs: int,
    output: str,
) -> None:
    """Reuse or build and push every ImageSpec in SPEC_FILE."""
    from pack.errors import BuildError, UsageError
    from pack.imagespec.load import load_specs

    if check and force:
        raise UsageError("--check and --force contradict each other; use one")
    secret_sources = _parse_secrets(secrets)
    config = config_from()
    specs = load_specs(spec_file)
    if dry_run:
        _dry_run(specs, config, output == "json")
        return

    from pack.imagespec.ensure import FAILED, MISSING, ensure_all, ensurer_from_config
    from pack.imagespec.hashing import defaults_from_config

    progress: PlainProgress | RichProgress
    progress = RichProgress() if is_tty() and output != "json" else PlainProgress()
    try:
        ensurer = ensurer_from_config(
            config,
            os.environ,
            progress=progress,
            force=force,
            check=check,
            push=not no_push,
            secret_sources=secret_sources,
            jobs=jobs,
            builder=builder,
        )
        outcomes = ensure_all(
            specs,
            defaults_from_config(config),
            ensurer,
            on_warning=lambda m: click.echo(f"pack: warning: {m}", err=True),
        )
    finally:
        progress.close()
    if output == "json":
        echo_json([o.as_json() for o in outcomes])
    else:
        _report(outcomes)
    failed = [o for o in outcomes if o.status == FAILED]
    for o in failed:
        error = o.error or "failed"
        shown = error if error.startswith(f"{o.variable}:") else f"{o.variable}: {error}"
        click.echo(f"pack: {shown}", err=True)
    if failed:
        raise BuildError(f"{len(failed)} of {len(outcomes)} images failed")
    if check and any(o.status == MISSING for o in outcomes):
        sys.stdout.flush()
        raise click.exceptions.Exit(1)
