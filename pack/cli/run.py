"""`pack run [OPTIONS] FILE TASK [--param value ...]`: run a task with its code as a bundle."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any, cast

import click

from pack.cli.common import (
    config_from,
    copy_option,
    echo_json,
    follow_links_option,
    output_option,
)

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
@copy_option(
    "Code to ship: all files under the source root, the entry file and the local modules it imports (no data files), or none (the code is in the image)."
)
@follow_links_option
@click.option(
    "--backend",
    type=click.Choice(["local", "docker", "kubernetes"]),
    default=None,
    help="Where to run (default: config `backend`, else local).",
)
@click.option(
    "--store", default=None, help="Store URL for bundles, inputs and outputs (file:///… or s3://…)."
)
@click.option(
    "--detach", is_flag=True, help="Remote backends: start the run, print its id, return."
)
@click.option("--keep", is_flag=True, help="Remote backends: keep the pod/container after it ends.")
@click.option(
    "--pod-template",
    type=click.Path(dir_okay=False),
    default=None,
    help="YAML Pod or PodTemplate merged under every task's pod_template (config `pod_template`).",
)
@click.option(
    "--pass-env",
    "pass_env",
    multiple=True,
    metavar="VAR",
    help=(
        "Put the value of local variable VAR into the task's env (repeatable; on Kubernetes "
        "through a per-pod Secret); nothing else of your environment is passed, on any backend."
    ),
)
@click.option(
    "--env-from-secret",
    "env_from_secret",
    multiple=True,
    metavar="NAME",
    help="Kubernetes: env from the Secret NAME (repeatable).",
)
@click.option(
    "--no-cache",
    "no_cache",
    is_flag=True,
    help="Tasks with cache=True run as if uncached: nothing is looked up or stored.",
)
@click.option(
    "--overwrite-cache",
    "overwrite_cache",
    is_flag=True,
    help="Tasks with cache=True run even when a result is stored, and replace it.",
)
@click.option("--project", default=None, help="Project recorded on the execution.")
@click.option("--domain", default=None, help="Domain recorded on the execution.")
@output_option
@click.argument("file", type=click.Path(dir_okay=False))
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def command(
    copy: str,
    follow_links: bool,
    backend: str | None,
    store: str | None,
    detach: bool,
    keep: bool,
    pod_template: str | None,
    pass_env: tuple[str, ...],
    env_from_secret: tuple[str, ...],
    no_cache: bool,
    overwrite_cache: bool,
    project: str | None,
    domain: str | None,
    output: str,
    file: str,
    args: tuple[str, ...],
) -> None:
    """Run TASK from FILE: package its code, then run it as a pod would.

    TASK may be a @workflow: its body drives, each task it calls runs as its own
    pod (container, process). Task inputs are options after TASK; `pack run FILE
    TASK --help` lists them.
    """
    from pack.background import Background
    from pack.errors import UsageError
    from pack.launcher.run import open_backend, run
    from pack.launcher.workflow.cache import StoreCache
    from pack.launcher.workflow.images import ImageTable
    from pack.launcher.workflow.launch import Launch
    from pack.launcher.workflow.process import driver_process
    from pack.runs.logs import LogCapture

    if no_cache and overwrite_cache:
        raise UsageError("--no-cache and --overwrite-cache exclude each other; pick one")
    config = config_from(
        store=store, backend=backend, project=project, domain=domain, pod_template=pod_template
    )
    task, source, values = resolve_task(file, args, "run")
    if values is None:
        return
    if config.backend == "local":
        from pack.launcher.backends.local import refuse_unsupported

        refuse_unsupported(copy=copy, detach=detach, keep=keep, env_from_secret=env_from_secret)
    if task.is_workflow and detach and config.backend != "kubernetes":
        raise UsageError(
            "--detach of a workflow needs --backend kubernetes: its driver runs as a pod "
            "that starts the children (docker containers cannot start containers)"
        )
    remote = _remote_setup(config, task, detach, keep, pass_env, env_from_secret)
    # The container's output goes to the terminal and, per attempt, into the run's record.
    capture = LogCapture(sys.stderr)
    opening = remote.pop("open")
    if config.backend == "local":  # tracebacks point at FILE's tree, not the extracted copy
        opening["source_root"] = source.root
    be = open_backend(
        config.backend, config, os.environ, log_sink=cast(IO[str], capture), **opening
    )
    cache_mode = "off" if no_cache else "overwrite" if overwrite_cache else "use"
    # Attached, this process drives the run until it ends; `pack cancel` finds it here.
    attached = (
        contextlib.nullcontext()
        if detach
        else driver_process(
            config.cache_dir,
            remote["execution_id"],
            backend=config.backend,
            store_url=config.store_url,
        )
    )
    try:
        images = ImageTable(config, remote.pop("prepare_image", None))
        launch = Launch(
            task,
            root=source.root,
            config=config,
            environ=os.environ,
            backend=be,
            images=images,
            pass_env=pass_env,
            env_from_secret=env_from_secret,
            cache_mode=cache_mode,
            detach=detach,
            options=remote.pop("options", None),
        )
        with attached:
            result = run(
                task,
                source,
                values,
                config=config,
                backend=be,
                copy=copy,
                follow_links=follow_links,
                on_warning=lambda m: click.echo(f"pack: warning: {m}", err=True),
                on_attempt=lambda a, e: _report_attempt(a, e, task.retries + 1),
                log_capture=capture,
                # An attached workflow drives from here: its own image is never pulled.
                prepare_image=None if launch.in_process else images.prepare_image,
                on_launch=launch.on_launch,
                cache=StoreCache(config.store_url, cache_mode),
                **remote,
            )
        submitted = detach and result.cache != "hit"
        # Listed while the backend closes (it waits for the finished pod's delete).
        listing = Background()
        if not submitted:
            listing.start("children", _children, result, config, output == "json")
    finally:
        be.close()
    if submitted:
        _report_detached(result, output)
        return
    children: list[dict[str, Any]] = listing.result("children")
    if output == "json":
        echo_json({**result.as_json(), "children": children})
    elif result.succeeded:
        several = len(result.outputs) > 1  # a tuple or NamedTuple: one `name: value` line each
        for name, value in result.outputs.items():
            click.echo(f"{name}: {_plain(value)}" if several else _plain(value))
        if result.cache == "hit":
            click.echo(
                f"pack: {result.task}: cache hit (key {result.cache_key}); no pod was started",
                err=True,
            )
        if children:
            click.echo(f"pack: {_calls_summary(children)}", err=True)
        code = f"bundle {result.bundle_short}, " if result.bundle_short else ""
        click.echo(
            f"pack: {result.task} succeeded (execution {result.execution.id}, {code}"
            f"{result.timings.get('total', 0.0):.2f}s); artifacts: {result.execution.run_prefix}",
            err=True,
        )
    if not result.succeeded:
        if children and output != "json":
            click.echo(f"pack: {_calls_summary(children)}", err=True)
        # Every backend streamed the container's output to stderr (log_sink above).
        raise result.failure(log_shown=True)


def _children(result: Any, config: Any, nested: bool) -> list[dict[str, Any]]:
    """The task calls the run made (each a child run record), in call order; `nested`:
    each with the calls it made in turn under `children`, as `pack status -o json`."""
    from pack.runs.runstore import RunStore

    if result.cache == "hit" or result.made_calls is False:
        return []  # no attempt ran, or the task said it called none: nothing to list
    runs = RunStore.open(config.store_url)
    if nested:
        return [child.to_dict() for child in runs.child_trees(result.execution.id)]
    return [child.to_dict() for child in runs.children(result.execution.id)]


def _calls_summary(children: list[dict[str, Any]]) -> str:
    """`5 task calls: 3 ran, 2 cache hits` (and failures, stops)."""
    from collections import Counter

    counts = Counter(
        "cached" if c.get("cache") in ("hit", "shared") else c.get("status") for c in children
    )
    parts = [f"{counts['succeeded']} ran"] if counts["succeeded"] else []
    if counts["cached"]:
        parts.append(f"{counts['cached']} cache hit{'s' if counts['cached'] != 1 else ''}")
    for status in ("failed", "aborted", "running", "pending"):
        if counts[status]:
            parts.append(f"{counts[status]} {status}")
    n = len(children)
    return f"{n} task call{'s' if n != 1 else ''}: {', '.join(parts) or 'none finished'}"


def _remote_setup(
    config: Any,
    task: Any,
    detach: bool,
    keep: bool,
    pass_env: tuple[str, ...],
    env_from_secret: tuple[str, ...],
) -> dict[str, Any]:
    """run() and open_backend() arguments for --backend docker/kubernetes (and the
    default pod template for every backend); remembers, in the cache dir only, how
    this run reaches its store and backend (for `pack status` / `pack logs`)."""
    from pack.launcher.execution import new_execution_id
    from pack.launcher.podspec import RenderOptions
    from pack.runs.connection import Connection, write_connection

    extra: dict[str, Any] = {"open": {}}
    is_remote = config.backend in ("docker", "kubernetes")
    from pack.launcher.remote import base_template, prepare_image

    primary = (task.pod_template.primary_container_name if task.pod_template else None) or "primary"
    base = base_template(config.pod_template, pass_env, env_from_secret, os.environ, primary)
    if base is not None:
        extra["options"] = RenderOptions(base_template=base)
    execution_id = new_execution_id()
    extra["execution_id"] = execution_id
    if is_remote:
        if config.backend == "kubernetes":  # before anything is written to a store pods can't read
            from pack.launcher.backends.kubernetes import check_store

            check_store(config.store_url)
        extra["open"] = {"keep": keep}
        extra["detach"] = detach
        extra["prepare_image"] = lambda choice: prepare_image(choice, config, os.environ)
    write_connection(
        Connection(
            run_id=execution_id,
            backend=config.backend,
            store_url=config.store_url,
            namespace=config.namespace if config.backend == "kubernetes" else None,
            docker_host=(config.docker_host or os.environ.get("DOCKER_HOST"))
            if config.backend == "docker"
            else None,
            kube_context=config.kube_context if config.backend == "kubernetes" else None,
            kubeconfig=str(config.kubeconfig)
            if config.kubeconfig and config.backend == "kubernetes"
            else None,
        ),
        config.cache_dir,
    )
    return extra


def _report_detached(result: Any, output: str) -> None:
    handle = result.handle
    if output == "json":
        echo_json(
            {
                "execution_id": result.execution.id,
                "status": "submitted",
                "backend": handle.backend,
                "name": handle.name,
                "namespace": handle.namespace,
                "image": result.image,
                "image_status": result.image_info.get("status"),
                "artifacts": result.execution.run_prefix,
            }
        )
        return
    click.echo(result.execution.id)
    click.echo(
        f"pack: started {handle.name} on {handle.backend}; follow it with "
        f"`pack status {result.execution.id}` and `pack logs {result.execution.id}`",
        err=True,
    )


def _report_attempt(attempt: Any, error: Any, max_attempts: int) -> None:
    from pack.launcher.run import retryable

    if attempt.succeeded or attempt.attempt >= max_attempts or not retryable(attempt, error):
        return
    why = (
        f"{error.code} (recoverable)"
        if error is not None
        else attempt.reason or attempt.message or "no error document"
    )
    click.echo(
        f"pack: attempt {attempt.attempt} of {max_attempts} failed with {why}; retrying", err=True
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
