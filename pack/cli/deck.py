"""`pack deck ID`: the path of a local copy of a run's deck.html (fetched when the
store is remote; a file:// store's own file is already local)."""

from __future__ import annotations

import click

from pack.cli.common import config_from
from pack.cli.status import store_option


@click.command("deck")
@click.argument("execution_id")
@click.option("--attempt", type=int, default=None, help="Which attempt (default: the latest).")
@store_option
def command(execution_id: str, attempt: int | None, store: str | None) -> None:
    """Print the path of run EXECUTION_ID's deck.html (a task declared @task(deck=True))."""
    from pack.errors import UsageError
    from pack.packager.store import FileStore
    from pack.runs import keys
    from pack.runs.locate import locate

    config = config_from(store=store)
    located = locate(execution_id, config, store=store)
    record = located.record
    n = attempt or (record.latest.attempt if record.latest else 1)
    key = keys.deck_key(record.id, n)
    runs = located.runs
    if not runs.store.exists(key):
        why = "" if record.deck else f" ({record.task} is not declared @task(deck=True))"
        raise UsageError(f"run {record.id} attempt {n} has no deck in {runs.url}{why}")
    if isinstance(runs.store, FileStore):
        click.echo(runs.store.root / key)
        return
    local = config.cache_dir / "runs" / record.id / "attempts" / str(n) / "deck.html"
    runs.store.get_file(key, local)
    click.echo(local)
