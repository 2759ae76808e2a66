"""`pack outputs ID` and `pack inputs ID`: a run's values, decoded from the store.

Values are read without the task's code (pack.runs.literals): Files and
Directories show as their URLs; `--download DIR` fetches those that live in the
store the run was found in (a URL elsewhere is listed, never fetched).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from pack.cli.common import config_from, echo_json, output_option
from pack.cli.status import store_option

if TYPE_CHECKING:
    from pack.runs.literals import BlobValue
    from pack.runs.locate import Located

_UNSAFE = re.compile(r"[^A-Za-z0-9_.\[\]-]")


def _show(values: dict[str, Any], output: str) -> None:
    from pack.runs.literals import plain

    if output == "json":
        echo_json(values)
        return
    for name, value in values.items():
        click.echo(f"{name}: {plain(value)}")


def _outputs_bytes(located: Located) -> bytes:
    from pack.errors import StoreError, UsageError
    from pack.runs import keys
    from pack.runs.settle import settle

    record = settle(located.runs, located.record)
    latest = record.latest
    if record.status != "succeeded" or latest is None:
        why = f": {record.error}" if record.error else ""
        raise UsageError(f"run {record.id} is {record.status}; it has no outputs{why}")
    key = keys.attempt_key(record.id, latest.attempt, "outputs.pb")
    try:
        return located.runs.store.get_bytes(key)
    except StoreError as exc:
        raise StoreError(f"run {record.id} succeeded but its outputs are gone: {exc}") from None


def in_store(url: str, store_url: str) -> bool:
    """Whether `url` names an object inside the store at `store_url` (no `..` tricks)."""
    from pack.errors import StoreError
    from pack.packager.store import check_key

    prefix = store_url.rstrip("/") + "/"
    if not url.startswith(prefix):
        return False
    try:
        check_key(url[len(prefix) :].rstrip("/"))
    except StoreError:
        return False
    return True


def download(blobs: list[BlobValue], dest: Path, store_url: str) -> list[tuple[str, str]]:
    """Fetch each File/Directory into `dest/<where it sits>/`; (where, local path or
    why not). Each lands complete or not at all (a temp folder, then a rename)."""
    from pack.errors import UsageError
    from pack.launcher.types.files import download_directory, download_file

    dest.mkdir(parents=True, exist_ok=True)
    done: list[tuple[str, str]] = []
    for blob in blobs:
        if not in_store(blob.uri, store_url):
            done.append((blob.path, f"not downloaded: {blob.uri} is outside {store_url}"))
            continue
        name = _UNSAFE.sub("_", blob.path).lstrip(".") or "value"
        target = dest / name
        if target.exists():
            raise UsageError(f"{target} exists; pass an empty or new folder to --download")
        tmp = Path(tempfile.mkdtemp(prefix=".pack-download-", dir=dest))
        try:
            fetch = download_directory if blob.multipart else download_file
            fetched = fetch(blob.uri, tmp)
            os.replace(tmp, target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        done.append((blob.path, str(target / fetched.name)))
    return done


@click.command("outputs")
@click.argument("execution_id")
@click.option(
    "--download",
    "download_dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Also fetch the Files and Directories among the outputs into this folder.",
)
@store_option
@output_option
def outputs(execution_id: str, download_dir: str | None, store: str | None, output: str) -> None:
    """Print the outputs of run EXECUTION_ID (Files as URLs)."""
    from pack.runs.literals import blobs_in, literal_map_values
    from pack.runs.locate import locate

    config = config_from(store=store)
    located = locate(execution_id, config, store=store)
    data = _outputs_bytes(located)
    values = literal_map_values(data)
    if download_dir is None:
        _show(values, output)
        return
    fetched = download(list(blobs_in(data)), Path(download_dir), located.runs.url)
    if output == "json":
        echo_json({"outputs": values, "downloaded": dict(fetched)})
        return
    _show(values, output)
    for where, local in fetched:
        click.echo(f"{where} -> {local}", err=True)


@click.command("inputs")
@click.argument("execution_id")
@store_option
@output_option
def inputs(execution_id: str, store: str | None, output: str) -> None:
    """Print the inputs of run EXECUTION_ID, as inputs.pb holds them."""
    from pack.errors import StoreError
    from pack.runs import keys
    from pack.runs.literals import literal_map_values
    from pack.runs.locate import locate

    config = config_from(store=store)
    located = locate(execution_id, config, store=store)
    try:
        data = located.runs.store.get_bytes(keys.inputs_key(located.record.id))
    except StoreError as exc:
        raise StoreError(f"run {located.record.id}: its inputs are gone: {exc}") from None
    # The record lists the inputs in the task's signature order.
    _show(literal_map_values(data, order=list(located.record.inputs)), output)
