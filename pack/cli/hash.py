"""`pack hash FILE`: the ref each ImageSpec in a spec file hashes to, without building.

Talks to no server and imports nothing heavy (no jinja2, rich, boto3, kubernetes, docker).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from pack.cli.common import config_from, echo_json, output_option


@click.command(name="hash")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--explain", is_flag=True, help="Print the canonical inputs of each digest.")
@output_option
def command(file: Path, explain: bool, output: str) -> None:
    """Print `variable  ref` for every ImageSpec in FILE."""
    from pack.errors import SpecError
    from pack.imagespec.hashing import (
        ResolvedSpec,
        canonical_inputs,
        copy_warnings,
        defaults_from_config,
        resolve,
    )
    from pack.imagespec.load import load_specs

    config = config_from()
    specs = load_specs(file)
    defaults = defaults_from_config(config)
    cache: dict[int, ResolvedSpec] = {}
    rows: list[dict[str, Any]] = []
    warned: set[str] = set()
    for variable, spec in specs.items():
        try:
            resolved = resolve(spec, defaults, cache)
        except SpecError as exc:
            raise SpecError(f"{file}: {variable}: {exc.message}") from None
        for warning in copy_warnings(resolved):
            if warning not in warned and output != "json":
                click.echo(f"pack: warning: {warning}", err=True)
            warned.add(warning)
        ref = resolved.ref
        row: dict[str, Any] = {
            "variable": variable,
            "name": spec.name,
            "ref": str(ref),
            "tag": ref.tag,
            "digest": str(resolved.digest),
        }
        if resolved.warnings:
            row["warnings"] = list(resolved.warnings)
        if explain:
            row["inputs"] = canonical_inputs(resolved)
            # Not hashed: what copy= left out, and why (as `pack package --list` says it).
            row["left_out"] = [
                {"path": x.path + ("/" if x.is_dir else ""), "reason": x.reason}
                for x in resolved.left_out
            ]
        rows.append(row)

    if output == "json":
        echo_json(rows)
        return
    width = max(len(r["variable"]) for r in rows)
    for row in rows:
        click.echo(f"{row['variable']:<{width}}  {row['ref']}")
        if explain:
            click.echo(f"# {row['digest']} = sha256(salt + canonical JSON of:)")
            click.echo(json.dumps(row["inputs"], indent=2, sort_keys=True, ensure_ascii=False))
            for x in row["left_out"]:
                click.echo(f"# left out of copy: {x['path']}  ({x['reason']})")
