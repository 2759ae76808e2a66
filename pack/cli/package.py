"""`pack package`: bundle local code by its tree digest and upload it once to a store."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from pack.cli import common

if TYPE_CHECKING:
    from pack.filetree.entry import Excluded
    from pack.packager.publish import PackagePlan


def _excluded_json(excluded: tuple[Excluded, ...]) -> list[dict[str, Any]]:
    return [{"path": x.path + ("/" if x.is_dir else ""), "reason": x.reason} for x in excluded]


def _notes(plan: PackagePlan) -> list[str]:
    """What --list says besides the files: folders kept against a default, and imported
    modules the rules leave out."""
    lines = [
        f"kept {x.path}/ despite {x.reason}: the entry imports a module from it" for x in plan.kept
    ]
    for u in plan.unshipped:
        guarded = " (the import is guarded: the code may cope)" if u.optional else ""
        lines.append(f"not shipped: {u.describe()}{guarded}")
    return lines


def _print_list(plan: PackagePlan) -> None:
    from pack.packager.publish import format_bytes

    paths = [e.path + (f" -> {e.link_target}" if e.kind == "symlink" else "") for e in plan.entries]
    if common.is_tty(sys.stdout):  # the tree goes to stdout: piped, it prints plain paths
        from rich.console import Console
        from rich.tree import Tree

        tree = Tree(
            f"[bold]{plan.root}[/bold] ({len(paths)} files, {format_bytes(plan.total_bytes)})"
        )
        nodes: dict[str, Tree] = {"": tree}
        for path in paths:
            parts = path.split(" -> ")[0].split("/")
            for i in range(1, len(parts)):
                key = "/".join(parts[:i])
                if key not in nodes:
                    nodes[key] = nodes["/".join(parts[: i - 1])].add(
                        f"[blue]{parts[i - 1]}/[/blue]"
                    )
            nodes["/".join(parts[:-1])].add(path.rsplit("/", 1)[-1])
        console = Console()
        console.print(tree)
        if plan.excluded:
            console.print("[bold]left out:[/bold]")
            for x in plan.excluded:
                console.print(
                    f"  {x.path}{'/' if x.is_dir else ''}  [dim]{x.reason}[/dim]", highlight=False
                )
        for line in _notes(plan):
            console.print(line, highlight=False, markup=False)
        return
    for path in paths:
        click.echo(path)
    for x in plan.excluded:
        click.echo(f"excluded: {x.path}{'/' if x.is_dir else ''}  ({x.reason})")
    for line in _notes(plan):
        click.echo(line)


@click.command("package")
@click.argument("src", required=False, type=click.Path(file_okay=False, path_type=Path))
@common.copy_option(
    "all: every listed file; auto: only --entry and the local modules it imports (no data files); none: no bundle."
)
@click.option(
    "--entry",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Entry file (needed by --copy auto; sets the default SRC).",
)
@click.option(
    "--store",
    "store",
    help="Store URL: file:///abs/path or s3://bucket/prefix [default: config store].",
)
@click.option(
    "--compression",
    type=click.Choice(["zstd", "gzip"]),
    default=None,
    help="Archive compression [default: config, zstd].",
)
@common.follow_links_option
@click.option(
    "--list",
    "list_only",
    is_flag=True,
    help="Show what would be sent and what is left out, and why; upload nothing.",
)
@common.output_option
def command(
    src: Path | None,
    copy: str,
    entry: Path | None,
    store: str | None,
    compression: str | None,
    follow_links: bool,
    list_only: bool,
    output: str,
) -> None:
    """Bundle SRC (default: the entry's project root, else the current folder) and upload it once."""
    from pack.packager.publish import find_source_root, format_bytes, plan_package, publish_to

    config = common.config_from(store=store, compression=compression)
    warnings: list[str] = []

    def warn(message: str) -> None:
        warnings.append(message)
        if output != "json":
            click.echo(f"pack: warning: {message}", err=True)

    if copy == "none":
        if output == "json":
            common.echo_json(
                {
                    "url": None,
                    "digest": None,
                    "files": 0,
                    "bytes": 0,
                    "uploaded": False,
                    "copy": "none",
                }
            )
        else:
            click.echo("copy none: no bundle; the code is expected in the image")
        return
    root = (
        src if src is not None else (find_source_root(entry) if entry is not None else Path.cwd())
    )
    plan = plan_package(
        root.resolve(),
        copy,
        entry,
        cache_dir=config.cache_dir,
        max_bytes=config.max_bundle_bytes,
        follow_links=follow_links,
        on_warning=warn,
        check=not list_only,
    )
    if list_only:
        if output == "json":
            common.echo_json(
                {
                    "root": str(plan.root),
                    "digest": str(plan.digest),
                    "files": [e.path for e in plan.entries],
                    "bytes": plan.total_bytes,
                    "excluded": _excluded_json(plan.excluded),
                    "kept": [x.path + "/" for x in plan.kept],
                    "unshipped": [
                        {
                            "module": u.module,
                            "path": u.path,
                            "imported_at": u.importer,
                            "reason": u.excluded.reason,
                            "optional": u.optional,
                        }
                        for u in plan.unshipped
                    ],
                    "warnings": warnings,
                }
            )
        else:
            _print_list(plan)
        error = plan.error()
        if error is not None:
            raise error  # after the listing: it shows the rest of the picture
        return
    ref = publish_to(
        plan,
        config.store_url,
        cache_dir=config.cache_dir,
        compression=config.compression,
    )
    if output == "json":
        common.echo_json(
            {
                "url": ref.url,
                "digest": str(ref.digest),
                "files": ref.files,
                "bytes": ref.bytes,
                "uploaded": ref.uploaded,
                "compression": ref.compression,
                "largest": [{"path": p, "bytes": n} for p, n in ref.largest],
                "excluded": _excluded_json(plan.excluded),
                "warnings": warnings,
            }
        )
        return
    state = "uploaded" if ref.uploaded else "already in the store"
    click.echo(f"{ref.files} files, {format_bytes(ref.bytes)}, {ref.digest.short()} {state}")
    largest = ", ".join(f"{p} ({format_bytes(n)})" for p, n in ref.largest[:3])
    click.echo(f"largest: {largest}")
    click.echo(ref.url)
