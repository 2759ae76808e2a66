"""The daemonless builder: a recipe in, layers and a manifest pushed to a registry.

No Docker engine, no BuildKit, no root: it reads the base image's manifest and config,
resolves the Python packages for the target with uv, turns wheels into layers on this
host and pushes only what the registry lacks. Per platform:

    base (manifest, config) ─► python facts ─► resolve ─► groups ─► plans ─► push layers
                            ─► push base (mount) ─► config ─► manifest
Several platforms give one manifest each, then an index over them under the tag.
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from pack.digest import Digest
from pack.errors import BuildError, UsageError
from pack.imagespec.builders.base import BuildRequest, BuildResult, Progress, redactor
from pack.imagespec.builders.oci.baseimage import (
    PythonFacts,
    load_base,
    python_facts,
    venv_labels,
)
from pack.imagespec.builders.oci.bytecode import Compiler, find_compiler
from pack.imagespec.builders.oci.fetch import Fetcher, index_credentials
from pack.imagespec.builders.oci.groups import layer_groups
from pack.imagespec.builders.oci.image import (
    family_of,
    image_config,
    image_index,
    image_manifest,
    merge_env,
    platform_entry,
)
from pack.imagespec.builders.oci.layercache import LayerCache
from pack.imagespec.builders.oci.plans import LayerPlan, copy_plan, wheel_plan
from pack.imagespec.builders.oci.platforms import Target
from pack.imagespec.builders.oci.push import Destination, LayerPusher, SourceBuild
from pack.imagespec.builders.oci.resolve import PackageResolver, Request, Resolution, uv_env
from pack.imagespec.builders.oci.venv import VenvLayout, venv_env
from pack.imagespec.dockerfile import RUNTIME_WHEEL_DIR
from pack.imagespec.hashing import UV_VERSION
from pack.imagespec.recipe import ImageRecipe
from pack.imagespec.ref import ImageRef
from pack.imagespec.registry import Blob, Manifest, RegistryClient

if TYPE_CHECKING:
    from pack.config import Config

# pip goes into the venv as `python3 -m venv` puts it there for the Docker builder; pinned
# so the venv layer is the same for every spec and every day.
PIP_VERSION = "25.2"
TOOLS = (f"uv=={UV_VERSION}", f"pip=={PIP_VERSION}")
TOOL_NAMES = ("uv", "pip")


def refusal(recipe: ImageRecipe) -> str | None:
    """Why the oci builder cannot build `recipe` (the field, and what to do), or None."""
    if recipe.apt_packages:
        return (
            "apt_packages: the oci builder runs no commands in the image, so it cannot "
            f"install {', '.join(recipe.apt_packages)}; build this spec with builder='docker'"
        )
    if recipe.commands:
        return (
            "commands: the oci builder runs no commands in the image (no RUN steps); build "
            "this spec with builder='docker'"
        )
    return None


def find_uv() -> str:
    """The uv that pack's `oci` extra installs (pinned), else one on PATH."""
    try:
        from uv import find_uv_bin

        return str(find_uv_bin())
    except (ImportError, FileNotFoundError):
        pass
    import shutil

    found = shutil.which("uv")
    if found is None:
        raise BuildError(
            "the oci builder needs uv, which is not installed: pip install 'pack[oci]'"
        )
    return found


def source_date_epoch(environ: Mapping[str, str]) -> int:
    """SOURCE_DATE_EPOCH (reproducible-builds.org) for every mtime in a layer; default 0."""
    text = environ.get("SOURCE_DATE_EPOCH", "").strip()
    if not text:
        return 0
    if not text.isdigit():
        raise UsageError(f"SOURCE_DATE_EPOCH={text!r}: expected whole seconds since 1970, e.g. 0")
    return int(text)


class OciBuilder:
    """Builds and pushes images without a daemon. Thread-safe; one per command."""

    def __init__(
        self,
        *,
        registry: RegistryClient,
        cache_dir: Path,
        environ: Mapping[str, str],
        ca_bundle: Path | None = None,
        source_date_epoch: int = 0,
        jobs: int = 4,
        uv: str | None = None,
        compiler: Callable[[str], Compiler] | None = None,
        network_timeout: float | None = None,
    ) -> None:
        self.registry = registry
        self.network_timeout = network_timeout
        self.environ = dict(environ)
        self.ca_bundle = ca_bundle
        self.mtime = source_date_epoch
        self.files = cache_dir / "oci" / "files"
        self._uv = uv
        self._compiler = compiler or (
            lambda version: find_compiler(version, self.environ.get("PATH", os.defpath))
        )
        self._compilers: dict[str, Compiler | None] = {}
        self._lock = threading.Lock()
        cpus = os.cpu_count() or 1
        self.pusher = LayerPusher(
            registry,
            LayerCache(cache_dir / "oci" / "layers"),
            mtime=source_date_epoch,
            gzip=ThreadPoolExecutor(max_workers=cpus, thread_name_prefix="pack-gzip"),
            gzip_workers=cpus,
            jobs=jobs,
        )

    @classmethod
    def from_config(
        cls, config: Config, environ: Mapping[str, str], registry: RegistryClient
    ) -> OciBuilder:
        return cls(
            registry=registry,
            cache_dir=config.cache_dir,
            environ=environ,
            ca_bundle=config.build_ca_bundle,
            source_date_epoch=source_date_epoch(environ),
            network_timeout=config.network_timeout,
        )

    @property
    def uv(self) -> str:
        if self._uv is None:
            self._uv = find_uv()
        return self._uv

    # ---- Builder protocol

    def image_exists(self, ref: ImageRef) -> bool:
        return False  # no local image store: oci images live in a registry only

    def build(self, request: BuildRequest, progress: Progress) -> BuildResult:
        recipe, label, ref = request.recipe, request.label, request.ref
        if recipe is None:
            raise BuildError(f"{label}: the oci builder got no image recipe")
        reason = refusal(recipe)
        if reason is not None:
            raise UsageError(f"{label}: {reason}")
        if not request.push or ref.registry is None:
            raise UsageError(
                f"{label}: registry: the oci builder pushes to a registry (it has no engine to "
                "keep a local image in): set registry= or [tool.pack] registry, without --no-push"
            )
        wheel = next(
            (
                p
                for k, p in sorted(request.context.items())
                if k.startswith(RUNTIME_WHEEL_DIR + "/")
            ),
            None,
        )
        if recipe.runtime and wheel is None:
            raise BuildError(f"{label}: the pack runtime wheel is missing from the build request")
        dest = Destination(ref.registry, ref.repository)
        # Index URLs are secrets (tokens hide in paths too): uv's messages go through this.
        redact = redactor(request.secrets)
        built = [
            self._platform(recipe, label, dest, p, wheel, progress, redact)
            for p in recipe.platforms
        ]
        tag = ref.tag or "latest"
        if len(built) == 1:
            digest = self.registry.put_manifest(dest.registry, dest.repository, tag, built[0][0])
        else:
            children = []
            for manifest, platform in built:
                self.registry.put_manifest(
                    dest.registry, dest.repository, str(manifest.digest), manifest
                )
                children.append((str(manifest.digest), len(manifest.data), platform))
            family = family_of(built[0][0].media_type)
            data = image_index(family, children)
            index = Manifest(family.index, data, Digest.of_bytes(data))
            digest = self.registry.put_manifest(dest.registry, dest.repository, tag, index)
        progress.line(label, f"pushed {ref.name}@{digest}")
        return BuildResult(ref.with_digest(digest), digest)

    # ---- one platform

    def _platform(
        self,
        recipe: ImageRecipe,
        label: str,
        dest: Destination,
        platform: str,
        wheel: Path | None,
        progress: Progress,
        redact: Callable[[str], str],
    ) -> tuple[Manifest, dict[str, str]]:
        target = Target(platform, recipe.python_version)
        target.check()
        base = load_base(self.registry, recipe.base_image, target)
        wants_python = (
            recipe.installs_venv
            or recipe.runtime
            or bool(recipe.packages or recipe.requirements_files)
        )
        env, labels = base.env(), dict(recipe.labels)
        plans: list[LayerPlan] = []
        if wants_python:
            facts = python_facts(
                base, recipe.base_image, recipe.python_version, recipe.python_version_given
            )
            target = Target(platform, facts.python_version)
            progress.line(label, f"resolving for {target.describe()}")
            resolution = self._resolve(recipe, target, facts, wheel, label, redact)
            have = set(facts.installed)
            install = [
                p
                for p in resolution.pins
                if f"{p.name}=={p.version}" not in have or (p.name == "pack" and recipe.runtime)
            ]
            creates_venv = not facts.has_venv
            layout = VenvLayout(facts.python_version, facts.interpreter)
            compiler = self._compiler_for(facts.python_version, progress, label)
            groups = layer_groups(
                resolution, install, tools=TOOL_NAMES, runtime=recipe.runtime, venv=creates_venv
            )
            plans += [
                wheel_plan(
                    g, layout, compiler, mtime=self.mtime, with_skeleton=creates_venv and i == 0
                )
                for i, g in enumerate(groups)
            ]
            if creates_venv:
                env = venv_env(env)
            labels.update(venv_labels(facts, [f"{p.name}=={p.version}" for p in install]))
        if recipe.copies or recipe.copy_dirs:
            plans.append(copy_plan(recipe.copies, recipe.copy_dirs, mtime=self.mtime))
        index = Request(
            target, index_url=recipe.index_url, extra_index_urls=recipe.extra_index_urls
        )
        fetcher = Fetcher(
            self.files,
            credentials=index_credentials(
                [u for u in (recipe.index_url, *recipe.extra_index_urls) if u]
            ),
            ca_bundle=self.ca_bundle,
            redact=redact,
            timeout=self.network_timeout,
        )
        sources = SourceBuild(
            # uv is needed for Python only: a copy-and-env image builds without it.
            self.uv if wants_python else "",
            uv_env(self.environ, index, self.ca_bundle),
            target,
            self.files,
            redact,
        )
        layers, counts = self.pusher.push_layers(plans, dest, fetcher, sources)
        if layers:
            summary = ", ".join(f"{n} {how}" for how, n in sorted(counts.items()))
            progress.line(label, f"{platform}: {len(layers)} layers ({summary})")
        self.pusher.push_base(base, dest)
        config = image_config(
            base.config,
            layers,
            env=merge_env(env, recipe.env),
            labels=labels,
            entrypoint=recipe.entrypoint,
            created=self.mtime,
        )
        config_blob = Blob.from_bytes(config)
        self.registry.upload_blob(dest.registry, dest.repository, config_blob)
        data = image_manifest(
            base.media, str(config_blob.digest), config_blob.size, base.layers, layers
        )
        manifest = Manifest(base.media.manifest, data, Digest.of_bytes(data))
        return manifest, platform_entry(base.config)

    def _resolve(
        self,
        recipe: ImageRecipe,
        target: Target,
        facts: PythonFacts,
        wheel: Path | None,
        label: str,
        redact: Callable[[str], str],
    ) -> Resolution:
        lines: list[str] = []
        if recipe.installs_venv and not facts.has_venv:
            lines += TOOLS
        if recipe.runtime and wheel is not None:
            lines.append(f"pack @ {wheel.resolve().as_uri()}")
        lines += recipe.packages
        resolver = PackageResolver(self.uv, self.environ, ca_bundle=self.ca_bundle, redact=redact)
        request = Request(
            target,
            tuple(lines),
            (),
            facts.installed,
            recipe.index_url,
            recipe.extra_index_urls,
        )
        with tempfile.TemporaryDirectory(prefix="pack-reqs-") as tmp:
            files: tuple[Path, ...] = ()
            if recipe.requirements_kind == "uv.lock":
                files = (
                    resolver.export_lock(recipe.requirements_files, Path(tmp), request, label),
                )
            elif recipe.requirements_kind is not None:
                files = recipe.requirements_files[:1]
            return resolver.resolve(
                Request(
                    target,
                    request.requirements,
                    files,
                    request.constraints,
                    request.index_url,
                    request.extra_index_urls,
                ),
                label,
            )

    def _compiler_for(self, version: str, progress: Progress, label: str) -> Compiler | None:
        with self._lock:
            if version not in self._compilers:
                found = self._compiler(version)
                self._compilers[version] = found if found.available else None
            compiler = self._compilers[version]
        if compiler is None:
            progress.line(
                label,
                f"no Python {version} on this host to compile bytecode: the image ships none "
                f"and its tasks start slower (install python{version} here to fix)",
            )
        return compiler
