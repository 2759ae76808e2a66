"""`pack runs`: the runs a store holds, newest first, read from its time-ordered index."""

from __future__ import annotations

from typing import Any, cast

import click

from pack.cli.common import config_from, echo_json, local_time, output_option
from pack.runs.record import STATUSES


def _took(record: Any) -> str:
    total = record.timings.get("total")
    if isinstance(total, int | float):
        return f"{total:.2f}s"
    return "-"


@click.command("runs")
@click.option("--limit", "-n", type=click.IntRange(1, 10_000), default=20, show_default=True)
@click.option(
    "--status", type=click.Choice(STATUSES), default=None, help="Only runs in this state."
)
@click.option("--task", default=None, help="Only runs of this task (`module.name` or `name`).")
@click.option("--store", default=None, help="The store to list (default: the configured one).")
@output_option
def command(
    limit: int, status: str | None, task: str | None, store: str | None, output: str
) -> None:
    """List runs, newest first (workflow children are shown by `pack status ID`)."""
    from pack.runs.runstore import RunStore
    from pack.runs.settle import settle

    config = config_from(store=store)
    runs = RunStore.open(config.store_url)
    records = runs.recent(
        limit=limit,
        status=cast(Any, status),
        task=task,
        refresh=lambda record: settle(runs, record),
    )
    if output == "json":
        echo_json([r.to_dict() for r in records])
        return
    if not records:
        click.echo(f"no runs in {runs.url}", err=True)
        return
    rows = [("ID", "STATUS", "TASK", "BACKEND", "CREATED", "TOOK")]
    rows += [
        (r.id, r.status, r.task, r.backend, local_time(r.created_at), _took(r)) for r in records
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
