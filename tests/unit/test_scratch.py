"""Scratch files and folders: removed when their block ends; left by a killed process,
swept by the next one of their kind; never swept while a process (or its child) holds
them, nor when young, nor when they are not pack's."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from pack.scratch import LOCK, MIN_AGE, scratch_dir, scratch_file, sweep

HOLD = """
import sys, time
sys.path.insert(0, {root!r})
from pathlib import Path
from pack.scratch import scratch_dir, scratch_file
kind = sys.argv[1]
if kind == "dir":
    ctx = scratch_dir("pack-x-", Path(sys.argv[2]))
else:
    ctx = scratch_file(Path(sys.argv[2]), ".bundle-", ".tar.zst")
with ctx as made:
    print(made.path if kind == "dir" else made[1], flush=True)
    time.sleep(600)
"""


def _killed_holder(kind: str, folder: Path) -> Path:
    """What a process that made a scratch `kind` and was killed -9 left (made old)."""
    code = HOLD.format(root=str(Path(__file__).resolve().parents[2]))
    proc = subprocess.Popen(
        [sys.executable, "-c", code, kind, str(folder)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    path = Path(proc.stdout.readline().strip())
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    _age(path)
    return path


def _age(path: Path) -> None:
    old = time.time() - MIN_AGE - 5
    os.utime(path, (old, old))


def test_a_scratch_file_is_removed_after_its_block(tmp_path: Path) -> None:
    with scratch_file(tmp_path, ".bundle-", ".tar.zst") as (fd, path):
        with os.fdopen(fd, "wb") as f:
            f.write(b"x")
        assert path.read_bytes() == b"x"
    assert list(tmp_path.iterdir()) == []


def test_what_a_killed_process_left_is_swept_by_the_next(tmp_path: Path) -> None:
    left_file = _killed_holder("file", tmp_path)
    left_dir = _killed_holder("dir", tmp_path)
    assert left_file.exists() and left_dir.exists()
    with scratch_file(tmp_path, ".bundle-"):
        assert not left_file.exists()
    with scratch_dir("pack-x-", tmp_path):
        assert not left_dir.exists()
    assert list(tmp_path.iterdir()) == []


def test_a_held_scratch_is_kept_even_when_old(tmp_path: Path) -> None:
    with scratch_dir("pack-x-", tmp_path) as held, scratch_file(tmp_path, ".bundle-") as (_, f):
        _age(held.path)
        _age(f)
        assert sweep(tmp_path, "pack-x-") == [] and sweep(tmp_path, ".bundle-") == []
        assert held.path.is_dir() and f.is_file()


PARENT = """
import subprocess, sys, time
sys.path.insert(0, {root!r})
from pathlib import Path
from pack.scratch import scratch_dir
with scratch_dir("pack-x-", Path(sys.argv[1])) as made:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"],
                             pass_fds=(made.lock_fd,), start_new_session=True)
    print(made.path, child.pid, flush=True)
    time.sleep(600)
"""


def test_a_child_given_the_lock_keeps_the_folder_after_its_parent_was_killed(
    tmp_path: Path,
) -> None:
    code = PARENT.format(root=str(Path(__file__).resolve().parents[2]))
    parent = subprocess.Popen(
        [sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    assert parent.stdout is not None
    path_text, child_pid = parent.stdout.readline().split()
    path = Path(path_text)
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    _age(path)
    try:
        assert sweep(tmp_path, "pack-x-") == []  # its child (a local run's task) still runs
    finally:
        os.kill(int(child_pid), signal.SIGKILL)
    deadline = time.monotonic() + 10
    while Path(f"/proc/{child_pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sweep(tmp_path, "pack-x-") == [path]


def test_young_kept_and_foreign_entries_are_never_swept(tmp_path: Path) -> None:
    young = _killed_holder("dir", tmp_path)
    os.utime(young)  # just made
    foreign = tmp_path / "pack-x-someone-elses"
    foreign.mkdir()
    _age(foreign)  # no lock file: not pack's scratch
    with scratch_dir("pack-x-", tmp_path, keep=True) as kept:
        pass
    _age(kept.path)
    assert sweep(tmp_path, "pack-x-") == []
    assert young.is_dir() and foreign.is_dir() and kept.path.is_dir()
    assert not (kept.path / LOCK).exists()


WRITER = """
import sys, time
sys.path.insert(0, {root!r})
from pathlib import Path
from pack.atomic import atomic_write

def fill(out):
    out.write(b"half")
    out.flush()
    print("writing", flush=True)
    time.sleep(600)

atomic_write(Path(sys.argv[1]), fill)
"""


def test_a_killed_atomic_write_leaves_a_temp_the_next_file_put_sweeps(tmp_path: Path) -> None:
    from pack.packager.store import FileStore

    store = FileStore(tmp_path / "store")
    dest = tmp_path / "store" / "bundles" / "a.tar.zst"
    code = WRITER.format(root=str(Path(__file__).resolve().parents[2]))
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(dest)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline() == "writing\n"
    [temp] = list(dest.parent.iterdir())
    _age(temp)
    assert sweep(dest.parent, ".", ".tmp") == []  # its writer holds it
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not dest.exists() and list(store.list_keys()) == []  # never visible
    src = tmp_path / "b.bin"
    src.write_bytes(b"whole")
    store.put_file("bundles/b.tar.zst", src)
    assert [p.name for p in dest.parent.iterdir()] == ["b.tar.zst"]
