"""ImageSpec: a frozen, validated description of a container image.

Construction validates every field and raises a one-line SpecError naming the
field and the bad value. No I/O happens here: files named by `requirements` and
`copy` are read later, when the spec is resolved for hashing (hashing.resolve).
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import shlex
import string
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from pack.errors import SpecError
from pack.imagespec.ref import COMPONENT, REPOSITORY_RE, TAG_RE

DEFAULT_PLATFORM = "linux/amd64"
BUILDERS = ("docker", "oci")  # "docker": BuildKit through an engine; "oci": daemonless

REGISTRY_RE = re.compile(
    r"^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*"
    r"|\[[0-9A-Fa-f:]+\])(?::[0-9]+)?"
    rf"(?:/{COMPONENT})*\Z"
)
PYTHON_RE = re.compile(r"^3\.[0-9]{1,2}(?:\.[0-9]{1,3})?\Z")
PLATFORM_RE = re.compile(
    r"^linux/(?:amd64(?:/v[1-4])?|arm64(?:/v8)?|arm/v[5-7]|386|ppc64le|s390x|riscv64|mips64le)\Z"
)
APT_RE = re.compile(r"^[a-z0-9][a-z0-9+.-]+(?:=[A-Za-z0-9.+~:-]+)?\Z")
ENV_KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\Z")
LABEL_KEY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]*\Z")
SECRET_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*\Z")
URL_RE = re.compile(r"^(?:https?|file)://\S+\Z")
TAG_FORMAT_FIELDS = ("digest", "name", "python")


class FrozenMap(Mapping[str, Any]):
    """An immutable, hashable str-keyed mapping (dicts cannot live in a frozen dataclass)."""

    __slots__ = ("_items", "_hash")

    def __init__(self, items: Mapping[str, Any] | None = None) -> None:
        self._items: dict[str, Any] = dict(items or {})
        self._hash: int | None = None

    def __getitem__(self, key: str) -> Any:
        return self._items[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __hash__(self) -> int:
        if self._hash is None:
            self._hash = hash(frozenset(self._items.items()))
        return self._hash

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Mapping):
            return self._items == dict(other)
        return NotImplemented

    def __repr__(self) -> str:
        return repr(self._items)


def _caller_dir() -> Path:
    """The folder of the file that called ImageSpec(...), where relative paths resolve."""
    frame: Any = sys._getframe(1)
    # Skip this module's frames (__post_init__, the generated __init__) and dataclasses'.
    while frame is not None and frame.f_globals.get("__name__") in (__name__, "dataclasses"):
        frame = frame.f_back
    filename = frame.f_globals.get("__file__") if frame is not None else None
    if filename:
        return Path(filename).resolve().parent
    # Interactive session or `python -c`: the working directory is the only sensible base.
    return Path.cwd()


@dataclass(frozen=True)
class ImageSpec:
    """What goes into an image. Lists are accepted and stored as tuples, mappings as FrozenMap.

    `base_dir` is where relative paths (`requirements`, `copy`, `source_root`) resolve; it
    defaults to the folder of the file that constructs the spec.
    """

    name: str
    registry: str | None = None
    base_image: str | ImageSpec | None = None
    python_version: str | None = None
    packages: tuple[str, ...] = ()
    requirements: str | None = None
    apt_packages: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=FrozenMap)
    commands: tuple[str, ...] = ()
    copy: tuple[str, ...] = ()
    source_root: str | None = None
    platform: str | None = None
    pip_index_url: str | None = None
    pip_extra_index_urls: tuple[str, ...] = ()
    # secret id -> local source file (None: the builder supplies it). Ids count in the digest.
    secret_mounts: Mapping[str, str | None] = field(default_factory=FrozenMap)
    labels: Mapping[str, str] = field(default_factory=FrozenMap)
    entrypoint: tuple[str, ...] | None = None
    tag_format: str | None = None
    builder: str | None = None
    runtime: bool = True
    # copy= entries: list what symlinks leaving the spec's folder point to (else refused).
    follow_links: bool = False
    base_dir: Path | None = None

    def __repr__(self) -> str:
        # Index URLs carry tokens (user:password@, a path, a query): shown redacted.
        parts = []
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name == "pip_index_url" and isinstance(value, str):
                value = redact_url(value)
            elif f.name == "pip_extra_index_urls" and isinstance(value, tuple):
                value = tuple(redact_url(u) if isinstance(u, str) else u for u in value)
            parts.append(f"{f.name}={value!r}")
        return f"ImageSpec({', '.join(parts)})"

    def __post_init__(self) -> None:
        _validate(self)
        if self.base_dir is None:
            object.__setattr__(self, "base_dir", _caller_dir())
        else:
            object.__setattr__(self, "base_dir", Path(self.base_dir))

    @property
    def folder(self) -> Path:
        """`base_dir`, typed as always set (it is, after construction)."""
        assert self.base_dir is not None
        return self.base_dir

    def _replace(self, **changes: Any) -> ImageSpec:
        return dataclasses.replace(self, **changes)

    def with_packages(self, *packages: str) -> ImageSpec:
        return self._replace(packages=(*self.packages, *_flatten(packages)))

    def with_apt_packages(self, *packages: str) -> ImageSpec:
        return self._replace(apt_packages=(*self.apt_packages, *_flatten(packages)))

    def with_commands(self, *commands: str) -> ImageSpec:
        return self._replace(commands=(*self.commands, *_flatten(commands)))

    def with_env(self, env: Mapping[str, str] | None = None, **more: str) -> ImageSpec:
        return self._replace(env={**self.env, **(env or {}), **more})


def _flatten(values: tuple[Any, ...]) -> list[Any]:
    """`with_packages("a", "b")` and `with_packages(["a", "b"])` both work."""
    out: list[Any] = []
    for value in values:
        if isinstance(value, (list, tuple)):
            out.extend(value)
        else:
            out.append(value)
    return out


# ---------------------------------------------------------------- validation


class _Check:
    def __init__(self, spec: ImageSpec) -> None:
        self.spec = spec
        label = spec.name if isinstance(spec.name, str) else "?"
        self.prefix = f"ImageSpec {label!r}"

    def fail(self, fieldname: str, message: str) -> SpecError:
        return SpecError(f"{self.prefix}: {fieldname}: {message}")

    def set(self, fieldname: str, value: Any) -> None:
        object.__setattr__(self.spec, fieldname, value)

    def opt_str(self, fieldname: str, show: Callable[[Any], str] = repr) -> str | None:
        """`show` is how a bad value appears in the message (redacted for index URLs)."""
        value = getattr(self.spec, fieldname)
        if value is None:
            return None
        if isinstance(value, Path):
            value = str(value)
        if not isinstance(value, str) or not value.strip():
            raise self.fail(fieldname, f"expected a non-empty string, got {show(value)}")
        if "\n" in value or "\r" in value:
            raise self.fail(fieldname, f"must be one line, got {show(value)}")
        self.set(fieldname, value)
        return value

    def str_tuple(self, fieldname: str, show: Callable[[Any], str] = repr) -> tuple[str, ...]:
        value = getattr(self.spec, fieldname)
        if value is None:
            value = ()
        if isinstance(value, (str, Path)):
            value = (value,)
        if not isinstance(value, (list, tuple, set, frozenset)):
            raise self.fail(fieldname, f"expected a list of strings, got {show(value)}")
        items = tuple(str(v) if isinstance(v, Path) else v for v in value)
        for item in items:
            if not isinstance(item, str) or not item.strip():
                raise self.fail(fieldname, f"expected non-empty strings, got {show(item)}")
            if "\n" in item or "\r" in item:
                raise self.fail(
                    fieldname, f"must be one line each (use && to chain), got {show(item)}"
                )
        self.set(fieldname, items)
        return items

    def str_map(
        self, fieldname: str, key_re: re.Pattern[str], values_optional: bool = False
    ) -> None:
        value = getattr(self.spec, fieldname)
        if value is None:
            value = {}
        if not isinstance(value, Mapping):
            raise self.fail(fieldname, f"expected a mapping of strings, got {value!r}")
        for key, item in value.items():
            if not isinstance(key, str) or not key_re.match(key):
                raise self.fail(fieldname, f"invalid key {key!r} (expected {shown(key_re)})")
            if item is None and values_optional:
                continue
            if isinstance(item, Path) and values_optional:
                continue
            if not isinstance(item, str):
                raise self.fail(fieldname, f"value of {key!r} must be a string, got {item!r}")
            if "\n" in item or "\r" in item:
                raise self.fail(fieldname, f"value of {key!r} must be one line, got {item!r}")
        self.set(fieldname, FrozenMap({k: _opt_path_str(v) for k, v in value.items()}))


def shown(pattern: re.Pattern[str]) -> str:
    """A whole-value pattern as a message shows it: without its anchors."""
    return pattern.pattern.removeprefix("^").removesuffix(r"\Z")


def _opt_path_str(value: Any) -> Any:
    return str(value) if isinstance(value, Path) else value


def _validate(spec: ImageSpec) -> None:
    c = _Check(spec)
    if not isinstance(spec.name, str) or not REPOSITORY_RE.match(spec.name):
        raise SpecError(
            f"ImageSpec: name: {spec.name!r} is not a valid image repository name "
            "(lowercase letters, digits, '.', '_', '-', '/' separated)"
        )
    registry = c.opt_str("registry")
    if registry is not None:
        registry = registry.rstrip("/")
        if not REGISTRY_RE.match(registry):
            raise c.fail("registry", f"{registry!r} is not a registry host[:port][/path]")
        c.set("registry", registry)
    if spec.base_image is not None and not isinstance(spec.base_image, ImageSpec):
        base = c.opt_str("base_image")
        assert base is not None
        if any(ch.isspace() for ch in base):
            raise c.fail("base_image", f"{base!r} is not an image reference")
    python = c.opt_str("python_version")
    if python is not None and not PYTHON_RE.match(python):
        raise c.fail("python_version", f"{python!r} is not a Python version like '3.11'")
    for package in c.str_tuple("packages"):
        _check_requirement(c, package)
    c.opt_str("requirements")
    for apt in c.str_tuple("apt_packages"):
        if not APT_RE.match(apt):
            raise c.fail(
                "apt_packages", f"{apt!r} is not a Debian package name (optionally =version)"
            )
    c.str_map("env", ENV_KEY_RE)
    c.str_tuple("commands")
    for entry in c.str_tuple("copy"):
        _check_relative(c, "copy", entry)
    c.opt_str("source_root")
    platform = c.opt_str("platform")
    if platform is not None:
        parts = [p.strip() for p in platform.split(",")]
        for part in parts:
            if not PLATFORM_RE.match(part):
                raise c.fail(
                    "platform",
                    f"{part!r} is not a platform like 'linux/amd64', 'linux/arm64' or 'linux/arm/v7'",
                )
        if len(set(parts)) != len(parts):
            raise c.fail("platform", f"{platform!r} names a platform twice")
        c.set("platform", ",".join(parts))
    index = c.opt_str("pip_index_url", show=_shown_url)
    if index is not None and not URL_RE.match(index):
        raise c.fail("pip_index_url", f"{redact_url(index)!r} is not an http(s) URL")
    for url in c.str_tuple("pip_extra_index_urls", show=_shown_url):
        if not URL_RE.match(url):
            raise c.fail("pip_extra_index_urls", f"{redact_url(url)!r} is not an http(s) URL")
    secrets = spec.secret_mounts
    if isinstance(secrets, (list, tuple, set, frozenset, str)):
        ids = (secrets,) if isinstance(secrets, str) else tuple(secrets)
        for sid in ids:
            if not isinstance(sid, str) or not SECRET_ID_RE.match(sid):
                raise c.fail(
                    "secret_mounts", f"invalid secret id {sid!r} (expected {shown(SECRET_ID_RE)})"
                )
        c.set("secret_mounts", dict.fromkeys(sorted(ids)))
    c.str_map("secret_mounts", SECRET_ID_RE, values_optional=True)
    for sid in spec.secret_mounts:
        if sid.startswith("pack-"):
            raise c.fail(
                "secret_mounts", f"id {sid!r} is reserved (ids starting 'pack-' are pack's own)"
            )
    c.str_map("labels", LABEL_KEY_RE)
    _check_entrypoint(c, spec.entrypoint)
    tag_format = c.opt_str("tag_format")
    if tag_format is not None:
        check_tag_format(tag_format, prefix=f"{c.prefix}: tag_format")
    builder = c.opt_str("builder")
    if builder is not None:
        if builder not in BUILDERS:
            raise c.fail("builder", f"{builder!r} is not one of: {', '.join(BUILDERS)}")
        if builder == "oci":
            # The daemonless builder writes layers; it runs nothing inside the image.
            for fieldname in ("apt_packages", "commands"):
                if getattr(spec, fieldname):
                    raise c.fail(
                        fieldname,
                        "builder='oci' runs no commands in the image, so it cannot do "
                        f"{fieldname}; use builder='docker' for this spec",
                    )
    for flag in ("runtime", "follow_links"):
        if not isinstance(getattr(spec, flag), bool):
            raise c.fail(flag, f"expected True or False, got {getattr(spec, flag)!r}")
    if spec.base_dir is not None and not isinstance(spec.base_dir, (str, Path)):
        raise c.fail("base_dir", f"expected a path, got {spec.base_dir!r}")


def _check_requirement(c: _Check, text: str) -> None:
    from packaging.requirements import InvalidRequirement, Requirement

    try:
        Requirement(text)
    except InvalidRequirement as exc:
        detail = str(exc).splitlines()[0]
        raise c.fail(
            "packages", f"invalid requirement {text!r} ({detail}); expected e.g. 'numpy>=1.26'"
        ) from None


def _check_relative(c: _Check, fieldname: str, entry: str) -> None:
    posix = PurePosixPath(entry.replace("\\", "/"))
    if posix.is_absolute() or ".." in posix.parts or entry.strip() in {".", ""}:
        raise c.fail(
            fieldname,
            f"{entry!r} must be a path inside the spec's folder (relative, no '..', not '.')",
        )


def _check_entrypoint(c: _Check, value: Any) -> None:
    if value is None:
        return
    if isinstance(value, str):
        value = tuple(shlex.split(value))
    if (
        not isinstance(value, (list, tuple))
        or not value
        or not all(isinstance(v, str) for v in value)
    ):
        raise c.fail("entrypoint", f"expected a command string or a list of strings, got {value!r}")
    c.set("entrypoint", tuple(value))


def _split_url(url: str) -> tuple[str, str, str]:
    """(scheme + "://" or "", host[:port] without user:password, the rest)."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "", url
    cut = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
    netloc, tail = rest[:cut], rest[cut:]
    return f"{scheme}{sep}", netloc.rpartition("@")[2], tail


def redact_url(url: str) -> str:
    """What messages, reprs and `pack hash --explain` show of an index URL: scheme and host.

    Index tokens live in more places than `user:password@`: in the path
    (`https://pypi.fury.io/TOKEN/`) and the query (`?private_token=…`). Which part is
    secret cannot be told from outside, so everything after the host is left out, and
    `…` says something was. A value without a scheme (`user:pw@host/simple`, a common
    slip) is redacted too: the error that rejects it echoes it.
    """
    scheme, netloc, tail = _split_url(url.strip())
    return f"{scheme}{netloc}{'/…' if tail.strip('/') else ''}"


def url_host(url: str) -> str:
    """host[:port] of a URL, without `user:password@`."""
    return _split_url(url.strip())[1]


def strip_userinfo(url: str) -> str:
    """The URL without `user:password@` (what tools print of it)."""
    scheme, netloc, tail = _split_url(url.strip())
    return f"{scheme}{netloc}{tail}"


def index_url_identity(url: str) -> str:
    """An index URL as the spec digest and the Dockerfile see it: never the URL itself.

    The redacted form plus a fingerprint (sha256, 16 hex) of the URL without its
    `user:password`: a rotated password keeps the digest, another index (or another
    path or token on the same host) moves it. Its text is safe to print and to bake
    into image history.
    """
    fingerprint = hashlib.sha256(strip_userinfo(url).encode()).hexdigest()[:16]
    return f"{redact_url(url)} {fingerprint}"


def _shown_url(value: Any) -> str:
    return repr(redact_url(value)) if isinstance(value, str) else f"a {type(value).__name__}"


def check_tag_format(tag_format: str, *, prefix: str = "tag_format") -> None:
    """A tag_format is a str.format template over {digest}, {name}, {python}; it must use {digest}."""
    try:
        parsed = list(string.Formatter().parse(tag_format))
    except ValueError as exc:
        raise SpecError(f"{prefix}: {tag_format!r} is not a valid format string ({exc})") from None
    names = {fname for _, fname, _, _ in parsed if fname is not None}
    unknown = names - set(TAG_FORMAT_FIELDS)
    if unknown:
        raise SpecError(
            f"{prefix}: unknown field {{{sorted(unknown)[0]}}} in {tag_format!r}; "
            f"valid fields: {', '.join('{' + f + '}' for f in TAG_FORMAT_FIELDS)}"
        )
    if "digest" not in names:
        raise SpecError(
            f"{prefix}: {tag_format!r} must contain {{digest}} so the tag moves with the content"
        )
    try:
        sample = format_tag(tag_format, digest_hex="0" * 64, name="x", python="3.11")
    except (ValueError, IndexError, KeyError) as exc:
        raise SpecError(f"{prefix}: {tag_format!r} cannot be formatted ({exc})") from None
    if not TAG_RE.match(sample):
        raise SpecError(
            f"{prefix}: {tag_format!r} gives {sample!r}, not a valid tag "
            "([A-Za-z0-9_][A-Za-z0-9_.-]{0,127})"
        )


def format_tag(tag_format: str, *, digest_hex: str, name: str, python: str) -> str:
    # '/' is valid in a repository name but not in a tag.
    return tag_format.format(digest=digest_hex, name=name.replace("/", "-"), python=python)
