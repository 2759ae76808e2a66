"""Layer contents (entries) and layer blobs (deterministic tar + parallel gzip on disk)."""

from __future__ import annotations

import os
import posixpath
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from pack.errors import BuildError
from pack.imagespec.builders.oci import tar
from pack.imagespec.builders.oci.bytecode import Compiler, compiles, pyc_path
from pack.imagespec.builders.oci.compress import GzipWriter
from pack.imagespec.builders.oci.venv import VenvLayout
from pack.imagespec.builders.oci.wheel import install
from pack.imagespec.recipe import CopyFile
from pack.scratch import scratch_file

_WRITE_BUFFER = 256 * 1024


@dataclass(frozen=True)
class WrittenLayer:
    """A written layer: the gzip file and the digests a manifest and a config need."""

    path: Path
    digest: str
    size: int
    diff_id: str


def with_parents(entries: Iterable[tar.Entry], floor: str) -> list[tar.Entry]:
    """`entries` plus a 0755 directory entry for every parent folder strictly below `floor`.

    Folders at or above `floor` (`/opt`, `/root`) belong to the base image: an entry for
    one would overwrite its mode.
    """
    out = {e.path: e for e in entries}
    for path in list(out):
        parent = posixpath.dirname(path)
        while parent.startswith(floor + "/") and parent not in out:
            out[parent] = tar.directory(parent)
            parent = posixpath.dirname(parent)
    return list(out.values())


def wheel_entries(
    wheels: Sequence[Path],
    layout: VenvLayout,
    compiler: Compiler | None,
    mtime: int,
    *,
    uncompiled: Sequence[str] = (),
) -> list[tar.Entry]:
    """Every wheel installed into the venv, plus bytecode when a compiler is available
    for every module that `compiles` (not a test suite, nor under an `uncompiled` prefix,
    site-packages relative)."""
    entries: dict[str, tar.Entry] = {}
    sources: list[tuple[str, bytes]] = []
    site = layout.site_packages + "/"
    for path in wheels:
        done = install(path, layout)
        for entry in done.entries:
            # Two distributions shipping one file (old-style namespace __init__.py): the
            # first in name order stays, as a fixed rule; overlay order decides across layers.
            entries.setdefault(entry.path, entry)
        # install() collects sources from site-packages only.
        sources.extend(s for s in done.sources if compiles(s[0][len(site) :], uncompiled))
    if compiler is not None:
        compiled = compiler.compile(sources, mtime)
        for source, pyc in compiled.items():
            target = pyc_path(source, layout.cache_tag)
            entries.setdefault(target, tar.file(target, pyc))
    return with_parents(entries.values(), posixpath.dirname(layout.root))


def _file_chunks(path: Path) -> tar.Chunks:
    def chunks() -> Iterator[bytes]:
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                yield chunk

    return chunks


def copy_entries(copies: Sequence[CopyFile], dirs: Sequence[str], floor: str) -> list[tar.Entry]:
    """Copied files at their image paths, mode 0755 for executables, else 0644."""
    entries = [tar.directory(d) for d in dirs]
    for copy in copies:
        try:
            size = copy.source.stat().st_size
        except OSError as exc:
            raise BuildError(f"copy: cannot read {copy.source}: {exc.strerror}") from None
        entries.append(
            tar.streamed(copy.dest, size, _file_chunks(copy.source), executable=copy.executable)
        )
    return with_parents(entries, floor)


class _Buffered:
    """Coalesces the tar writer's many small writes into big ones for the compressor."""

    def __init__(self, sink: GzipWriter) -> None:
        self.sink = sink
        self.buf = bytearray()

    def write(self, data: bytes) -> None:
        self.buf += data
        if len(self.buf) >= _WRITE_BUFFER:
            self.sink.write(bytes(self.buf))
            self.buf.clear()

    def flush(self) -> None:
        if self.buf:
            self.sink.write(bytes(self.buf))
            self.buf.clear()


def write_layer(
    entries: Sequence[tar.Entry],
    folder: Path,
    *,
    mtime: int,
    pool: ThreadPoolExecutor | None,
    workers: int,
) -> WrittenLayer:
    """Write the layer blob into `folder` as `<hex>.tar.gz` (a scratch file, then rename:
    one a killed build left is swept by the next, pack.scratch)."""
    with scratch_file(folder, ".layer-", ".tmp") as (fd, tmp):
        with os.fdopen(fd, "wb") as f:
            gz = GzipWriter(f, pool, workers=workers)
            buffered = _Buffered(gz)
            try:
                tar.write_tar(entries, buffered.write, mtime)
            except ValueError as exc:  # a path a wheel or a copy entry should never give
                raise BuildError(f"cannot write the layer: {exc}") from None
            buffered.flush()
            gz.close()
        final = folder / f"{gz.digest.split(':', 1)[1]}.tar.gz"
        os.replace(tmp, final)
    return WrittenLayer(final, gz.digest, gz.size, gz.diff_id)
