"""ImageSpec `copy=` against the real engine: the build context, and so every layer, holds only
the files the bundle's rules keep (issue 11.2); escaping links are refused (issue 15.8)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.integration.test_build import Pack, pack, scan_image, spec_file, uid  # noqa: F401

pytestmark = pytest.mark.integration


def test_copied_folder_reaches_the_image_without_its_secrets(
    pack: Pack,  # noqa: F811
    registry,  # type: ignore[no-untyped-def]
    base_image: str,
    docker_engine,
    tmp_path: Path,
) -> None:
    mark = uid()
    secrets = {
        "assets/.env": f"TOKEN=env-{mark}",
        "assets/keys/id_rsa": f"key material rsa-{mark}",
        "assets/.git/config": f"[remote]\n\turl = https://u:git-{mark}@example.com/x.git\n",
        "assets/tls.pem": f"pem-{mark}",
    }
    kept = {
        "assets/labels.json": f"labels-{mark}",
        "assets/build/steps.txt": f"nested-build-{mark}",
        "assets/sub/readme.txt": f"readme-{mark}",
    }
    for rel, text in {**secrets, **kept, "assets/debug.log": f"log-{mark}"}.items():
        path = pack.cwd / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    (pack.cwd / ".dockerignore").write_text("assets/*.log\n")
    os.symlink("labels.json", pack.cwd / "assets" / "alias.json")  # inside: copied as a file
    repo = f"test/copy-{mark}"
    spec = spec_file(
        pack.cwd,
        f"app = ImageSpec(name={repo!r}, registry={registry.host!r}, "
        f"base_image={base_image!r}, runtime=False, copy=['assets'])\n",
    )
    explain = pack("hash", "--explain", "-o", "json", str(spec))
    assert explain.returncode == 0, explain.stderr
    [row] = json.loads(explain.stdout)
    hashed = sorted(f["path"] for f in row["inputs"]["copy"][0]["files"])
    assert hashed == sorted([*kept, "assets/alias.json"])

    proc = pack("build", "-o", "json", str(spec))
    assert proc.returncode == 0, proc.stderr[-3000:]
    for rel in ("assets/.env", "assets/keys/id_rsa", "assets/tls.pem"):
        assert f"pack: warning: ImageSpec {repo!r}: copy: left out {rel}: looks like a secret" in (
            proc.stderr
        )
    [out] = json.loads(proc.stdout)
    docker_engine.run("pull", out["digest"])
    scan = scan_image(docker_engine, out["digest"], tmp_path)
    assert scan.layers_read == scan.layers_in_image >= 2
    # What the image holds under /root/assets (a layer may store a file as a hard link).
    listing = docker_engine.run(
        "run",
        "--rm",
        "--network",
        "host",
        out["digest"],
        "python3",
        "-c",
        "import json, pathlib; root = pathlib.Path('/root/assets'); print(json.dumps("
        "{str(p.relative_to(root.parent)): p.read_text() for p in root.rglob('*') if p.is_file()}))",
    )
    assert json.loads(listing.stdout) == {
        **kept,
        "assets/alias.json": kept["assets/labels.json"],
    }
    for name, data in scan.files:
        for needle in ("env-", "rsa-", "git-", "pem-", "log-"):
            assert f"{needle}{mark}".encode() not in data, name


def test_escaping_link_in_a_copy_folder_is_refused_then_followed_on_opt_in(
    pack: Pack,  # noqa: F811
    registry,  # type: ignore[no-untyped-def]
    base_image: str,
    docker_engine,
    tmp_path: Path,
) -> None:
    mark = uid()
    outside = tmp_path / f"outside-{mark}.txt"
    outside.write_text(f"outside-{mark}")
    (pack.cwd / "assets").mkdir()
    (pack.cwd / "assets" / "a.txt").write_text("a")
    os.symlink(outside, pack.cwd / "assets" / "link.txt")
    body = (
        f"app = ImageSpec(name='test/copylink-{mark}', registry={registry.host!r}, "
        f"base_image={base_image!r}, runtime=False, copy=['assets']{{extra}})\n"
    )
    spec = spec_file(pack.cwd, body.format(extra=""))
    refused = pack("build", str(spec))
    assert refused.returncode == 2
    [line] = refused.stderr.strip().splitlines()
    assert line.startswith("pack: error: ") and f"symlink assets/link.txt -> {outside}" in line
    assert line.endswith("opt in with follow_links=True on the ImageSpec")
    spec = spec_file(pack.cwd, body.format(extra=", follow_links=True"))
    [out] = pack.build(str(spec))
    docker_engine.run("pull", out["digest"])
    shown = docker_engine.run(
        "run", "--rm", "--network", "host", out["digest"], "cat", "/root/assets/link.txt"
    )
    assert shown.stdout == f"outside-{mark}"
