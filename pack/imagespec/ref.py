"""ImageRef: an image reference as a typed value, parsed once at the edge."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from pack.digest import Digest

# docker/distribution reference grammar: one path component, a repository path, a tag.
COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
REPOSITORY_RE = re.compile(rf"^{COMPONENT}(?:/{COMPONENT})*\Z")
TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}\Z")


@dataclass(frozen=True)
class ImageRef:
    """`[registry/]repository[:tag][@sha256:...]`.

    `registry` is None for a local-only image (and for a Docker Hub short name such as
    `python:3.11-slim`: pack does not invent `docker.io/library/`).
    """

    registry: str | None
    repository: str
    tag: str | None = None
    digest: Digest | None = None

    @classmethod
    def parse(cls, text: str) -> ImageRef:
        original = text
        digest: Digest | None = None
        if "@" in text:
            text, _, digest_text = text.partition("@")
            try:
                digest = Digest.parse(digest_text)
            except ValueError as exc:
                raise ValueError(f"invalid image reference {original!r}: {exc}") from None
        tag: str | None = None
        last_slash = text.rfind("/")
        colon = text.rfind(":")
        if colon > last_slash:
            text, tag = text[:colon], text[colon + 1 :]
            if not TAG_RE.match(tag):
                raise ValueError(f"invalid image reference {original!r}: bad tag {tag!r}")
        registry: str | None = None
        first, sep, rest = text.partition("/")
        # Docker's rule: the first component is a registry host if it looks like one.
        if sep and ("." in first or ":" in first or first == "localhost"):
            registry, text = first, rest
        if not REPOSITORY_RE.match(text):
            raise ValueError(f"invalid image reference {original!r}: bad repository {text!r}")
        return cls(registry=registry, repository=text, tag=tag, digest=digest)

    @property
    def name(self) -> str:
        """`registry/repository` without tag or digest."""
        return f"{self.registry}/{self.repository}" if self.registry else self.repository

    def __str__(self) -> str:
        out = self.name
        if self.tag:
            out += f":{self.tag}"
        if self.digest:
            out += f"@{self.digest}"
        return out

    def with_digest(self, digest: Digest | str) -> ImageRef:
        value = digest if isinstance(digest, Digest) else Digest.parse(digest)
        return replace(self, digest=value)

    def with_tag(self, tag: str) -> ImageRef:
        if not TAG_RE.match(tag):
            raise ValueError(f"invalid tag {tag!r}")
        return replace(self, tag=tag)

    @property
    def by_digest(self) -> str:
        """`registry/repository@sha256:...`: the immutable form pods should pull."""
        if self.digest is None:
            raise ValueError(f"{self} has no digest")
        return f"{self.name}@{self.digest}"
