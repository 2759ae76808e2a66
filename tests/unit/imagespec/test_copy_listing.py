"""ImageSpec `copy=` is listed with the bundle's rules (issue 11.2) and refuses escaping links
like the bundle walker does (issue 15.8)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from pack.errors import SpecError
from pack.filetree.walk import list_files
from pack.imagespec.dockerfile import context_files
from pack.imagespec.hashing import canonical_inputs
from pack.imagespec.spec import ImageSpec

from .conftest import resolved

SECRETS = {
    "assets/.env": "TOKEN=s3cret-env",
    "assets/id_rsa": "not a real key: the name is what the guard matches",
    "assets/.git/config": '[remote "origin"]\n\turl = https://user:tok@example.com/x.git',
}
KEPT = {
    "assets/labels.json": "[1, 2]",
    "assets/build/steps.txt": "not at the spec folder's root: kept",
    "assets/.gitignore": "*.log\n",
    "assets/sub/readme.txt": "x",
}
IGNORED = {
    "assets/run.log": "gitignored",
    "assets/scratch.tmp": "dockerignored",
    "assets/__pycache__/m.cpython-311.pyc": "default",
    ".dockerignore": "assets/*.tmp\n",
}


def write(folder: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return folder


def copied(spec: ImageSpec) -> list[str]:
    inputs = canonical_inputs(resolved(spec))
    return [f["path"] for c in inputs["copy"] for f in c["files"]]


def test_copy_gets_the_bundle_rules_and_warns_naming_secrets(tmp_path: Path) -> None:
    folder = write(tmp_path, {**SECRETS, **KEPT, **IGNORED})
    spec = ImageSpec(name="app", copy=["assets"], base_dir=folder)
    r = resolved(spec)
    assert copied(spec) == sorted(KEPT)
    assert set(context_files(r)) == {f"copy/{p}" for p in KEPT}
    assert r.warnings == (
        "ImageSpec 'app': copy: left out assets/.env: looks like a secret",
        "ImageSpec 'app': copy: left out assets/id_rsa: looks like a secret",
    )
    why = {x.path: x.reason for x in r.left_out}
    assert why["assets/.git"] == "default ignore .git/"
    assert why["assets/run.log"] == "assets/.gitignore: *.log"
    assert why["assets/scratch.tmp"] == ".dockerignore: /assets/*.tmp"
    assert why["assets/__pycache__"] == "default ignore __pycache__/"
    # Exactly what a bundle of the spec's folder would ship from assets/: one listing.
    bundle = [f.path for f in list_files(folder).files if f.path.startswith("assets/")]
    assert copied(spec) == bundle
    # A .packignore re-include works the same way.
    write(folder, {".packignore": "!assets/.env\n"})
    assert "assets/.env" in copied(spec)


def test_secrets_do_not_change_the_digest(tmp_path: Path) -> None:
    clean = write(tmp_path / "clean", KEPT)
    dirty = write(tmp_path / "dirty", {**KEPT, **SECRETS})
    a = resolved(ImageSpec(name="app", copy=["assets"], base_dir=clean))
    b = resolved(ImageSpec(name="app", copy=["assets"], base_dir=dirty))
    assert a.digest == b.digest


def test_named_entries_escape_root_defaults_not_user_rules(tmp_path: Path) -> None:
    folder = write(
        tmp_path, {"dist/app-1.0.whl": "w", "notes/a.txt": "x", ".gitignore": "notes/\n"}
    )
    assert copied(ImageSpec(name="a", copy=["dist"], base_dir=folder)) == ["dist/app-1.0.whl"]
    with pytest.raises(SpecError, match=r"copy: notes is left out by .gitignore: notes/$"):
        resolved(ImageSpec(name="a", copy=["notes"], base_dir=folder))
    with pytest.raises(SpecError, match=r"copy: \.env is left out by secret guard"):
        write(folder, {".env": "T=1"})
        resolved(ImageSpec(name="a", copy=[".env"], base_dir=folder))


def test_a_folder_with_nothing_left_to_copy_is_refused(tmp_path: Path) -> None:
    folder = write(tmp_path, {"only_secrets/.env": "T=1"})
    with pytest.raises(SpecError, match="copy: only_secrets has no file to copy"):
        resolved(ImageSpec(name="a", copy=["only_secrets"], base_dir=folder))


def test_escaping_symlinks_are_refused_unless_follow_links(tmp_path: Path) -> None:
    folder = write(tmp_path / "proj", {"assets/a.txt": "a", "shared/b.txt": "b"})
    outside = write(tmp_path / "elsewhere", {"c.txt": "outside"})
    os.symlink("../shared/b.txt", folder / "assets" / "inside.txt")
    os.symlink(outside / "c.txt", folder / "assets" / "outside.txt")
    spec = ImageSpec(name="app", copy=["assets"], base_dir=folder)
    with pytest.raises(SpecError) as info:
        resolved(spec)
    assert info.value.message.startswith(
        f"ImageSpec 'app': copy: symlink assets/outside.txt -> {outside / 'c.txt'} points outside"
    )
    assert info.value.message.endswith("opt in with follow_links=True on the ImageSpec")
    followed = ImageSpec(name="app", copy=["assets"], base_dir=folder, follow_links=True)
    r = resolved(followed)
    files = {f.path: f for c in r.copy for f in c.files}
    assert sorted(files) == ["assets/a.txt", "assets/inside.txt", "assets/outside.txt"]
    # Links become the files they point to: the build context holds regular files.
    assert files["assets/outside.txt"].source == (outside / "c.txt").resolve()
    assert context_files(r)["copy/assets/inside.txt"] == (folder / "shared" / "b.txt").resolve()
    # follow_links does not count in the digest: it only decides refuse vs. list.
    (folder / "assets" / "outside.txt").unlink()
    (folder / "assets" / "outside.txt").write_text("outside")
    assert resolved(spec).digest == r.digest


def test_a_copy_entry_that_is_an_escaping_link_is_refused(tmp_path: Path) -> None:
    folder = write(tmp_path / "proj", {"spec.py": ""})
    outside = write(tmp_path / "data", {"x.csv": "1"})
    os.symlink(outside, folder / "data")
    with pytest.raises(SpecError, match="copy: symlink data -> .* points outside"):
        resolved(ImageSpec(name="app", copy=["data"], base_dir=folder))
    r = resolved(ImageSpec(name="app", copy=["data"], base_dir=folder, follow_links=True))
    assert [f.path for f in r.copy[0].files] == ["data/x.csv"] and r.copy[0].is_dir


def test_follow_links_must_be_a_bool(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="follow_links: expected True or False"):
        ImageSpec(name="a", follow_links="yes", base_dir=tmp_path)  # type: ignore[arg-type]


def test_pack_hash_explain_warns_and_lists_only_kept_files(
    spec_folder: Callable[..., Path],
) -> None:
    folder = spec_folder(
        "from pack import ImageSpec\nimage = ImageSpec(name='app', copy=['assets'])\n",
        {**SECRETS, **KEPT, **IGNORED},
    )
    code = "import sys; from pack.cli import main; sys.argv[0] = 'pack'; main(sys.argv[1:])"
    proc = subprocess.run(
        [sys.executable, "-c", code, "hash", "--explain", str(folder / "spec.py")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.splitlines() == [
        "pack: warning: ImageSpec 'app': copy: left out assets/.env: looks like a secret",
        "pack: warning: ImageSpec 'app': copy: left out assets/id_rsa: looks like a secret",
    ]
    for secret in SECRETS:
        assert f'"path": "{secret}"' not in proc.stdout
    assert "# left out of copy: assets/.git/  (default ignore .git/)" in proc.stdout
    proc = subprocess.run(
        [sys.executable, "-c", code, "hash", "--explain", "-o", "json", str(folder / "spec.py")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    [row] = json.loads(proc.stdout)
    assert [f["path"] for f in row["inputs"]["copy"][0]["files"]] == sorted(KEPT)
    assert len(row["warnings"]) == 2
