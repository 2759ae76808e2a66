"""Render the Dockerfile of a resolved ImageSpec (pure; jinja2 is imported only here, lazily).

Layout: FROM the base; apt with cache mounts (the lists live in the cache mount, so nothing
is left in a layer); the pack preamble (venv at /opt/pack/venv, uv, the pack runtime wheel)
unless the base already has it; env; Python deps with uv (cache mount, --compile-bytecode);
copied files; the ordered commands; labels recording the spec digest; entrypoint.

The Dockerfile is rendered from the *canonical* values (sorted, normalized packages), so two
specs with the same digest always render the same Dockerfile. It needs BuildKit and the
Dockerfile 1.2 syntax (RUN --mount) that Docker 20.10's built-in frontend supports; there is
deliberately no `# syntax=` line, which would make BuildKit pull a frontend image.

Network steps mount two kinds of secrets, never written to a layer or the image history:
- `pack-ca`: an optional CA bundle (SSL_CERT_FILE/PIP_CERT point at it when present);
- `pack-index-url` / `pack-extra-index-urls`: the index URLs, always (a token can sit in
  user:password@, the path or the query; none of it may reach Dockerfile text).
`build_secrets(resolved)` says which secrets a build must supply; `context_files(resolved)`
which files its context must hold (plus the runtime wheel under RUNTIME_WHEEL_DIR/ when
`needs_runtime_wheel`).
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pack.imagespec.hashing import UV_VERSION, ResolvedSpec
from pack.imagespec.spec import index_url_identity

TEMPLATES = Path(__file__).resolve().parent / "templates"
VENV = "/opt/pack/venv"
RUNTIME_WHEEL_DIR = "pack_runtime"
CA_SECRET_ID = "pack-ca"
INDEX_URL_SECRET_ID = "pack-index-url"
EXTRA_INDEX_URLS_SECRET_ID = "pack-extra-index-urls"
DIGEST_LABEL = "org.pack.spec-digest"
DEPS_DIR = "deps"
COPY_DIR = "copy"
COPY_DEST = "/root"  # copy entries land at /root/<path relative to the spec folder>


@dataclass(frozen=True)
class BuildSecret:
    """A BuildKit secret the build must supply: from a local file, or a literal value.

    A literal value (an index URL) must be handed to the builder without being logged;
    repr() hides it.
    """

    id: str
    source: Path | None = None
    value: str | None = field(default=None, repr=False)


def _secret_path(sid: str) -> str:
    return f"/run/secrets/{sid}"


def _docker_quote(value: str) -> str:
    """A double-quoted Dockerfile word; `$` is escaped so ENV/LABEL never interpolate."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$")
    return f'"{escaped}"'


def _net(resolved: ResolvedSpec | None) -> dict[str, Any]:
    """Mounts and the shell prologue for RUN steps that reach a package index."""
    ca_path = _secret_path(CA_SECRET_ID)
    mounts = [_mount(CA_SECRET_ID)]
    env = [
        f"if [ -f {ca_path} ]; then export SSL_CERT_FILE={ca_path} PIP_CERT={ca_path}; fi",
    ]
    spec = resolved.spec if resolved is not None else None
    # Index URLs reach the build only as secrets: tokens hide in user:password@, in the
    # path and in the query, and Dockerfile text ends up in the image history. What the
    # text does carry is each URL's identity (host + fingerprint), so BuildKit's layer
    # cache, which ignores secret contents, still tells one index from another.
    if spec is not None and spec.pip_index_url:
        mounts.append(_mount(INDEX_URL_SECRET_ID))
        env.append(f"export PACK_INDEX={shlex.quote(index_url_identity(spec.pip_index_url))}")
        env.append(f'export UV_INDEX_URL="$(cat {_secret_path(INDEX_URL_SECRET_ID)})"')
        env.append('export PIP_INDEX_URL="$UV_INDEX_URL"')
    if spec is not None and spec.pip_extra_index_urls:
        # One secret for all extras: keeps their priority order.
        mounts.append(_mount(EXTRA_INDEX_URLS_SECRET_ID))
        ids = ", ".join(index_url_identity(u) for u in spec.pip_extra_index_urls)
        env.append(f"export PACK_EXTRA_INDEXES={shlex.quote(ids)}")
        path = _secret_path(EXTRA_INDEX_URLS_SECRET_ID)
        env.append(f'export UV_EXTRA_INDEX_URL="$(cat {path})"')
        env.append('export PIP_EXTRA_INDEX_URL="$UV_EXTRA_INDEX_URL"')
    return {"mounts": mounts, "env": " \\\n && ".join(env)}


def _mount(sid: str) -> str:
    return f"--mount=type=secret,id={sid},target={_secret_path(sid)}"


def _common() -> dict[str, Any]:
    return {
        "uv_version": UV_VERSION,
        "venv": VENV,
        "wheel_dir": RUNTIME_WHEEL_DIR,
        "ca_mount": _mount(CA_SECRET_ID),
        "ca_path": _secret_path(CA_SECRET_ID),
    }


def _environment() -> Any:
    import jinja2

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )


def _deps(resolved: ResolvedSpec) -> tuple[list[str], bool]:
    """uv pip install arguments, and whether a uv.lock is exported first."""
    args: list[str] = []
    lock = False
    reqs = resolved.requirements
    if reqs is not None:
        if reqs.kind == "uv.lock":
            # Reproducible: the lock's exact pins (with hashes) exported, then installed
            # additively into the venv; `uv sync` would prune the runtime from it.
            lock = True
            args.append("-r /tmp/pack-lock/requirements.txt")
        else:
            args.append(f"-r /tmp/pack-deps/{shlex.quote(Path(reqs.files[0].path).name)}")
    args += [shlex.quote(p) for p in resolved.packages]
    return args, lock


def render(resolved: ResolvedSpec) -> str:
    """The Dockerfile for `resolved`; a pure function of it."""
    spec = resolved.spec
    install_args, lock = _deps(resolved)
    copies = [
        json.dumps([f"{COPY_DIR}/{c.entry}", f"{COPY_DEST}/{c.entry}"], ensure_ascii=False)
        for c in resolved.copy
    ]
    labels = [f"{_docker_quote(DIGEST_LABEL)}={_docker_quote(str(resolved.digest))}"]
    labels += [f"{_docker_quote(k)}={_docker_quote(v)}" for k, v in sorted(spec.labels.items())]
    # User secrets are mounted on every command: BuildKit makes them files, never layer content.
    run_prefix = "".join(f"{_mount(sid)} \\\n    " for sid in sorted(spec.secret_mounts))
    entrypoint = json.dumps(list(spec.entrypoint), ensure_ascii=False) if spec.entrypoint else None
    text: str = (
        _environment()
        .get_template("Dockerfile.j2")
        .render(
            **_common(),
            digest=str(resolved.digest),
            base_image=resolved.base_image,
            apt_packages=list(resolved.apt_packages),
            installs_tools=resolved.installs_tools,
            install_runtime=resolved.runtime_version is not None,
            net=_net(resolved),
            env=[f"{k}={_docker_quote(v)}" for k, v in sorted(spec.env.items())],
            install_args=install_args,
            deps_dir=DEPS_DIR if resolved.requirements is not None else None,
            lock=lock,
            copies=copies,
            commands=[run_prefix + command for command in spec.commands],
            labels=labels,
            entrypoint=entrypoint,
        )
    )
    return text


def render_base() -> str:
    """Dockerfile.base: `ARG BASE`, `FROM ${BASE}`, then the same preamble as render()."""
    text: str = (
        _environment()
        .get_template("Dockerfile.base.j2")
        .render(**_common(), net=_net(None), install_runtime=True)
    )
    return text


def needs_runtime_wheel(resolved: ResolvedSpec) -> bool:
    """True when the build context must hold the pack runtime wheel under RUNTIME_WHEEL_DIR/."""
    return resolved.runtime_version is not None


def context_files(resolved: ResolvedSpec) -> dict[str, Path]:
    """Build-context path -> local file, exactly the files the Dockerfile reads.

    The builder must preserve each file's mode (the executable bit counts in the digest).
    The runtime wheel is not listed: the builder adds it when `needs_runtime_wheel`.
    """
    files: dict[str, Path] = {}
    if resolved.requirements is not None:
        for entry in resolved.requirements.files:
            files[f"{DEPS_DIR}/{Path(entry.path).name}"] = entry.source
    for copy in resolved.copy:
        for entry in copy.files:
            files[f"{COPY_DIR}/{entry.path}"] = entry.source
    return files


def build_secrets(resolved: ResolvedSpec) -> list[BuildSecret]:
    """The secrets a build of `resolved` uses, besides the optional `pack-ca` CA bundle."""
    spec = resolved.spec
    secrets: list[BuildSecret] = []
    if spec.pip_index_url:
        secrets.append(BuildSecret(INDEX_URL_SECRET_ID, value=spec.pip_index_url))
    if spec.pip_extra_index_urls:
        secrets.append(
            BuildSecret(EXTRA_INDEX_URLS_SECRET_ID, value=" ".join(spec.pip_extra_index_urls))
        )
    for sid, source in sorted(spec.secret_mounts.items()):
        secrets.append(BuildSecret(sid, source=spec.folder / source if source else None))
    return secrets


if __name__ == "__main__":  # pragma: no cover - regenerates the committed Dockerfile.base
    print(render_base(), end="")
