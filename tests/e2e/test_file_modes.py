"""What pack writes follows the umask (issue 15.7): with umask 077 bundles, inputs,
outputs and records are 0600, and the cache dir is created 0700 whatever the umask.
Real `pack` processes (the umask is per process), a file:// store."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

WF = """\
from pack import task


@task
def double(x: int) -> int:
    return 2 * x
"""

# Records pack keeps besides bundles and run records (which `pack run` writes): the image record.
RECORDS = textwrap.dedent(
    """
    import sys
    from pathlib import Path

    from pack.imagespec.record import ImageRecord

    cache = Path(sys.argv[1])
    ImageRecord.in_cache(cache, 60).remember("127.0.0.1:5000/a:b", "sha256:" + "0" * 64, None)
    """
)


def _pack(cwd: Path, env: dict[str, str], mask: int, *args: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "pack", *args],
        cwd=cwd,
        env=env,
        umask=mask,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr


def _write_everything(tmp_path: Path, mask: int) -> tuple[Path, Path]:
    root = tmp_path / "proj"
    root.mkdir()
    (root / "wf.py").write_text(WF)
    cache = tmp_path / "home" / ".cache" / "pack"  # absent: pack creates it
    store = tmp_path / "store"
    env = {**os.environ, "PACK_CACHE_DIR": str(cache), "PACK_STORE": store.as_uri()}
    _pack(root, env, mask, "package", "--copy", "all")
    _pack(root, env, mask, "run", "--copy", "all", "wf.py", "double", "--x", "4")
    subprocess.run(
        [sys.executable, "-c", RECORDS, str(cache), store.as_uri()],
        env=env,
        umask=mask,
        check=True,
        timeout=60,
    )
    return cache, store


def _files(*roots: Path) -> dict[str, int]:
    return {
        str(p): stat.S_IMODE(p.lstat().st_mode)
        for root in roots
        for p in root.rglob("*")
        if p.is_file() and not p.is_symlink()
    }


@pytest.mark.parametrize(("mask", "file_mode"), [(0o077, 0o600), (0o022, 0o644)])
def test_written_files_follow_the_umask_and_the_cache_dir_is_private(
    tmp_path: Path, mask: int, file_mode: int
) -> None:
    cache, store = _write_everything(tmp_path, mask)
    files = _files(cache, store)
    kinds = {
        "bundle": [p for p in files if "/bundles/" in p],
        "inputs": [p for p in files if p.endswith("/inputs.pb")],
        "outputs": [p for p in files if p.endswith("/outputs.pb")],
        "run record": [p for p in files if p.endswith("/record.json")],
        "run index": [p for p in files if "/index/runs/" in p],
        "run log": [p for p in files if p.endswith("/log.txt")],
        "run connection": [p for p in files if p.endswith("/connection.json")],
        "image record": [p for p in files if "image" in Path(p).name],
    }
    assert all(kinds.values()), kinds  # each kind was written, so each was checked
    assert {p: oct(m) for p, m in files.items() if m != file_mode} == {}
    assert stat.S_IMODE(cache.stat().st_mode) == 0o700
