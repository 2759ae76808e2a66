"""The Docker/BuildKit builder: a docker CLI driving the engine's BuildKit.

Two ways to reach BuildKit, picked once per builder:
- `docker buildx build` when the CLI has buildx (multi-platform, registry cache export);
- `DOCKER_BUILDKIT=1 docker build` with a CLI that still has the built-in BuildKit client
  (docker < 23, e.g. Debian's 20.10); then the registry cache is the inline cache
  (`BUILDKIT_INLINE_CACHE=1` + `--cache-from`) and builds are single-platform.
A newer CLI without buildx cannot build with BuildKit at all: that is a clear error.

Every subprocess goes through one injected `Runner`, so unit tests check the exact
command lines without an engine. Secrets reach BuildKit as `--secret id=…,src=…`
files (literal values are written to a private temp dir outside the context);
their contents never appear in a command line, a log line or an error.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pack.atomic import atomic_write
from pack.digest import Digest
from pack.errors import BuildError, EngineUnavailable, UsageError
from pack.imagespec.builders.base import BuildRequest, BuildResult, Progress, redactor
from pack.imagespec.ref import ImageRef
from pack.scratch import scratch_dir

if TYPE_CHECKING:
    from pack.config import Config

TAIL_LINES = 25
STOP_GRACE_SECONDS = 10.0
ENGINE_TTL = 600  # seconds a detected engine (CLI kind, network) is trusted


@dataclass(frozen=True)
class CommandResult:
    returncode: int
    lines: tuple[str, ...]  # the last lines (stdout and stderr merged)


# (argv, env, on_line) -> CommandResult. on_line receives each output line as it arrives.
Runner = Callable[[Sequence[str], Mapping[str, str], Callable[[str], None] | None], CommandResult]


def run_streaming(
    argv: Sequence[str], env: Mapping[str, str], on_line: Callable[[str], None] | None
) -> CommandResult:
    try:
        proc = subprocess.Popen(
            list(argv),
            env=dict(env),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            errors="replace",
            bufsize=1,
        )
    except FileNotFoundError:
        raise EngineUnavailable(f"docker CLI not found: {argv[0]}") from None
    kept: deque[str] = deque(maxlen=2000)
    assert proc.stdout is not None
    try:
        for raw in proc.stdout:
            line = raw.rstrip("\n")
            kept.append(line)
            if on_line is not None:
                on_line(line)
    except BaseException:
        # Ctrl-C or SIGTERM to pack alone: the CLI is told to cancel (a build, a push)
        # rather than left running with nobody reading its output.
        proc.terminate()
        try:
            proc.wait(timeout=STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        raise
    return CommandResult(proc.wait(), tuple(kept))


# ---------------------------------------------------------------- pure helpers

_STEP = re.compile(r"^#(\d+) ")
_STEP_KEY = re.compile(r"^#\d+ sha256:[0-9a-f]{64}$")
_PUSH_DIGEST = re.compile(r"digest: (sha256:[0-9a-f]{64})")


def failing_step_tail(lines: Sequence[str], n: int = TAIL_LINES) -> list[str]:
    """The failing BuildKit step's last lines from `--progress plain` output (else the tail)."""
    failed = None
    for line in reversed(lines):
        m = _STEP.match(line)
        if m and " ERROR" in line:
            failed = m.group(1)
            break
    if failed is None:
        return [line for line in lines if line.strip()][-n:]
    step = [line for line in lines if line.startswith(f"#{failed} ") and not _STEP_KEY.match(line)]
    title = next((line for line in step if "[" in line and "]" in line), None)
    tail = step[-n:]
    if title is not None and title not in tail:
        tail = [title, *tail]
    summary = [line for line in lines if line.startswith(("error:", "ERROR:", "failed to"))]
    return tail + summary[-2:]


def pushed_digest(lines: Sequence[str]) -> Digest | None:
    """`docker push` ends with `<tag>: digest: sha256:… size: N`."""
    for line in reversed(lines):
        m = _PUSH_DIGEST.search(line)
        if m:
            return Digest.parse(m.group(1))
    return None


def cli_major(version: str) -> int | None:
    m = re.match(r"(\d+)\.", version.strip())
    return int(m.group(1)) if m else None


@dataclass(frozen=True)
class Engine:
    cli: str
    buildx: bool
    network: str | None  # "host" when the engine has no bridge network


def build_argv(
    engine: Engine,
    request: BuildRequest,
    *,
    dockerfile: Path,
    context_dir: Path,
    secret_files: Mapping[str, Path],
    iidfile: Path,
    metadata_file: Path,
) -> list[str]:
    """The docker command line for `request` (pure)."""
    ref = str(request.ref)
    if engine.buildx:
        argv = [engine.cli, "buildx", "build", "--progress", "plain"]
    else:
        if len(request.platforms) > 1:
            raise BuildError(
                f"{request.label}: building for {', '.join(request.platforms)} needs buildx; "
                f"the docker CLI {engine.cli} has none (build one platform per spec, or install buildx)"
            )
        argv = [engine.cli, "build", "--progress", "plain"]
    argv += ["-f", str(dockerfile), "-t", ref, "--iidfile", str(iidfile)]
    if request.platforms:
        argv += ["--platform", ",".join(request.platforms)]
    if engine.network:
        argv += ["--network", engine.network]
    for sid, path in sorted(secret_files.items()):
        argv += ["--secret", f"id={sid},src={path}"]
    if request.cache_ref is not None:
        cache = str(request.cache_ref)
        if engine.buildx:
            argv += ["--cache-from", f"type=registry,ref={cache}"]
            if request.push:
                argv += ["--cache-to", f"type=registry,ref={cache},mode=max"]
        else:
            argv += ["--build-arg", "BUILDKIT_INLINE_CACHE=1", "--cache-from", cache]
    if engine.buildx:
        argv += ["--metadata-file", str(metadata_file)]
        argv += ["--push"] if request.push else ["--load"]
    argv.append(str(context_dir))
    return argv


def assemble_context(files: Mapping[str, Path], context_dir: Path) -> None:
    """Exactly `files` under `context_dir`: hard links when possible, copies (mode kept) else."""
    context_dir.mkdir(parents=True, exist_ok=True)
    for rel, source in sorted(files.items()):
        if rel.startswith("/") or ".." in Path(rel).parts:
            raise BuildError(f"build context path {rel!r} escapes the context")
        target = context_dir / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(source, target)
        except OSError:
            shutil.copy2(source, target)


# ---------------------------------------------------------------- the builder


class DockerBuilder:
    """Builds with a docker CLI against `env['DOCKER_HOST']` (or docker's default)."""

    def __init__(
        self,
        *,
        cli: str | None,
        env: Mapping[str, str],
        runner: Runner = run_streaming,
        search_path: str | None = None,
        state_file: Path | None = None,
    ) -> None:
        self._cli = cli
        # Where the detected engine is remembered for a while (three docker calls saved).
        self.state_file = state_file
        self.env = dict(env)
        self.runner = runner
        self.search_path = search_path if search_path is not None else self.env.get("PATH", "")
        self._engine: Engine | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_config(cls, config: Config, environ: Mapping[str, str]) -> DockerBuilder:
        """`environ` is the process environment the CLI passes down (PATH, HOME, proxies)."""
        env = dict(environ)
        if config.docker_host:
            env["DOCKER_HOST"] = config.docker_host
        if config.docker_config:
            env["DOCKER_CONFIG"] = str(config.docker_config)
        env["DOCKER_BUILDKIT"] = "1"
        state = config.cache_dir / "docker-engine.json"
        return cls(cli=config.docker_cli, env=env, state_file=state)

    # ---- detection (once per builder)

    def _quiet(self, *args: str) -> CommandResult:
        return self.runner(list(args), self.env, None)

    def _probe(self, cli: str) -> Engine | None:
        if self._quiet(cli, "buildx", "version").returncode == 0:
            return Engine(cli, True, None)
        version = self._quiet(cli, "version", "--format", "{{.Client.Version}}")
        major = cli_major(version.lines[0]) if version.lines else None
        if major is not None and major < 23:
            return Engine(cli, False, None)
        return None

    def engine(self) -> Engine:
        with self._lock:
            if self._engine is None:
                self._engine = self._remembered()
            if self._engine is None:
                self._engine = self._detect()
                self._remember(self._engine)
            return self._engine

    def _state_key(self) -> str:
        cli = self._cli or shutil.which("docker", path=self.search_path) or ""
        try:
            stamp = os.stat(cli).st_mtime_ns if cli else 0
        except OSError:
            stamp = 0
        return f"{self._cli or ''}|{cli}|{stamp}|{self.env.get('DOCKER_HOST', '')}"

    def _remembered(self) -> Engine | None:
        import json

        if self.state_file is None:
            return None
        try:
            data = json.loads(self.state_file.read_text())
            if data["key"] != self._state_key() or time.time() - data["at"] > ENGINE_TTL:
                return None
            return Engine(str(data["cli"]), bool(data["buildx"]), data["network"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def _remember(self, engine: Engine) -> None:
        import json

        if self.state_file is None:
            return
        payload = {
            "key": self._state_key(),
            "at": time.time(),
            "cli": engine.cli,
            "buildx": engine.buildx,
            "network": engine.network,
        }
        data = json.dumps(payload).encode("utf-8")
        try:
            atomic_write(self.state_file, lambda f: f.write(data))
        except OSError:
            pass  # remembering only saves three docker calls next time

    def _detect(self) -> Engine:
        if self._cli:
            found = self._probe(self._cli)
            if found is None:
                raise UsageError(
                    f"docker_cli {self._cli} cannot build with BuildKit: it has no buildx and is "
                    "newer than 22.x; use a CLI with buildx or Debian's /usr/bin/docker 20.10"
                )
            candidates = [found]
        else:
            names = [shutil.which("docker", path=self.search_path), "/usr/bin/docker"]
            candidates = []
            for name in dict.fromkeys(n for n in names if n and Path(n).exists()):
                probed = self._probe(name)
                if probed is not None:
                    candidates.append(probed)
                    break
            if not candidates:
                raise EngineUnavailable(
                    "no docker CLI that can build with BuildKit was found (tried "
                    f"{', '.join(n for n in names if n)}); set PACK_DOCKER_CLI or [tool.pack] docker_cli"
                )
        engine = candidates[0]
        nets = self._quiet(engine.cli, "network", "ls", "--format", "{{.Name}}")
        if nets.returncode != 0:
            tail = " ".join(nets.lines[-3:])
            raise EngineUnavailable(f"cannot talk to the Docker engine with {engine.cli}: {tail}")
        # An engine started with --bridge=none has no bridge: RUN steps need the host network.
        network = None if "bridge" in {n.strip() for n in nets.lines} else "host"
        return Engine(engine.cli, engine.buildx, network)

    # ---- Builder protocol

    def image_exists(self, ref: ImageRef) -> bool:
        engine = self.engine()
        return (
            self._quiet(engine.cli, "image", "inspect", "--format", "{{.Id}}", str(ref)).returncode
            == 0
        )

    def build(self, request: BuildRequest, progress: Progress) -> BuildResult:
        engine = self.engine()
        label = request.label

        scrub = redactor(request.secrets)

        def show(line: str) -> None:
            # Docker 20.10 prints each step's cache key; it is noise to a reader.
            if line.strip() and not _STEP_KEY.match(line):
                progress.line(label, scrub(line))

        # A scratch folder (it may hold secret values): a killed build's is swept later.
        with scratch_dir("pack-build-") as scratch:
            work = scratch.path
            context_dir = work / "context"
            assemble_context(request.context, context_dir)
            dockerfile = work / "Dockerfile"
            dockerfile.write_text(request.dockerfile, encoding="utf-8")
            secret_files = self._secret_files(request, work)
            iidfile, metadata = work / "iid", work / "metadata.json"
            argv = build_argv(
                engine,
                request,
                dockerfile=dockerfile,
                context_dir=context_dir,
                secret_files=secret_files,
                iidfile=iidfile,
                metadata_file=metadata,
            )
            result = self.runner(argv, self.env, show)
            if result.returncode != 0:
                tail = "\n".join(f"  {scrub(line)}" for line in failing_step_tail(result.lines))
                raise BuildError(f"{label}: building {request.ref} failed:\n{tail}")
            image_id = iidfile.read_text().strip() if iidfile.is_file() else None
            digest = _metadata_digest(metadata) if engine.buildx and request.push else None
        if request.push and not engine.buildx:
            digest = self._push(request.ref, label, show)
            if request.cache_ref is not None:
                # Inline cache: the pushed image config carries the cache metadata.
                self._must(label, show, engine.cli, "tag", str(request.ref), str(request.cache_ref))
                self._push(request.cache_ref, label, show)
        ref = request.ref.with_digest(digest) if digest is not None else request.ref
        return BuildResult(ref=ref, digest=digest, image_id=image_id)

    def _secret_files(self, request: BuildRequest, work: Path) -> dict[str, Path]:
        out: dict[str, Path] = {}
        private = work / "secrets"
        for secret in request.secrets:
            if secret.source is not None:
                if not secret.source.is_file():
                    raise UsageError(
                        f"{request.label}: secret {secret.id!r}: file not found: {secret.source}"
                    )
                out[secret.id] = secret.source
            elif secret.value is not None:
                private.mkdir(mode=0o700, exist_ok=True)
                path = private / secret.id
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "w", encoding="utf-8") as f:
                    f.write(secret.value)
                out[secret.id] = path
        return out

    def _must(self, label: str, show: Callable[[str], None], *argv: str) -> CommandResult:
        result = self.runner(list(argv), self.env, show)
        if result.returncode != 0:
            tail = "\n".join(f"  {line}" for line in result.lines[-TAIL_LINES:])
            raise BuildError(f"{label}: `docker {' '.join(argv[1:3])}` failed:\n{tail}")
        return result

    def _push(self, ref: ImageRef, label: str, show: Callable[[str], None]) -> Digest | None:
        result = self._must(label, show, self.engine().cli, "push", str(ref))
        return pushed_digest(result.lines)


def _metadata_digest(path: Path) -> Digest | None:
    import json

    try:
        data = json.loads(path.read_text())
        return Digest.parse(data["containerd.image.digest"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
