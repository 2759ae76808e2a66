"""Bytecode for the image's Python, compiled on this host by an interpreter of its version.

Measured with benchmarks/bench_oci.py: importing the pack runtime (with boto3 and yaml)
in a container of an oci-built image took 0.32 s with its bytecode and 1.09 s without
(each pod compiles again, and its writes die with it), so images ship `.pyc` files, like
the Docker builder's `uv pip install --compile-bytecode`.

A `.pyc` is tied to a Python minor version, not to a platform, so any interpreter of the
image's version on this host compiles it: this one when it matches, else a `pythonX.Y`
on PATH. Output is reproducible: `marshal` gives the same bytes for a source whatever
else the process compiled, and across patch releases of one minor version (checked for
3.11.2 and 3.11.7). The header records the layer's fixed mtime and the source size, so
Python finds each `.pyc` valid against its `.py` exactly as an installer's would be.
Without such an interpreter the image is built without bytecode (and says so).

A distribution's own test suite (a module inside a `tests` folder: pandas/tests,
numpy/*/tests) ships without bytecode: a task never imports it, and it was most of what
a numpy+pandas image compiled (8.2 of 10.8 s of CPU, 20 of 34 MB of source). Running a
library's tests in a pod still works; they compile then.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import sys
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor

from pack.errors import BuildError

# Runs in the compiling interpreter: `-I -S`, so nothing of the host's site leaks in.
_WORKER = r"""
import struct, sys
from importlib._bootstrap_external import _code_to_timestamp_pyc
mtime = int(sys.argv[1])
out = sys.stdout.buffer
out.write(("%d.%d\n" % sys.version_info[:2]).encode())
data = sys.stdin.buffer.read()
pos = 0
while pos < len(data):
    n, m = struct.unpack_from(">II", data, pos)
    pos += 8
    path = data[pos:pos + n].decode("utf-8"); pos += n
    source = data[pos:pos + m]; pos += m
    try:
        code = compile(source, "/" + path, "exec", dont_inherit=True, optimize=0)
        pyc = bytes(_code_to_timestamp_pyc(code, mtime, len(source)))
    except (SyntaxError, ValueError):
        pyc = b""
    out.write(struct.pack(">I", len(pyc)))
    out.write(pyc)
out.flush()
"""


# Folder names whose modules are never compiled (a bump changes layer keys: plans.py).
UNCOMPILED_FOLDERS = ("tests",)
# Import paths (site-packages relative) of runtime dependencies that nothing of pack ever
# imports, in a pod or on a laptop (tests/unit/oci/test_uncompiled.py checks it). When the
# spec does not want the distribution itself, they ship as sources without bytecode: a
# task that imports one compiles it then, as it would from an image built without
# bytecode. kubernetes/aio, the asyncio client (pack uses the synchronous one), is 40 of
# kubernetes' 74 MB of sources: compiling it was ~6 s of CPU in every cold build
# (the oci phase table of benchmarks/bench_oci.py).
RUNTIME_UNIMPORTED: Mapping[str, tuple[str, ...]] = {"kubernetes": ("kubernetes/aio/",)}


def compiles(site_relative: str, prefixes: Sequence[str] = ()) -> bool:
    """Whether the module at `site_relative` (a path inside site-packages) gets bytecode:
    not inside an UNCOMPILED_FOLDERS folder, nor under one of `prefixes`."""
    folders = site_relative.split("/")[:-1]
    return not site_relative.startswith(tuple(prefixes)) and not any(
        f in UNCOMPILED_FOLDERS for f in folders
    )


def pyc_path(source_path: str, cache_tag: str) -> str:
    """`a/b/c.py` -> `a/b/__pycache__/c.<cache_tag>.pyc` (PEP 3147)."""
    folder, _, name = source_path.rpartition("/")
    stem = name[: -len(".py")]
    return (
        f"{folder}/__pycache__/{stem}.{cache_tag}.pyc"
        if folder
        else f"__pycache__/{stem}.{cache_tag}.pyc"
    )


def _candidates(version: str, search_path: str) -> list[str]:
    out: list[str] = []
    if f"{sys.version_info.major}.{sys.version_info.minor}" == version:
        out.append(sys.executable)
    for folder in search_path.split(os.pathsep):
        found = shutil.which(f"python{version}", path=folder) if folder else None
        if found and found not in out:
            out.append(found)
    return out


class Compiler:
    """Compiles sources for one Python version; `available` is False when no host can."""

    def __init__(self, version: str, search_path: str, *, workers: int = 2) -> None:
        self.version = version
        self.workers = max(1, workers)
        self._candidates = _candidates(version, search_path)
        self._python: str | None = None
        self._checked = False

    @property
    def python(self) -> str | None:
        """The interpreter that compiles (probed once: a pyenv shim may not run)."""
        if not self._checked:
            self._checked = True
            for candidate in self._candidates:
                try:
                    proc = subprocess.run(
                        [candidate, "-I", "-S", "-c", _WORKER, "0"],
                        input=b"",
                        capture_output=True,
                        timeout=60,
                    )
                except (OSError, subprocess.TimeoutExpired):
                    continue
                if proc.returncode == 0 and proc.stdout.decode(errors="replace").strip() == (
                    self.version
                ):
                    self._python = candidate
                    break
        return self._python

    @property
    def available(self) -> bool:
        return self.python is not None

    def compile(self, sources: Sequence[tuple[str, bytes]], mtime: int) -> dict[str, bytes]:
        """{source path: pyc bytes} for every source that compiles (others are skipped)."""
        python = self.python
        if python is None or not sources:
            return {}
        ordered = sorted(sources)
        n = min(self.workers, max(1, len(ordered) // 200))
        parts = [ordered[i::n] for i in range(n)]
        with ThreadPoolExecutor(max_workers=n) as pool:
            results = list(pool.map(lambda part: self._run(python, part, mtime), parts))
        merged: dict[str, bytes] = {}
        for result in results:
            merged.update(result)
        return merged

    def _run(self, python: str, part: Sequence[tuple[str, bytes]], mtime: int) -> dict[str, bytes]:
        payload = b"".join(
            struct.pack(">II", len(p.encode()), len(src)) + p.encode() + src for p, src in part
        )
        proc = subprocess.run(
            [python, "-I", "-S", "-c", _WORKER, str(mtime & 0xFFFFFFFF)],
            input=payload,
            capture_output=True,
        )
        if proc.returncode != 0:
            tail = proc.stderr.decode(errors="replace").strip().splitlines()[-3:]
            raise BuildError(f"compiling bytecode with {python} failed: {' '.join(tail)}")
        out = proc.stdout
        pos = out.index(b"\n") + 1
        compiled: dict[str, bytes] = {}
        for path, _ in part:
            (size,) = struct.unpack_from(">I", out, pos)
            pos += 4
            if size:
                compiled[path] = out[pos : pos + size]
            pos += size
        return compiled


def find_compiler(version: str, search_path: str, workers: int | None = None) -> Compiler:
    return Compiler(version, search_path, workers=workers or min(4, os.cpu_count() or 1))
