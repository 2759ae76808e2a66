"""The Builder protocol: turn a rendered Dockerfile and its files into a tagged image.

A builder sees no ImageSpec: the orchestrator (ensure.py) renders the Dockerfile,
lists the context files and the secrets, derives the recipe (the same image as data,
for the daemonless builder), and hands over one BuildRequest. Progress
goes to a `Progress` sink the caller owns (plain lines or a rich display), so
library code never prints.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from pack.digest import Digest
from pack.imagespec.ref import ImageRef

if TYPE_CHECKING:
    from pack.imagespec.recipe import ImageRecipe


@dataclass(frozen=True)
class Secret:
    """A BuildKit secret: a local file, or a literal value the builder writes to a private
    temp file (never to the context, the command line or a log). repr() hides the value."""

    id: str
    source: Path | None = None
    value: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class BuildRequest:
    label: str  # what progress lines are prefixed with (the spec's variable)
    ref: ImageRef  # the tag to build
    dockerfile: str
    context: Mapping[str, Path]  # path in the build context -> local file (mode preserved)
    platforms: tuple[str, ...] = ()
    secrets: tuple[Secret, ...] = ()
    push: bool = True
    cache_ref: ImageRef | None = None  # a registry build cache to read from and write to
    # The same image as data, for builders that write layers instead of running a Dockerfile.
    recipe: ImageRecipe | None = None


@dataclass(frozen=True)
class BuildResult:
    ref: ImageRef  # with the pushed manifest digest when the registry reported one
    digest: Digest | None
    image_id: str | None = None


class Progress(Protocol):
    """Where a build reports what it is doing; implementations live in the CLI."""

    def line(self, label: str, text: str) -> None: ...


class NullProgress:
    def line(self, label: str, text: str) -> None:
        pass


class Builder(Protocol):
    def build(self, request: BuildRequest, progress: Progress) -> BuildResult:
        """Build (and push when request.push); raise BuildError with the failing step's tail."""
        ...

    def image_exists(self, ref: ImageRef) -> bool:
        """Is `ref` in the local engine (for specs without a registry, and --no-push)?"""
        ...


def redactor(secrets: Iterable[Secret]) -> Callable[[str], str]:
    """A function that hides literal secret values in a line of build output.

    Literal values are index URLs, and tools in the build echo URLs on their hosts (uv
    names the index or the file a download failed from: `https://pypi.fury.io/TOKEN/…`).
    So every URL on an index URL's host is shown redacted (scheme and host), and the
    literal values themselves are hidden wherever they appear.
    """
    import re

    from pack.imagespec.spec import redact_url, url_host

    values = [s.value for s in secrets if s.value]
    hosts: set[str] = set()
    for value in values:
        for url in value.split():
            if "://" in url and url_host(url):
                hosts.add(url_host(url))
    url_re = None
    if hosts:
        alternatives = "|".join(re.escape(h) for h in sorted(hosts, key=len, reverse=True))
        url_re = re.compile(
            rf"[A-Za-z][A-Za-z0-9+.-]*://(?:[^/\s@]+@)?(?:{alternatives})(?![A-Za-z0-9.:-])"
            r"[^\s'\"`<>)]*"
        )
    literals = sorted(values, key=len, reverse=True)

    def scrub(line: str) -> str:
        if url_re is not None:
            line = url_re.sub(lambda m: redact_url(m.group(0)), line)
        for value in literals:
            line = line.replace(value, "***")
        return line

    return scrub
