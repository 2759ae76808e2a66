"""`pack gc --older-than 7d`: store retention, a dry run unless told to --delete."""

from __future__ import annotations

import time

import click

from pack.cli.common import config_from, echo_json, local_time, output_option


@click.command("gc")
@click.option(
    "--older-than",
    "older_than",
    required=True,
    metavar="AGE",
    help="Collect runs over before this age: 7d, 12h, 30m, 2w, 90s.",
)
@click.option("--delete", is_flag=True, help="Delete (default: only say what would go).")
@click.option("--store", default=None, help="The store to collect (default: the configured one).")
@output_option
def command(older_than: str, delete: bool, store: str | None, output: str) -> None:
    """Delete runs (with their logs, decks, outputs and children) older than AGE, and
    bundles, stored input files and image-record entries no kept run refers to. A dry
    run by default."""
    from pack.gc.collect import apply_plan, plan_gc
    from pack.gc.plan import parse_age
    from pack.imagespec.record import ImageRecord
    from pack.runs.runstore import RunStore

    age = parse_age(older_than)
    config = config_from(store=store)
    runs = RunStore.open(config.store_url)
    image_record = ImageRecord.in_cache(config.cache_dir, config.record_ttl_seconds)
    plan = plan_gc(
        runs, older_than=age, now=time.time(), cache_dir=config.cache_dir, image_record=image_record
    )
    if delete:
        apply_plan(plan, runs, image_record=image_record)
    if output == "json":
        echo_json(plan.as_json(dry_run=not delete))
        return
    when = local_time
    expired, kept = plan.decision.expired, plan.decision.kept
    verb = "deleted" if delete else "would delete"
    click.echo(f"pack gc: {plan.store_url}: runs over before {when(plan.cutoff)} ({older_than})")
    click.echo(f"  runs: {verb} {len(expired)} ({plan.run_objects} objects), kept {len(kept)}")
    for run_id in sorted(expired):
        record = plan.runs[run_id].record
        what = f"{record.task} {record.status}" if record else "no record"
        click.echo(f"    {run_id}  {what}  {when(plan.runs[run_id].last_change)}")
    for run_id, why in sorted(kept.items()):
        if "outputs are inputs" in why or "still going" in why:
            click.echo(f"    kept {run_id}: {why}")
    reasons: dict[str, int] = {}
    for why in plan.bundles_kept.values():
        reasons[why] = reasons.get(why, 0) + 1
    kept_text = ", ".join(f"{n} {why}" for why, n in sorted(reasons.items())) or "none"
    click.echo(f"  bundles: {verb} {len(plan.bundles)}; kept: {kept_text}")
    click.echo(f"  stored files: {verb} {len(plan.files)}; kept {len(plan.files_kept)}")
    click.echo(f"  image records: {verb} {len(plan.image_refs)} entries")
    click.echo(f"  cache dir: {verb} {len(plan.cache_dirs)} run folders")
    if not delete:
        click.echo("dry run: nothing was deleted; add --delete to delete these", err=True)
