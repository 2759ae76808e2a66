"""`pack render FILE TASK [--param value ...]`: print the pod a task would run in.

Nothing is uploaded: the bundle URL is computed from the tree digest (bundles are
named by it), the inputs URL is where `pack run` would write them.
"""

from __future__ import annotations

import json

import click

from pack.cli.common import config_from, copy_option, follow_links_option
from pack.cli.run import CONTEXT, resolve_task


@click.command(context_settings=CONTEXT)
@copy_option(
    "Code the pod would fetch: all files under the source root, the entry file and the local modules it imports (no data files), or none (the code is in the image)."
)
@follow_links_option
@click.option("--store", default=None, help="Store URL the pod would read from.")
@click.option(
    "--output",
    "-o",
    type=click.Choice(["yaml", "json"]),
    default="yaml",
    show_default=True,
    help="Manifest format.",
)
@click.argument("file", type=click.Path(dir_okay=False))
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def command(
    copy: str,
    follow_links: bool,
    store: str | None,
    output: str,
    file: str,
    args: tuple[str, ...],
) -> None:
    """Print the Kubernetes pod that would run TASK from FILE."""
    from pack.launcher.execution import Execution, new_execution_id
    from pack.launcher.images import image_for
    from pack.launcher.podspec import BundleInfo, RenderOptions, render_manifest
    from pack.launcher.types.engine import TypeContext, default_engine

    config = config_from(store=store)
    task, source, values = resolve_task(file, args, "render")
    if values is None:
        return
    # Check the inputs convert (files are not uploaded: no raw prefix is needed for scalars).
    scalars = {k: v for k, v in values.items() if not hasattr(v, "__fspath__")}
    default_engine().to_literal_map(
        scalars, {k: task.interface.inputs[k] for k in scalars}, TypeContext()
    )
    bundle = None
    if copy != "none":
        from pack.launcher.run import plan_bundle
        from pack.packager.publish import bundle_key
        from pack.packager.store import open_store

        plan = plan_bundle(source, copy, config, follow_links=follow_links)
        url = open_store(config.store_url).url(bundle_key(plan.digest, config.compression))
        bundle = BundleInfo(url, str(plan.digest))
    image = image_for(
        task.image, config, on_warning=lambda m: click.echo(f"pack: warning: {m}", err=True)
    )
    base = None
    if config.pod_template is not None:  # the cluster default, as `pack run` merges it
        from pack.launcher.podtemplate_file import load_pod_template

        base = load_pod_template(config.pod_template)
    options = RenderOptions(
        base_template=base,
        s3_endpoint_url=config.s3_endpoint_url,
        network_timeout=config.network_timeout,
    )
    execution = Execution(new_execution_id(), config.project, config.domain, config.store_url)
    pod = render_manifest(
        task,
        image=image.ref,
        execution=execution,
        bundle=bundle,
        spec_digest=image.spec_digest,
        options=options,
    )
    if output == "json":
        click.echo(json.dumps(pod, indent=2, sort_keys=True))
    else:
        import yaml

        click.echo(yaml.safe_dump(pod, sort_keys=False), nl=False)
