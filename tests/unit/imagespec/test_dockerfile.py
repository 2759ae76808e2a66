from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from pack.imagespec.dockerfile import (
    build_secrets,
    context_files,
    needs_runtime_wheel,
    render,
    render_base,
)
from pack.imagespec.spec import ImageSpec
from pack.runtime import source_checkout

from .conftest import load_one, resolved

SPEC = """
from pack import ImageSpec

image = ImageSpec(
    name="ml",
    packages=["pandas", "NumPy>=1.26"],
    apt_packages=["libgomp1", "curl"],
    requirements="requirements.txt",
    copy=["assets", "run.sh"],
    env={"OMP_NUM_THREADS": "1", "GREETING": "hello $USER"},
    commands=["echo first", "echo second", "cat /run/secrets/hf-token | wc -c"],
    secret_mounts={"hf-token": "token.txt"},
    pip_index_url="https://builder:s3cr3t@pypi.example.com/simple",
    pip_extra_index_urls=["https://extra.example.com/simple"],
    labels={"team": "ml"},
    entrypoint=["python", "-m", "app"],
)
"""
FILES = {
    "requirements.txt": "scikit-learn==1.5.0\n",
    "assets/labels.json": "[1]\n",
    "assets/sub/more.txt": "x\n",
    "run.sh": "#!/bin/sh\n",
    "token.txt": "hf_secret_value\n",
    "unrelated.txt": "nope\n",
}


def _ml(spec_folder: Callable[..., Path]) -> tuple[Path, str]:
    folder = spec_folder(SPEC, FILES)
    return folder, render(resolved(load_one(folder)))


def test_layout_and_order(spec_folder: Callable[..., Path]) -> None:
    _, text = _ml(spec_folder)
    assert not text.startswith("# syntax")  # no frontend image to pull; 20.10's built-in one
    lines = text.splitlines()
    froms = [line for line in lines if line.startswith("FROM ")]
    assert froms == ["FROM python:3.11-slim"]
    order = [
        "apt-get",
        "python3 -m venv /opt/pack/venv",
        "/tmp/pack_runtime/*.whl",
        "ENV GREETING=",
        "uv pip install --compile-bytecode \\",
        "COPY",
        "echo first",
        "echo second",
        "LABEL",
        "ENTRYPOINT",
    ]
    positions = [text.index(marker) for marker in order]
    assert positions == sorted(positions)


def test_apt_uses_cache_mounts_and_keeps_no_lists(spec_folder: Callable[..., Path]) -> None:
    _, text = _ml(spec_folder)
    assert "--mount=type=cache,target=/var/cache/apt" in text
    assert "--mount=type=cache,target=/var/lib/apt" in text
    assert "--no-install-recommends" in text
    apt_run = text[text.index("apt-get") - 400 : text.index("libgomp1") + 10]
    assert apt_run.index("curl") < apt_run.index("libgomp1")  # sorted: same digest, same file


def test_python_deps_with_uv(spec_folder: Callable[..., Path]) -> None:
    _, text = _ml(spec_folder)
    assert "--mount=type=cache,target=/root/.cache/uv" in text
    assert "-r /tmp/pack-deps/requirements.txt" in text
    assert "'numpy>=1.26'" in text and "pandas" in text
    assert "--mount=type=bind,source=deps,target=/tmp/pack-deps" in text


def test_no_credentials_or_secret_contents_in_dockerfile(spec_folder: Callable[..., Path]) -> None:
    _, text = _ml(spec_folder)
    assert "s3cr3t" not in text and "builder:" not in text
    assert "hf_secret_value" not in text
    assert "BEGIN CERTIFICATE" not in text
    assert "--mount=type=secret,id=pack-index-url" in text
    assert 'export UV_INDEX_URL="$(cat /run/secrets/pack-index-url)"' in text
    # Every index URL is a secret, even one without user:password: only its identity shows.
    assert "https://extra.example.com/simple" not in text
    assert "--mount=type=secret,id=pack-extra-index-urls" in text
    assert "export PACK_EXTRA_INDEXES='https://extra.example.com/… " in text
    # The CA bundle is only ever a secret mount, never COPY'd or put in ENV.
    assert "--mount=type=secret,id=pack-ca,target=/run/secrets/pack-ca" in text
    env_lines = [line for line in text.splitlines() if line.startswith("ENV")]
    assert not any("pack-ca" in line or "SSL_CERT_FILE" in line for line in env_lines)


def test_user_secrets_on_commands(spec_folder: Callable[..., Path]) -> None:
    _, text = _ml(spec_folder)
    runs = re.findall(
        r"RUN --mount=type=secret,id=hf-token,target=/run/secrets/hf-token \\\n    (.*)", text
    )
    assert runs == ["echo first", "echo second", "cat /run/secrets/hf-token | wc -c"]


def test_env_is_quoted_and_not_interpolated(spec_folder: Callable[..., Path]) -> None:
    _, text = _ml(spec_folder)
    assert 'GREETING="hello \\$USER"' in text
    assert 'OMP_NUM_THREADS="1"' in text


def test_labels_record_the_digest(spec_folder: Callable[..., Path]) -> None:
    folder, text = _ml(spec_folder)
    digest = resolved(load_one(folder)).digest
    assert f'"org.pack.spec-digest"="{digest}"' in text
    assert '"team"="ml"' in text
    assert 'ENTRYPOINT ["python", "-m", "app"]' in text


def test_context_holds_exactly_the_used_files(spec_folder: Callable[..., Path]) -> None:
    folder, text = _ml(spec_folder)
    r = resolved(load_one(folder))
    files = context_files(r)
    assert files == {
        "deps/requirements.txt": folder / "requirements.txt",
        "copy/assets/labels.json": folder / "assets" / "labels.json",
        "copy/assets/sub/more.txt": folder / "assets" / "sub" / "more.txt",
        "copy/run.sh": folder / "run.sh",
    }
    assert 'COPY ["copy/assets", "/root/assets"]' in text
    assert 'COPY ["copy/run.sh", "/root/run.sh"]' in text
    assert needs_runtime_wheel(r)
    secrets = {s.id: s for s in build_secrets(r)}
    assert set(secrets) == {"pack-index-url", "pack-extra-index-urls", "hf-token"}
    assert secrets["pack-extra-index-urls"].value == "https://extra.example.com/simple"
    assert secrets["hf-token"].source == folder / "token.txt"
    assert "s3cr3t" not in repr(secrets["pack-index-url"])


def test_same_digest_renders_the_same_dockerfile() -> None:
    a = ImageSpec(name="x", packages=["b", "A"], apt_packages=["wget", "curl"], base_dir=Path("/a"))
    b = ImageSpec(name="x", packages=["a", "B"], apt_packages=["curl", "wget"], base_dir=Path("/b"))
    assert render(resolved(a)) == render(resolved(b))


def test_child_of_a_spec_has_no_preamble() -> None:
    parent = ImageSpec(name="parent", registry="127.0.0.1:5000", base_dir=Path("/x"))
    child = ImageSpec(name="child", base_image=parent, packages=["requests"], base_dir=Path("/x"))
    r = resolved(child)
    text = render(r)
    assert f"FROM {resolved(parent).ref}\n" in text
    assert "python3 -m venv" not in text and "pack_runtime" not in text
    assert "uv pip install --compile-bytecode" in text
    assert not needs_runtime_wheel(r)


def test_no_runtime_and_no_python_deps_means_no_preamble() -> None:
    r = resolved(ImageSpec(name="bare", runtime=False, base_image="debian:bookworm"))
    text = render(r)
    assert "venv" not in text and "uv" not in text
    assert not needs_runtime_wheel(r)


def test_uv_lock_is_exported_then_installed(spec_folder: Callable[..., Path]) -> None:
    folder = spec_folder(
        "from pack import ImageSpec\nimage = ImageSpec(name='x', requirements='uv.lock')\n",
        {"uv.lock": "version = 1\n", "pyproject.toml": "[project]\nname='x'\n"},
    )
    r = resolved(load_one(folder))
    text = render(r)
    assert "uv export --frozen --no-dev --no-emit-project --project /tmp/pack-deps" in text
    assert "-r /tmp/pack-lock/requirements.txt" in text
    assert set(context_files(r)) == {"deps/uv.lock", "deps/pyproject.toml"}


def test_dockerfile_base_is_rendered_from_the_same_preamble() -> None:
    root = source_checkout()
    assert root is not None
    committed = (root / "Dockerfile.base").read_text()
    assert committed == render_base(), (
        "regenerate: python -m pack.imagespec.dockerfile > Dockerfile.base"
    )
    spec_text = render(resolved(ImageSpec(name="x", base_dir=Path("/x"))))
    preamble = committed[committed.index("# pack preamble") :]
    assert preamble in spec_text
    assert "ARG BASE\nFROM ${BASE}\n" in committed


TOKENS = ("tok-path-123", "tok-query-456", "tok-user-789", "tok-extra-000")


def _tokened(tmp_path: Path, **kw: object) -> str:
    spec = ImageSpec(
        name="img",
        packages=["six"],
        pip_index_url=f"https://pypi.fury.io/{TOKENS[0]}/simple/?private_token={TOKENS[1]}",
        pip_extra_index_urls=[
            f"https://u:{TOKENS[2]}@gitlab.example.com/api/v4/projects/1/packages/pypi/simple",
            f"https://idx.example.com/{TOKENS[3]}/",
        ],
        base_dir=tmp_path,
        **kw,  # type: ignore[arg-type]
    )
    return render(resolved(spec))


def test_index_tokens_in_path_query_or_userinfo_never_reach_the_dockerfile(
    tmp_path: Path,
) -> None:
    text = _tokened(tmp_path)
    for token in TOKENS:
        assert token not in text
    for host in ("pypi.fury.io", "gitlab.example.com", "idx.example.com"):
        assert f"https://{host}/…" in text  # the identity: host + fingerprint
    assert "--mount=type=secret,id=pack-index-url" in text
    assert "--mount=type=secret,id=pack-extra-index-urls" in text


def test_another_index_on_the_same_host_changes_the_install_step(tmp_path: Path) -> None:
    # BuildKit's cache ignores secret contents: the step's text must differ per index.
    a = ImageSpec(
        name="i", packages=["six"], pip_index_url="https://h.example/a/simple", base_dir=tmp_path
    )
    b = ImageSpec(
        name="i", packages=["six"], pip_index_url="https://h.example/b/simple", base_dir=tmp_path
    )
    c = ImageSpec(
        name="i",
        packages=["six"],
        pip_index_url="https://u:rotated@h.example/a/simple",
        base_dir=tmp_path,
    )

    def install_step(spec: ImageSpec) -> str:
        text = render(resolved(spec))
        return text[text.index("export PACK_INDEX=") : text.index("uv pip install")]

    assert install_step(a) != install_step(b)
    assert install_step(a) == install_step(c)  # a rotated password is the same index
