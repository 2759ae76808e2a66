"""Spec -> image ref: reuse, copy, or build and push. Nothing else.

For one resolved spec, in order, stopping at the first answer:
1. the local record confirmed this ref for this content within the TTL: reused, no request
   (never with --check: that always asks the registry);
2. the registry (or, for local-only images, the engine) has the ref: reused;
3. the record knows this content under another ref that still exists (spec renamed or
   moved registry; the spec digest, not the repository, names the content): copied;
4. otherwise: built and pushed (with --check: reported missing).
`ensure_all` walks the dependency waves from plan.py; specs of one wave run in parallel.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pack.digest import Digest
from pack.errors import BuildError, EngineUnavailable, PackError, RegistryError, UsageError
from pack.imagespec.builders.base import Builder, BuildRequest, NullProgress, Progress, Secret
from pack.imagespec.hashing import ResolveDefaults, ResolvedSpec, resolve
from pack.imagespec.plan import Node, plan
from pack.imagespec.record import ImageRecord
from pack.imagespec.ref import ImageRef
from pack.imagespec.registry import DEFAULT_TIMEOUT, HttpTransport, RegistryClient
from pack.imagespec.spec import BUILDERS, ImageSpec

if TYPE_CHECKING:
    from pack.config import Config

REUSED, BUILT, COPIED, MISSING, FAILED = "reused", "built", "copied", "missing", "failed"
DOCKER, OCI = BUILDERS


@dataclass(frozen=True)
class EnsureOptions:
    force: bool = False  # rebuild even when the image exists
    check: bool = False  # only report; never build, push or copy
    push: bool = True  # False: build into the local engine only
    build_cache: str | None = None  # registry repository for the BuildKit cache
    ca_bundle: Path | None = None  # handed to builds as the `pack-ca` secret
    secret_sources: Mapping[str, Path] = field(default_factory=dict)  # for secrets without a src
    cache_dir: Path | None = None  # where the runtime wheel is cached
    jobs: int = 4
    builder: str | None = None  # --builder: overrides every spec's own choice
    default_builder: str = "docker"  # [tool.pack] builder, for specs that name none


@dataclass(frozen=True)
class Outcome:
    variable: str
    ref: ImageRef  # with .digest when known
    status: str
    seconds: float
    spec_digest: Digest
    error: str | None = None
    variables: tuple[str, ...] = ()

    @property
    def pinned(self) -> str | None:
        """`registry/repo@sha256:…`, what deployments should pull."""
        return self.ref.by_digest if self.ref.digest is not None else None

    def as_json(self) -> dict[str, Any]:
        return {
            "variable": self.variable,
            "variables": list(self.variables or (self.variable,)),
            "ref": str(_tagged(self.ref)),
            "status": self.status,
            "seconds": round(self.seconds, 3),
            "digest": self.pinned,
            "spec_digest": str(self.spec_digest),
            **({"error": self.error} if self.error else {}),
        }


def _tagged(ref: ImageRef) -> ImageRef:
    return ImageRef(ref.registry, ref.repository, ref.tag, None)


class ImageEnsurer:
    """Decides reuse/copy/build for resolved specs; one per command (holds the caches)."""

    def __init__(
        self,
        *,
        registry: RegistryClient,
        record: ImageRecord,
        builder: Callable[[str], Builder],
        options: EnsureOptions,
        progress: Progress | None = None,
    ) -> None:
        self.registry = registry
        self.record = record
        self._builder_factory = builder
        self._builders: dict[str, Builder] = {}
        self._builders_lock = threading.Lock()
        self.options = options
        self.progress = progress or NullProgress()

    def builder_kind(self, resolved: ResolvedSpec) -> str:
        """--builder, else the spec's `builder`, else the configured default."""
        return self.options.builder or resolved.spec.builder or self.options.default_builder

    def builder(self, kind: str) -> Builder:
        # Created on first use: the all-cached path never probes the docker CLI.
        with self._builders_lock:
            if kind not in self._builders:
                self._builders[kind] = self._builder_factory(kind)
            return self._builders[kind]

    def ensure(self, resolved: ResolvedSpec, label: str) -> Outcome:
        start = time.perf_counter()
        ref = resolved.ref
        spec_digest = resolved.digest
        local = resolved.registry is None or not self.options.push

        def done(status: str, digest: Digest | str | None = None) -> Outcome:
            final = ref.with_digest(digest) if digest else ref
            return Outcome(label, final, status, time.perf_counter() - start, spec_digest)

        if not self.options.force:
            # The record only saves work when building: --check is the CI question
            # "is it there now?", and an image deleted since the record was written is not.
            entry = None
            if not self.options.check:
                entry = self.record.fresh(str(ref), str(spec_digest), local=local)
            if entry is not None:
                return done(REUSED, entry.digest)
            if local:
                if self.builder(self.builder_kind(resolved)).image_exists(ref):
                    self.record.remember(str(ref), str(spec_digest), None, local=True)
                    return done(REUSED)
            else:
                digest = self.registry.lookup(ref, resolved.platforms)
                if digest is not None:
                    self.record.remember(str(ref), str(spec_digest), str(digest))
                    return done(REUSED, digest)
                if not self.options.check:
                    copied = self._copy_from_elsewhere(resolved, ref)
                    if copied is not None:
                        return done(COPIED, copied)
        if self.options.check:
            return done(MISSING)
        result = self._build(resolved, ref, label, local)
        self.record.remember(
            str(ref), str(spec_digest), str(result) if result else None, local=local
        )
        return done(BUILT, result)

    def _copy_from_elsewhere(self, resolved: ResolvedSpec, ref: ImageRef) -> Digest | None:
        for entry in self.record.elsewhere(str(resolved.digest), str(ref)):
            try:
                source = ImageRef.parse(entry.ref)
                if self.registry.lookup(source, resolved.platforms) is None:
                    self.record.forget(entry.ref)
                    continue
                self.progress.line(resolved.name, f"same content is at {source}; copying")
                digest = self.registry.copy_image(source, ref)
            except (RegistryError, ValueError) as exc:
                # The old location is unreadable from here: building is still an answer.
                self.progress.line(resolved.name, f"cannot copy from {entry.ref}: {exc}")
                continue
            self.record.remember(str(ref), str(resolved.digest), str(digest))
            return digest
        return None

    def _build(
        self, resolved: ResolvedSpec, ref: ImageRef, label: str, local: bool
    ) -> Digest | None:
        from pack.imagespec import dockerfile as df
        from pack.imagespec.recipe import recipe_of

        kind = self.builder_kind(resolved)
        recipe = recipe_of(resolved)
        if kind == OCI:
            from pack.imagespec.builders.oci.builder import refusal

            reason = refusal(recipe)
            if reason is not None:
                raise UsageError(f"{label}: {reason}")
        secrets: list[Secret] = []
        for s in df.build_secrets(resolved):
            source = s.source
            if source is None and s.value is None:
                source = self.options.secret_sources.get(s.id)
                if source is None:
                    raise UsageError(
                        f"{label}: secret_mounts[{s.id!r}] has no source file; pass "
                        f"--secret {s.id}=PATH or set one in the ImageSpec"
                    )
            secrets.append(Secret(s.id, source, s.value))
        if self.options.ca_bundle is not None:
            if not self.options.ca_bundle.is_file():
                raise UsageError(f"build_ca_bundle: file not found: {self.options.ca_bundle}")
            secrets.append(Secret(df.CA_SECRET_ID, self.options.ca_bundle))
        cache_ref = None
        if self.options.build_cache:
            cache_ref = build_cache_ref(self.options.build_cache, resolved.name)
        from pack.scratch import scratch_dir  # a build only: a reused image needs no scratch

        with scratch_dir("pack-wheel-") as scratch:
            context = dict(df.context_files(resolved))
            if df.needs_runtime_wheel(resolved):
                wheel = runtime_wheel(scratch.path, self.options.cache_dir)
                context[f"{df.RUNTIME_WHEEL_DIR}/{wheel.name}"] = wheel
            request = BuildRequest(
                label=label,
                ref=ref,
                dockerfile=df.render(resolved),
                context=context,
                platforms=resolved.platforms,
                secrets=tuple(secrets),
                push=not local,
                cache_ref=cache_ref,
                recipe=recipe,
            )
            try:
                result = self.builder(kind).build(request, self.progress)
            except EngineUnavailable as exc:
                if kind == DOCKER and not local:
                    from pack.imagespec.builders.oci.builder import refusal

                    if refusal(recipe) is None:
                        raise EngineUnavailable(
                            f"{exc.message}; this spec needs no engine: "
                            "build it with `pack build --builder oci`",
                            hint=exc.hint,
                        ) from None
                raise
            except BuildError as exc:
                if self.options.ca_bundle is None and "certificate" in exc.message.lower():
                    raise BuildError(
                        exc.message + "\n  (TLS failed inside the build: if this network needs "
                        "a CA bundle, set PACK_BUILD_CA_BUNDLE or [tool.pack] build_ca_bundle)"
                    ) from None
                raise
        if not local and result.digest is None:
            # The push output had no digest line: ask the registry, it is the truth anyway.
            return self.registry.manifest_digest(ref)
        return result.digest


def build_cache_ref(build_cache: str, name: str) -> ImageRef:
    """`127.0.0.1:5000/cache/pack` + spec name -> `127.0.0.1:5000/cache/pack:<name>`."""
    try:
        base = ImageRef.parse(build_cache)
    except ValueError as exc:
        raise UsageError(
            f"build_cache: {exc}; expected a repository like host/cache/name"
        ) from None
    if base.tag:
        return base
    return base.with_tag(name.replace("/", "-")[:128])


def runtime_wheel(dest: Path, cache_dir: Path | None) -> Path:
    """The running pack as a wheel (from its checkout or its installed files; never an index)."""
    from pack.runtime import build_runtime_wheel

    return build_runtime_wheel(dest, cache_dir=cache_dir)


def ensure_all(
    specs: Mapping[str, ImageSpec],
    defaults: ResolveDefaults,
    ensurer: ImageEnsurer,
    *,
    on_done: Callable[[Outcome], None] | None = None,
    on_warning: Callable[[str], None] | None = None,
    resolved: dict[int, ResolvedSpec] | None = None,
) -> list[Outcome]:
    """Every spec in dependency order; a failed base fails its dependents without building.
    `on_warning` hears each spec's copy= warnings (left-out secrets) before anything runs.
    `resolved`: resolutions already made with `defaults` (hashing.resolve's cache)."""
    waves = plan(specs)
    cache: dict[int, ResolvedSpec] = {} if resolved is None else resolved
    resolved = {id(n): resolve(n.spec, defaults, cache) for wave in waves for n in wave}
    if on_warning is not None:
        for r in resolved.values():
            for warning in r.warnings:
                on_warning(warning)
    failed: set[int] = set()
    outcomes: list[Outcome] = []

    def one(node: Node) -> Outcome:
        r = resolved[id(node)]
        names = tuple(node.variables or (node.label,))
        if node.base is not None and id(node.base) in failed:
            error = f"its base image {node.base.label} failed"
            return Outcome(node.label, r.ref, FAILED, 0.0, r.digest, error, names)
        try:
            out = ensurer.ensure(r, node.label)
        except PackError as exc:
            return Outcome(node.label, r.ref, FAILED, 0.0, r.digest, exc.message, names)
        return dataclasses.replace(out, variables=names)

    for wave in waves:
        workers = max(1, min(ensurer.options.jobs, len(wave)))
        if workers == 1:
            results = [one(n) for n in wave]
        else:
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="pack-build") as pool:
                results = list(pool.map(one, wave))
        for node, out in zip(wave, results, strict=True):
            if out.status == FAILED:
                failed.add(id(node))
            outcomes.append(out)
            if on_done is not None:
                on_done(out)
    return outcomes


def ensurer_from_config(
    config: Config,
    environ: Mapping[str, str],
    *,
    progress: Progress | None = None,
    force: bool = False,
    check: bool = False,
    push: bool = True,
    secret_sources: Mapping[str, Path] | None = None,
    jobs: int = 4,
    builder: str | None = None,
) -> ImageEnsurer:
    """The ensurer a command uses: registry client, record, lazy Docker builder from Config.

    `environ` is the process environment the CLI hands down: the builder's subprocesses
    inherit it, and DOCKER_CONFIG/HOME locate the Docker config when Config has none.
    """
    from pack.imagespec.dockercreds import DockerCredentials, default_config_path

    docker_dir = config.docker_config
    if docker_dir is None and environ.get("DOCKER_CONFIG"):
        docker_dir = Path(environ["DOCKER_CONFIG"]).expanduser()
    home = Path(environ.get("HOME") or Path.home())

    registry = RegistryClient(
        credentials=DockerCredentials(default_config_path(docker_dir, home)),
        insecure=config.insecure_registries,
        transport=HttpTransport(timeout=config.network_timeout or DEFAULT_TIMEOUT),
    )

    def make_builder(kind: str) -> Builder:
        if kind == OCI:
            from pack.imagespec.builders.oci.builder import OciBuilder

            return OciBuilder.from_config(config, environ, registry)
        from pack.imagespec.builders.docker import DockerBuilder

        return DockerBuilder.from_config(config, environ)

    return ImageEnsurer(
        registry=registry,
        record=ImageRecord.in_cache(config.cache_dir, config.record_ttl_seconds),
        builder=make_builder,
        options=EnsureOptions(
            force=force,
            check=check,
            push=push,
            build_cache=config.build_cache,
            ca_bundle=config.build_ca_bundle,
            secret_sources=dict(secret_sources or {}),
            cache_dir=config.cache_dir,
            jobs=jobs,
            builder=builder,
            default_builder=config.builder,
        ),
        progress=progress,
    )


def ensure_image(
    spec: ImageSpec,
    config: Config,
    environ: Mapping[str, str],
    *,
    progress: Progress | None = None,
    check: bool = False,
    resolved: dict[int, ResolvedSpec] | None = None,
) -> Outcome:
    """One spec (and its base specs): reuse, copy or build + push. Raises on failure.

    `outcome.ref` carries the manifest digest when known; `outcome.pinned` is
    `registry/repo@sha256:…` for pods to pull. `resolved`: resolutions already made
    with the config's defaults (hashing.resolve's cache), not made again.
    """
    from pack.imagespec.hashing import defaults_from_config

    ensurer = ensurer_from_config(config, environ, progress=progress, check=check)
    outcomes = ensure_all(
        {spec.name: spec}, defaults_from_config(config), ensurer, resolved=resolved
    )
    for out in outcomes:
        if out.status == FAILED:
            raise BuildError(f"{out.variable}: {out.error}")
    return outcomes[-1]
