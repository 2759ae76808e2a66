"""`pack cancel ID`: stop a run and everything it started.

Three things, in this order: a cancel marker in the run's store (every driver
checks it before starting a child, so none starts another), the driver process
when it runs on this machine (an attached run: SIGTERM, which stops its children
the way Ctrl-C does, and waiting until it is gone), and every pod or container
labelled with the run's id (kubernetes, docker), waiting until none is left.
"""

from __future__ import annotations

import signal

import click

from pack.cli.common import config_from, echo_json, output_option


@click.command("cancel")
@click.argument("execution_id")
@click.option("--store", default=None, help="The store the run used (default: as `pack status`).")
@output_option
def command(execution_id: str, store: str | None, output: str) -> None:
    """Stop run EXECUTION_ID: its driver, and every pod, container or process it started."""
    from pack.cli.status import _open
    from pack.launcher.workflow.process import read_driver_process, stop_process
    from pack.launcher.workflow.spec import cancel_url
    from pack.packager.store import write_url
    from pack.runs.locate import locate

    config = config_from(store=store)
    located = locate(execution_id, config, store=store)
    write_url(cancel_url(located.runs.url, execution_id), b"cancelled\n")
    process = read_driver_process(config.cache_dir, execution_id)
    stopped = process is not None and stop_process(process, signal.SIGTERM)
    removed: list[str] = []
    if located.record.backend in ("docker", "kubernetes"):
        backend = _open(located, config)
        try:
            removed = backend.cancel(execution_id)
        finally:
            backend.close()
    if output == "json":
        echo_json({"execution_id": execution_id, "driver_stopped": stopped, "removed": removed})
        return
    what = [f"removed {len(removed)} pod(s)/container(s)"] if removed else []
    if stopped and process is not None:
        what.insert(0, f"stopped the driver (pid {process.pid})")
    click.echo(
        f"pack: cancelled {execution_id}" + (f": {', '.join(what)}" if what else ""), err=True
    )
