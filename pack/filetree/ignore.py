"""Which paths stay out of a listing, and why: defaults, ignore files, the secret guard.

Precedence, lowest first: built-in defaults, then for each folder from the root down
its `.gitignore`, the root's `.dockerignore`, then the folder's `.packignore` (git
semantics: patterns are relative to the file's folder, the last matching pattern wins,
`!` re-includes). `.dockerignore` is read at the root only and its patterns are anchored
there, as Docker reads it. A file that looks like a credential is left out unless a
`.packignore` re-includes it with `!`.

Defaults are guesses about junk, so they never outrank the user: `build/`, `dist/` and
`venv/` are ignored at the root only (like a `/build/` pattern: `app/build/steps.py` is
code), and a caller may exempt paths it knows are wanted (`defaults=False`).
Everything here is pure: it sees names and rule files' text, never the disk.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator
from dataclasses import dataclass

import pathspec

from pack.filetree.entry import Why

GITIGNORE = ".gitignore"
DOCKERIGNORE = ".dockerignore"
PACKIGNORE = ".packignore"
IGNORE_FILES = (GITIGNORE, DOCKERIGNORE, PACKIGNORE)
ROOT_ONLY_FILES = frozenset({DOCKERIGNORE})
# Tool and VCS folders: never first-party code (most cannot even be imported by name).
DEFAULT_DIRS = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        "__pycache__",
        ".venv",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        ".tox",
        ".nox",
        ".eggs",
        ".ipynb_checkpoints",
        "node_modules",
    }
)
# Build outputs and the usual virtualenv name: junk at the root, possibly code below it.
DEFAULT_ROOT_DIRS = frozenset({"build", "dist", "venv"})
DEFAULT_FILE_SUFFIXES = (".pyc", ".pyo")
VENV_MARKER = "pyvenv.cfg"
SECRET_PATTERNS = (
    ".env*",
    "*.pem",
    "*.key",
    "id_rsa*",
    "id_dsa*",
    "id_ecdsa*",
    "id_ed25519*",
    ".netrc",
    "*.p12",
    "*.pfx",
    "kubeconfig",
    "kubeconfig.*",
    "*.kubeconfig",
    ".aws/",
    ".kube/",
    ".ssh/",
    "**/.docker/config.json",
)


@dataclass(frozen=True)
class RuleFile:
    """One ignore file: `base` is its folder relative to the root ('' = root)."""

    base: str
    source: str  # relative path of the rule file, for reasons
    spec: pathspec.GitIgnoreSpec
    is_packignore: bool

    @classmethod
    def parse(cls, base: str, name: str, text: str) -> RuleFile:
        source = f"{base}/{name}" if base else name
        lines = list(_docker_lines(text)) if name == DOCKERIGNORE else text.splitlines()
        spec = pathspec.GitIgnoreSpec.from_lines(lines)
        return cls(base, source, spec, name == PACKIGNORE)


def _docker_lines(text: str) -> Iterator[str]:
    """.dockerignore lines as gitignore patterns: every pattern is anchored at the root."""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = posixpath.normpath(line[1:].strip() if negate else line).lstrip("/")
        if pattern in ("", "."):
            continue
        yield ("!" if negate else "") + "/" + pattern


@dataclass(frozen=True)
class Decision:
    excluded: bool
    reason: str = ""
    why: Why = "ignore-file"

    @property
    def secret(self) -> bool:
        return self.why == "secret"


_SECRETS = pathspec.GitIgnoreSpec.from_lines(SECRET_PATTERNS)
KEEP = Decision(False)


def _text(pattern: object) -> str:
    if isinstance(pattern, bytes):
        return pattern.decode("utf-8", "replace")
    return pattern if isinstance(pattern, str) else ""


def default_reason(rel: str, is_dir: bool) -> str | None:
    """Why the built-in defaults leave `rel` out, or None."""
    name = rel.rpartition("/")[2]
    if is_dir:
        if name in DEFAULT_DIRS:
            return f"default ignore {name}/"
        if name in DEFAULT_ROOT_DIRS and name == rel:
            return f"default ignore /{name}/"
        if name.endswith(".egg-info"):
            return "default ignore *.egg-info/"
        return None
    if name.endswith(DEFAULT_FILE_SUFFIXES):
        return f"default ignore *{name[name.rfind('.') :]}"
    return None


def decide(
    rel: str, is_dir: bool, rules: tuple[RuleFile, ...], *, defaults: bool = True
) -> Decision:
    """Whether `rel` (relative POSIX path) is left out; `rules` are those of its ancestor
    folders. `defaults=False`: the built-in defaults do not apply (the caller knows better)."""
    reason = default_reason(rel, is_dir) if defaults else None
    excluded = reason is not None
    why: Why = "default"
    explicit_include = False
    for rule in rules:
        sub = rel[len(rule.base) + 1 :] if rule.base else rel
        result = rule.spec.check_file(sub + "/" if is_dir else sub)
        if result.include is None:
            continue
        assert result.index is not None
        pattern = _text(rule.spec.patterns[result.index].pattern)
        excluded = bool(result.include)
        reason = f"{rule.source}: {pattern}"
        why = "ignore-file"
        explicit_include = not excluded and rule.is_packignore
    if excluded:
        return Decision(True, reason or "", why)
    if not explicit_include:
        secret = _SECRETS.check_file(rel + "/" if is_dir else rel)
        if secret.include:
            assert secret.index is not None
            pattern = _text(_SECRETS.patterns[secret.index].pattern)
            return Decision(
                True,
                f"secret guard: {pattern} (re-include with !{rel} in .packignore)",
                "secret",
            )
    return KEEP
