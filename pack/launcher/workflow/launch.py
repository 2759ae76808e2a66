"""What the client decides before a run whose tasks may call tasks starts anything.

Every run goes through here (any task may call tasks, not only a @workflow):
the images of the loaded modules' tasks are prepared, and once the bundle is
published (`on_launch`, called by the run pipeline) the driver spec is written to
the store and named in the root pod's env. An attached @workflow then runs its
driver in this process (InProcessBackend); a detached one, or a task, runs in its
pod or process as usual and builds its driver from the spec at its first call.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pack.launcher.workflow.spec import ENV_SPEC, DriverSpec

if TYPE_CHECKING:
    from pack.background import Background
    from pack.config import Config
    from pack.launcher.backends.base import Backend
    from pack.launcher.execution import Execution
    from pack.launcher.podspec import RenderOptions
    from pack.launcher.task import Task
    from pack.launcher.workflow.driver import Driver
    from pack.launcher.workflow.images import ImageTable


class Launch:
    def __init__(
        self,
        task: Task,
        *,
        root: Path,
        config: Config,
        environ: Mapping[str, str],
        backend: Backend,
        images: ImageTable,
        pass_env: Sequence[str] = (),
        env_from_secret: Sequence[str] = (),
        cache_mode: str = "use",
        detach: bool = False,
        options: RenderOptions | None = None,
    ) -> None:
        from pack.launcher.workflow.images import loaded_tasks

        self.task = task
        self.config = config
        # As the run began: an attached workflow's body may change os.environ (its env=).
        self.environ = dict(environ)
        self.backend = backend
        self.images = images
        self.pass_env = tuple(pass_env)
        self.env_from_secret = tuple(env_from_secret)
        self.cache_mode = cache_mode
        self.detach = detach
        self.options = options
        self.in_process = task.is_workflow and not detach
        self.pins = images.pins(loaded_tasks(root, [] if task.is_workflow else [task]).values())
        self.spec: DriverSpec | None = None

    def on_launch(
        self, bundle: Any, execution: Execution, writes: Background
    ) -> tuple[Backend, RenderOptions]:
        """The backend and render options of the root run; the driver spec is written
        in `writes` (the root pod reads it only when its task calls a task)."""
        from pack.launcher.podspec import RenderOptions, merge_manifests
        from pack.packager.store import write_url

        config = self.config
        primary = (
            self.task.pod_template.primary_container_name if self.task.pod_template else "primary"
        )
        operator = None
        if config.pod_template is not None:
            from pack.launcher.podtemplate_file import load_pod_template

            operator = load_pod_template(config.pod_template, primary)
        spec = DriverSpec(
            root=execution.id,
            backend=config.backend,
            store_url=config.store_url,
            s3_endpoint_url=config.s3_endpoint_url,
            network_timeout=config.network_timeout,
            namespace=config.namespace if config.backend == "kubernetes" else None,
            project=config.project,
            domain=config.domain,
            bundle_url=None if bundle is None else bundle.url,
            bundle_digest=None if bundle is None else str(bundle.digest),
            images=self.pins,
            pod_template=operator,
            pass_env=self.pass_env,
            env_from_secret=self.env_from_secret,
            cache=self.cache_mode,
        )
        writes.start("driver spec", write_url, spec.url, spec.to_json())
        self.spec = spec
        options = self.options or RenderOptions()
        base = options.base_template
        if config.backend == "kubernetes":
            from pack.launcher.workflow.driver import downward_env

            # A driver pod learns its own name and uid, to own the pods it starts.
            layer = {"spec": {"containers": [{"name": primary, "env": downward_env()}]}}
            base = merge_manifests(base or {}, layer)
        options = dataclasses.replace(
            options, base_template=base, extra_env={**options.extra_env, ENV_SPEC: spec.url}
        )
        if self.in_process:
            from pack.launcher.workflow.inprocess import InProcessBackend

            driver = InProcessBackend(
                lambda parent: self.driver(spec, parent),
                self.environ,
                name=self.backend.name,
                body_env=self.task.env,
            )
            return driver, options
        return self.backend, options

    def driver(self, spec: DriverSpec, parent: str) -> Driver:
        """The driver of an attached workflow: children on this client's backend. On
        Kubernetes their --pass-env values go into one Secret for the run, made now
        and deleted when the driver closes."""
        from pack.launcher.podspec import LABEL_ROOT
        from pack.launcher.workflow.driver import Driver

        secret = None
        on_close = None
        backend: Any = self.backend
        if spec.backend == "kubernetes" and spec.pass_env:
            secret = f"{spec.root}-pass-env"
            values = {name: self.environ[name] for name in spec.pass_env}
            labels = {"app.kubernetes.io/managed-by": "pack", LABEL_ROOT: spec.root}
            backend.put_secret(secret, values, labels)

            def on_close() -> None:
                backend.remove_secret(secret)

        return Driver(
            spec,
            backend=self.backend,
            config=self.config,
            parent=parent,
            environ=self.environ,
            secret=secret,
            on_close=on_close,
        )
