"""Which paths stay out of a bundle, and why: defaults, .gitignore/.packignore, the secret guard.

Precedence, lowest first: built-in defaults, then for each folder from the root down
its `.gitignore` and then its `.packignore` (git semantics: patterns are relative
to the file's folder, the last matching pattern wins, `!` re-includes). A file that
looks like a credential is left out unless a `.packignore` re-includes it with `!`.
Everything here is pure: it sees names and rule files' text, never the disk.
"""

from __future__ import annotations

from dataclasses import dataclass

import pathspec

IGNORE_FILES = (".gitignore", ".packignore")
DEFAULT_DIRS = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        "__pycache__",
        ".venv",
        "venv",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
        ".tox",
        ".nox",
        ".eggs",
        ".ipynb_checkpoints",
        "node_modules",
        "build",
        "dist",
    }
)
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
    """One .gitignore or .packignore: `base` is its folder relative to the root ('' = root)."""

    base: str
    source: str  # relative path of the rule file, for reasons
    spec: pathspec.GitIgnoreSpec
    is_packignore: bool

    @classmethod
    def parse(cls, base: str, name: str, text: str) -> RuleFile:
        source = f"{base}/{name}" if base else name
        spec = pathspec.GitIgnoreSpec.from_lines(text.splitlines())
        return cls(base, source, spec, name == ".packignore")


@dataclass(frozen=True)
class Decision:
    excluded: bool
    reason: str = ""
    secret: bool = False


_SECRETS = pathspec.GitIgnoreSpec.from_lines(SECRET_PATTERNS)
KEEP = Decision(False)


def _text(pattern: object) -> str:
    if isinstance(pattern, bytes):
        return pattern.decode("utf-8", "replace")
    return pattern if isinstance(pattern, str) else ""


def default_reason(name: str, is_dir: bool) -> str | None:
    if is_dir:
        if name in DEFAULT_DIRS:
            return f"default ignore {name}/"
        if name.endswith(".egg-info"):
            return "default ignore *.egg-info/"
        return None
    if name.endswith(DEFAULT_FILE_SUFFIXES):
        return f"default ignore *{name[name.rfind('.') :]}"
    return None


def decide(rel: str, is_dir: bool, rules: tuple[RuleFile, ...]) -> Decision:
    """Whether `rel` (relative POSIX path) is left out; `rules` are those of its ancestor folders."""
    name = rel.rpartition("/")[2]
    reason = default_reason(name, is_dir)
    excluded = reason is not None
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
        explicit_include = not excluded and rule.is_packignore
    if excluded:
        return Decision(True, reason or "")
    if not explicit_include:
        secret = _SECRETS.check_file(rel + "/" if is_dir else rel)
        if secret.include:
            assert secret.index is not None
            pattern = _text(_SECRETS.patterns[secret.index].pattern)
            return Decision(
                True, f"secret guard: {pattern} (re-include with !{rel} in .packignore)", True
            )
    return KEEP
