"""Fetch the resolved files: wheels by URL into a content-addressed cache, sdists built.

Every file is checked against the sha256 uv's lock gives before it is used or cached
(a temp file renamed into place, so the cache never holds a partial file). Downloads
run in parallel. Index credentials (a user:password in an index URL of the spec) go as
Basic auth to that index's host only and never into a message.

A source distribution (resolve.py lets one through only when its project has no wheel
at all) is built on this host with `uv build --wheel`; the result must be a pure
`none-any` wheel, since a compiled one would be for this host, not for the image.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import os
import shutil
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, BinaryIO

from pack.atomic import atomic_write
from pack.errors import BuildError
from pack.imagespec.builders.oci.platforms import Target
from pack.imagespec.builders.oci.resolve import Pin

CHUNK = 1 << 20
RETRIES = 3  # a connection error or a 5xx is tried again, with backoff
TIMEOUT = 60.0  # seconds to connect and per read; [tool.pack] network_timeout overrides


def index_credentials(urls: Sequence[str]) -> dict[str, str]:
    """host -> `Basic …` for every index URL that carries user:password (pure)."""
    out: dict[str, str] = {}
    for url in urls:
        parts = urllib.parse.urlsplit(url)
        if parts.username is not None and parts.hostname:
            raw = f"{urllib.parse.unquote(parts.username)}:{urllib.parse.unquote(parts.password or '')}"
            out[parts.hostname] = "Basic " + base64.b64encode(raw.encode()).decode("ascii")
    return out


def _safe(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    return urllib.parse.urlunsplit((parts.scheme, host, parts.path, "", ""))


class Fetcher:
    """Downloads into `cache/<sha256>/<filename>`; one instance per build."""

    def __init__(
        self,
        cache: Path,
        *,
        credentials: Mapping[str, str] | None = None,
        ca_bundle: Path | None = None,
        jobs: int = 8,
        opener: Callable[[urllib.request.Request, float], Any] | None = None,
        redact: Callable[[str], str] = lambda text: text,
        timeout: float | None = None,
    ) -> None:
        self.redact = redact
        self.timeout = timeout or TIMEOUT
        self.cache = cache
        self.credentials = dict(credentials or {})
        self.jobs = jobs
        context = ssl.create_default_context(cafile=str(ca_bundle) if ca_bundle else None)
        self._opener = opener or (
            lambda req, timeout: urllib.request.urlopen(req, timeout=timeout, context=context)  # noqa: S310
        )

    def path_for(self, sha256: str, filename: str) -> Path:
        return self.cache / sha256 / filename

    def fetch_all(self, pins: Sequence[Pin]) -> dict[str, Path]:
        """{name: local file} for every pin (local files as they are)."""
        with ThreadPoolExecutor(
            max_workers=max(1, self.jobs), thread_name_prefix="pack-fetch"
        ) as pool:
            paths = list(pool.map(self.fetch, pins))
        return {pin.name: path for pin, path in zip(pins, paths, strict=True)}

    def fetch(self, pin: Pin) -> Path:
        art = pin.artifact
        if art.kind == "local":
            assert art.path is not None
            if art.sha256 and _sha256(art.path) != art.sha256:
                raise BuildError(f"{art.path}: changed since it was resolved")
            return art.path
        if not art.sha256 or not art.url:
            raise BuildError(f"{pin.name}=={pin.version}: the index gave {art.filename} no sha256")
        target = self.path_for(art.sha256, art.filename)
        if target.is_file():
            return target
        self._download(art.url, target, art.sha256, f"{pin.name}=={pin.version}")
        return target

    def _download(self, url: str, target: Path, sha256: str, what: str) -> None:
        request = urllib.request.Request(url, headers={"User-Agent": "pack-oci/1"})
        parts = urllib.parse.urlsplit(url)
        if parts.hostname in self.credentials and "@" not in parts.netloc:
            # Unredirected: a redirect to a CDN or object store never carries it along.
            request.add_unredirected_header("Authorization", self.credentials[parts.hostname])

        def write(f: BinaryIO) -> None:
            last = ""
            for attempt in range(RETRIES + 1):
                if attempt:
                    time.sleep(0.5 * 2 ** (attempt - 1))
                    f.seek(0)
                    f.truncate()
                h = hashlib.sha256()
                try:
                    with self._opener(request, self.timeout) as r:
                        while chunk := r.read(CHUNK):
                            h.update(chunk)
                            f.write(chunk)
                except urllib.error.HTTPError as exc:
                    last = f"HTTP {exc.code}"
                    if exc.code < 500:
                        break  # the index said no: asking again changes nothing
                    continue
                except (OSError, http.client.HTTPException) as exc:
                    last = f"{type(exc).__name__}: {exc}"
                    continue
                if h.hexdigest() != sha256:
                    raise BuildError(
                        self.redact(
                            f"{what}: {_safe(url)} has sha256 {h.hexdigest()}, "
                            f"the lock says {sha256}"
                        )
                    )
                return
            raise BuildError(self.redact(f"{what}: cannot download {_safe(url)}: {last}"))

        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(target, write)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def build_pure_wheel(
    sdist: Path,
    pin: Pin,
    target: Target,
    *,
    uv: str,
    python: str,
    env: Mapping[str, str],
    cache: Path,
    redact: Callable[[str], str] = lambda text: text,
) -> Path:
    """A `none-any` wheel from `sdist`, cached next to it; anything else is an error."""
    cached = sorted((cache / f"built-{pin.artifact.sha256}").glob("*.whl"))
    if cached:
        return cached[0]
    with tempfile.TemporaryDirectory(prefix="pack-sdist-") as tmp:
        out = Path(tmp) / "out"
        proc = subprocess.run(
            [
                uv,
                "build",
                "--no-config",
                "--quiet",
                "--wheel",
                "--python",
                python,
                "--out-dir",
                str(out),
                str(sdist),
            ],
            env=dict(env),
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
        )
        wheels = sorted(out.glob("*.whl"))
        if proc.returncode != 0 or not wheels:
            tail = redact(" ".join(proc.stderr.strip().splitlines()[-3:]))
            raise BuildError(
                f"{pin.name}=={pin.version} has no wheel for {target.describe()} and its "
                f"source distribution does not build on this host: {tail}"
            )
        wheel = wheels[0]
        if not wheel.name.endswith("-none-any.whl"):
            raise BuildError(
                f"{pin.name}=={pin.version} has no wheel for {target.describe()}: only a source "
                f"distribution, which builds platform-specific code ({wheel.name}); pin a "
                "version with wheels or build this spec with the docker builder"
            )
        final = cache / f"built-{pin.artifact.sha256}"
        staged = Path(tmp) / "staged"
        staged.mkdir()
        shutil.move(str(wheel), staged / wheel.name)
        final.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(staged, final)
        except OSError:
            pass  # a parallel build cached the same sdist first
        return sorted(final.glob("*.whl"))[0]
