"""Make each layer present in the target repository, doing as little as possible.

For every plan, stopping at the first that holds:
1. the layer cache knows the plan's digest and the registry has it (a HEAD): nothing else;
2. the cached blob is still on disk: upload it;
3. fetch its wheels, write the layer, remember it, upload it.
Base layers are made present by the registry client's `copy_blob`: a cross-repository
mount within one registry (the base is never downloaded), a stream across registries.
All uploads go through `RegistryClient.upload_blob`, pack's one upload path.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from pack.digest import Digest
from pack.imagespec.builders.oci.baseimage import BaseImage
from pack.imagespec.builders.oci.fetch import Fetcher, build_pure_wheel
from pack.imagespec.builders.oci.image import Layer
from pack.imagespec.builders.oci.layercache import Known, LayerCache
from pack.imagespec.builders.oci.layers import write_layer
from pack.imagespec.builders.oci.plans import LayerPlan
from pack.imagespec.builders.oci.platforms import Target
from pack.imagespec.builders.oci.resolve import Pin
from pack.imagespec.registry import Blob, RegistryClient


@dataclass(frozen=True)
class Destination:
    registry: str
    repository: str


@dataclass(frozen=True)
class SourceBuild:
    """How to build the rare sdist on this host (uv, and the environment with the indexes)."""

    uv: str
    env: Mapping[str, str]
    target: Target
    cache: Path
    redact: Callable[[str], str]


class LayerPusher:
    def __init__(
        self,
        registry: RegistryClient,
        cache: LayerCache,
        *,
        mtime: int,
        gzip: ThreadPoolExecutor,
        gzip_workers: int,
        jobs: int,
    ) -> None:
        self.registry = registry
        self.cache = cache
        self.mtime = mtime
        self.gzip = gzip
        self.gzip_workers = gzip_workers
        self.jobs = max(1, jobs)

    def push_layers(
        self,
        plans: Sequence[LayerPlan],
        dest: Destination,
        fetcher: Fetcher,
        sources: SourceBuild,
    ) -> tuple[list[Layer], dict[str, int]]:
        """The layers in plan order, and how many were present / uploaded / built."""
        counts: dict[str, int] = {}
        lock = threading.Lock()

        def one(plan: LayerPlan) -> Layer:
            known, how = self._ensure(plan, dest, fetcher, sources)
            with lock:
                counts[how] = counts.get(how, 0) + 1
            return Layer(known.digest, known.size, known.diff_id, plan.created_by)

        if not plans:
            return [], counts
        workers = min(self.jobs, len(plans))
        # The heaviest first, so the longest builds overlap instead of ending the queue;
        # the manifest keeps the plans' order.
        order = sorted(range(len(plans)), key=lambda i: -plans[i].weight)
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="pack-layer") as pool:
            futures = {i: pool.submit(one, plans[i]) for i in order}
            layers = [futures[i].result() for i in range(len(plans))]
        return layers, counts

    def _ensure(
        self, plan: LayerPlan, dest: Destination, fetcher: Fetcher, sources: SourceBuild
    ) -> tuple[Known, str]:
        known = self.cache.get(plan.key)
        if known is not None:
            if self.registry.blob_exists(dest.registry, dest.repository, known.digest):
                return known, "present"
            cached = self.cache.blob(known.digest)
            if cached is not None:
                blob = Blob.from_path(cached, Digest.parse(known.digest))
                self.registry.upload_blob(dest.registry, dest.repository, blob, check_exists=False)
                return known, "uploaded"
        wheels = _fetch(plan.pins, fetcher, sources)
        written = write_layer(
            plan.entries(wheels),
            self.cache.blobs,
            mtime=self.mtime,
            pool=self.gzip,
            workers=self.gzip_workers,
        )
        known = Known(written.digest, written.size, written.diff_id)
        self.cache.put(plan.key, known)
        blob = Blob.from_path(written.path, Digest.parse(written.digest))
        status = self.registry.upload_blob(dest.registry, dest.repository, blob)
        return known, "built" if status == "uploaded" else f"built, {status}"

    def push_base(self, base: BaseImage, dest: Destination) -> None:
        src = (base.ref.registry, base.ref.repository)
        unique = list({d.digest: d for d in base.blobs}.values())
        if not unique:
            return
        with ThreadPoolExecutor(
            max_workers=min(self.jobs, len(unique)), thread_name_prefix="pack-base"
        ) as pool:
            for _ in pool.map(
                lambda d: self.registry.copy_blob(src, (dest.registry, dest.repository), d),
                unique,
            ):
                pass


def _fetch(pins: Sequence[Pin], fetcher: Fetcher, sources: SourceBuild) -> dict[str, Path]:
    if not pins:
        return {}
    paths = fetcher.fetch_all(pins)
    for pin in pins:
        if pin.artifact.kind == "sdist":
            paths[pin.name] = build_pure_wheel(
                paths[pin.name],
                pin,
                sources.target,
                uv=sources.uv,
                python=sys.executable,
                env=sources.env,
                cache=sources.cache,
                redact=sources.redact,
            )
    return paths
