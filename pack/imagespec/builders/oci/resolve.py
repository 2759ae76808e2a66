"""Resolve an image's Python packages for its platform and Python, with uv, on this host.

`uv pip compile --python-platform P --python-version V --only-binary :all:` picks, for
every distribution, a version that has a wheel for the *target*; nothing is built for
the host by accident (the trap: without --only-binary uv builds sdists with the host's
compiler for the host's platform). A distribution with no wheel at all is retried as a
source distribution (`--no-binary NAME`) and later built on the host, where it must
give a pure `none-any` wheel; otherwise the build stops naming it.

Two answers from one resolution: the lock (pylock.toml: the exact files, with hashes)
and, from the cache only (`--offline`, so it cannot differ), the annotated requirements
whose `# via` lines give the dependency graph the layers are grouped by.

uv runs with `--no-config` and an environment stripped of index settings: what goes in
the image depends on the spec (its index URLs travel to uv in its environment, never on
a command line), not on this host's uv or pip configuration.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pack.errors import BuildError
from pack.imagespec.builders.oci.platforms import Target

MAX_SOURCE_RETRIES = 8
# Host settings that would change what uv resolves; the spec's own go in instead.
_STRIPPED_ENV = re.compile(
    r"^(UV_(INDEX|DEFAULT_INDEX|EXTRA_INDEX_URL|INDEX_URL|FIND_LINKS|CONFIG_FILE|NO_BINARY|"
    r"ONLY_BINARY|NO_BUILD|PRERELEASE|RESOLUTION|EXCLUDE_NEWER|CONSTRAINT|OVERRIDE|OFFLINE)"
    r"|PIP_.*)$"
)
_NEEDS_SOURCE = re.compile(r"Wheels are required for `([^`]+)`")
_NAME_LINE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?\s*(?:==|@)")
_VIA_ONE = re.compile(r"^\s+# via (.+)$")
_VIA_MANY = re.compile(r"^\s+#\s{3}(.+)$")
ROOT = "<spec>"  # a requirement the spec (or the image's tools and runtime) asked for

# (argv, env) -> (returncode, stdout, stderr)
UvRunner = Callable[[Sequence[str], Mapping[str, str]], tuple[int, str, str]]


def run_uv(argv: Sequence[str], env: Mapping[str, str]) -> tuple[int, str, str]:
    try:
        proc = subprocess.run(
            list(argv), env=dict(env), capture_output=True, text=True, stdin=subprocess.DEVNULL
        )
    except FileNotFoundError:
        raise BuildError(f"uv not found at {argv[0]}: install pack with its oci extra") from None
    return proc.returncode, proc.stdout, proc.stderr


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class Artifact:
    """What to fetch for one distribution: a wheel, a local wheel, or an sdist to build."""

    kind: str  # "wheel" | "local" | "sdist"
    filename: str
    sha256: str
    url: str | None = None
    path: Path | None = None
    size: int | None = None


@dataclass(frozen=True)
class Pin:
    name: str  # canonical
    version: str
    artifact: Artifact


@dataclass(frozen=True)
class Resolution:
    pins: tuple[Pin, ...]
    parents: Mapping[str, frozenset[str]]  # name -> who requires it (ROOT for the spec)

    def closure(self, roots: Sequence[str]) -> set[str]:
        """The named distributions and everything they depend on, transitively."""
        children: dict[str, set[str]] = {}
        for name, parents in self.parents.items():
            for parent in parents:
                children.setdefault(parent, set()).add(name)
        seen: set[str] = set()
        todo = [canonical(r) for r in roots]
        while todo:
            name = todo.pop()
            if name in seen:
                continue
            seen.add(name)
            todo.extend(children.get(name, ()))
        return seen & {p.name for p in self.pins}


@dataclass(frozen=True)
class Request:
    """What to resolve: requirement lines, files uv reads, constraints, and the indexes."""

    target: Target
    requirements: tuple[str, ...] = ()  # lines of the generated requirements input
    files: tuple[Path, ...] = ()  # requirements.txt / pyproject.toml given to uv as is
    constraints: tuple[str, ...] = ()  # name==version pins the base image already holds
    index_url: str | None = field(default=None, repr=False)
    extra_index_urls: tuple[str, ...] = field(default=(), repr=False)


# ---------------------------------------------------------------- pure parsers


def parse_pylock(text: str, origin: str = "pylock.toml") -> list[dict[str, Any]]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise BuildError(f"{origin}: uv wrote a lock that is not TOML ({exc})") from None
    packages = data.get("packages", [])
    if not isinstance(packages, list):
        raise BuildError(f"{origin}: no [[packages]] in uv's lock")
    return packages


def parse_parents(text: str) -> dict[str, frozenset[str]]:
    """`name==1.0\\n    # via\\n    #   a\\n    #   -r req.in` -> {name: {a, ROOT}}."""
    parents: dict[str, set[str]] = {}
    current: str | None = None
    for line in text.splitlines():
        m = _NAME_LINE.match(line)
        if m:
            current = canonical(m.group(1))
            parents.setdefault(current, set())
            continue
        if current is None:
            continue
        via = _VIA_ONE.match(line) or _VIA_MANY.match(line)
        if via is not None:
            who = via.group(1).strip()
            parents[current].add(ROOT if who.startswith(("-r ", "-c ")) else canonical(who))
    return {k: frozenset(v) for k, v in parents.items()}


def wheel_rank(filename: str, tag_order: Sequence[str]) -> int | None:
    """Index of the best tag of `filename` in `tag_order` (lower is better), None if none."""
    from packaging.utils import InvalidWheelFilename, parse_wheel_filename

    try:
        _, _, _, tags = parse_wheel_filename(filename)
    except InvalidWheelFilename:
        return None
    rank = {t: i for i, t in enumerate(tag_order)}
    found = [rank[str(t)] for t in tags if str(t) in rank]
    return min(found) if found else None


def select_artifact(package: Mapping[str, Any], target: Target, tag_order: Sequence[str]) -> Pin:
    name = canonical(str(package.get("name", "")))
    version = str(package.get("version", ""))
    if not name:
        raise BuildError("uv's lock has a package without a name")
    archive = package.get("archive")
    if isinstance(archive, Mapping) and archive.get("path"):
        path = Path(str(archive["path"]))
        sha = str((archive.get("hashes") or {}).get("sha256", ""))
        return Pin(name, version, Artifact("local", path.name, sha, path=path))
    best: tuple[int, Mapping[str, Any]] | None = None
    for wheel in package.get("wheels") or []:
        url = str(wheel.get("url") or "")
        filename = str(wheel.get("name") or url.rsplit("/", 1)[-1].split("#", 1)[0])
        rank = wheel_rank(filename, tag_order)
        if rank is not None and (best is None or rank < best[0]):
            best = (rank, {**wheel, "filename": filename})
    if best is not None:
        wheel = best[1]
        return Pin(
            name,
            version,
            Artifact(
                "wheel",
                str(wheel["filename"]),
                str((wheel.get("hashes") or {}).get("sha256", "")),
                url=str(wheel.get("url")),
                size=int(wheel["size"]) if wheel.get("size") is not None else None,
            ),
        )
    sdist = package.get("sdist")
    if isinstance(sdist, Mapping) and sdist.get("url"):
        url = str(sdist["url"])
        return Pin(
            name,
            version,
            Artifact(
                "sdist",
                str(sdist.get("name") or url.rsplit("/", 1)[-1].split("#", 1)[0]),
                str((sdist.get("hashes") or {}).get("sha256", "")),
                url=url,
                size=int(sdist["size"]) if sdist.get("size") is not None else None,
            ),
        )
    raise BuildError(f"{name}=={version} has no wheel for {target.describe()}")


# ---------------------------------------------------------------- uv


def uv_env(environ: Mapping[str, str], request: Request, ca_bundle: Path | None) -> dict[str, str]:
    env = {k: v for k, v in environ.items() if not _STRIPPED_ENV.match(k)}
    env["UV_PYTHON_DOWNLOADS"] = "never"
    env["UV_NO_PROGRESS"] = "1"
    if request.index_url:
        env["UV_INDEX_URL"] = request.index_url
    if request.extra_index_urls:
        env["UV_EXTRA_INDEX_URL"] = " ".join(request.extra_index_urls)
    if ca_bundle is not None:
        env["SSL_CERT_FILE"] = str(ca_bundle)
    return env


class PackageResolver:
    def __init__(
        self,
        uv: str,
        environ: Mapping[str, str],
        *,
        python: str = sys.executable,
        ca_bundle: Path | None = None,
        runner: UvRunner = run_uv,
        redact: Callable[[str], str] = lambda s: s,
    ) -> None:
        self.uv = uv
        self.environ = dict(environ)
        self.python = python
        self.ca_bundle = ca_bundle
        self.runner = runner
        self.redact = redact

    def argv(
        self, request: Request, inputs: Sequence[Path], output: Path, **opts: Any
    ) -> list[str]:
        """The `uv pip compile` command line (pure)."""
        argv = [
            self.uv,
            "pip",
            "compile",
            "--no-config",
            "--quiet",
            "--python",
            self.python,
            "--python-version",
            request.target.python_version,
            "--python-platform",
            request.target.uv_platform,
            "--only-binary",
            ":all:",
        ]
        for name in sorted(opts.get("no_binary", ())):
            argv += ["--no-binary", name]
        if opts.get("constraints") is not None:
            argv += ["--constraint", str(opts["constraints"])]
        if opts.get("offline"):
            argv.append("--offline")
        if opts.get("pylock"):
            argv += ["--format", "pylock.toml"]
        argv += ["--no-header", "-o", str(output), *[str(i) for i in inputs]]
        return argv

    def resolve(self, request: Request, label: str) -> Resolution:
        with tempfile.TemporaryDirectory(prefix="pack-resolve-") as tmp:
            work = Path(tmp)
            wanted = work / "requirements.in"
            wanted.write_text("".join(f"{line}\n" for line in request.requirements))
            inputs = [wanted, *request.files]
            constraints = None
            if request.constraints:
                constraints = work / "constraints.txt"
                constraints.write_text("".join(f"{c}\n" for c in request.constraints))
            env = uv_env(self.environ, request, self.ca_bundle)
            no_binary: set[str] = set()
            lock = work / "pylock.toml"
            for _ in range(MAX_SOURCE_RETRIES):
                argv = self.argv(
                    request,
                    inputs,
                    lock,
                    pylock=True,
                    no_binary=no_binary,
                    constraints=constraints,
                )
                code, _, err = self.runner(argv, env)
                if code == 0:
                    break
                more = set(_NEEDS_SOURCE.findall(err)) - no_binary
                if not more:
                    raise BuildError(self._failure(label, request, err))
                no_binary |= more
            else:
                raise BuildError(self._failure(label, request, err))
            graph_file = work / "requirements.txt"
            argv = self.argv(
                request,
                inputs,
                graph_file,
                offline=True,
                no_binary=no_binary,
                constraints=constraints,
            )
            code, _, err = self.runner(argv, env)
            if code != 0:
                raise BuildError(self._failure(label, request, err))
            packages = parse_pylock(lock.read_text())
            parents = parse_parents(graph_file.read_text())
        tag_order = request.target.wheel_tags()
        pins = tuple(
            sorted((select_artifact(p, request.target, tag_order) for p in packages), key=_name)
        )
        missing = {p.name for p in pins} - set(parents)
        if missing:
            raise BuildError(
                f"{label}: uv's two answers disagree ({', '.join(sorted(missing))}); build again"
            )
        return Resolution(pins, parents)

    def export_lock(self, files: Sequence[Path], work: Path, request: Request, label: str) -> Path:
        """A uv.lock (and its pyproject.toml) as pinned requirements, as the Docker builder
        exports it inside the image: no dev group, not the project itself."""
        project = work / "project"
        project.mkdir()
        for source in files:
            (project / source.name).write_bytes(source.read_bytes())
        out = work / "lock-requirements.txt"
        argv = [
            self.uv, "export", "--no-config", "--quiet", "--frozen", "--no-dev",
            "--no-emit-project", "--no-hashes", "--project", str(project), "-o", str(out),
        ]  # fmt: skip
        code, _, err = self.runner(argv, uv_env(self.environ, request, self.ca_bundle))
        if code != 0:
            tail = " ".join(self.redact(line) for line in err.strip().splitlines()[-3:])
            raise BuildError(f"{label}: requirements: exporting {files[0]} failed: {tail}")
        return out

    def _failure(self, label: str, request: Request, stderr: str) -> str:
        lines = [line for line in stderr.strip().splitlines() if line.strip()][-12:]
        text = "\n".join(f"  {self.redact(line)}" for line in lines)
        return f"{label}: resolving for {request.target.describe()} failed:\n{text}"


def _name(pin: Pin) -> str:
    return pin.name
