from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from pack.errors import PackageError
from pack.packager import statcache
from pack.packager.publish import package_and_publish, plan_package
from pack.packager.store import FileStore, open_store

from .conftest import write

NOBODY = 65534


def old(path: Path) -> None:
    """Age a file past the racy window so the stat cache may keep it."""
    os.utime(path, ns=(1_600_000_000_000_000_000, 1_600_000_000_000_000_000))


def test_stat_cache_avoids_rereads_and_sees_changes(
    tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tree, {"a.py": "a", "b.py": "b"})
    for p in tree.iterdir():
        old(p)
    reads: list[str] = []
    real = statcache.hash_file
    monkeypatch.setattr(statcache, "hash_file", lambda e: reads.append(e.path) or real(e))
    first = plan_package(tree, "all", None, cache_dir=tmp_path).digest
    assert sorted(reads) == ["a.py", "b.py"]
    reads.clear()
    assert plan_package(tree, "all", None, cache_dir=tmp_path).digest == first
    assert reads == []
    (tree / "b.py").write_text("B")
    old(tree / "b.py")  # same mtime as before: inode/ctime/size still tell
    changed = plan_package(tree, "all", None, cache_dir=tmp_path).digest
    assert reads == ["b.py"] and changed != first


def test_corrupt_stat_cache_is_rebuilt(tree: Path, tmp_path: Path) -> None:
    write(tree, {"a.py": "a"})
    old(tree / "a.py")
    good = plan_package(tree, "all", None, cache_dir=tmp_path).digest
    cache_file = statcache.cache_path(tmp_path, tree)
    for garbage in (b"{not json", b'{"version": 1, "entries": {"a.py": [1, 2]}}', b"[]"):
        cache_file.write_bytes(garbage)
        assert plan_package(tree, "all", None, cache_dir=tmp_path).digest == good
        assert json.loads(cache_file.read_bytes())["entries"]["a.py"][4] == good_hash(tree / "a.py")


def good_hash(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_publish_uploads_once(tree: Path, tmp_path: Path) -> None:
    write(tree, {"wf.py": "x"})
    store = (tmp_path / "store").as_uri()
    first = package_and_publish(tree, "all", None, store, cache_dir=tmp_path / "c")
    second = package_and_publish(tree, "all", None, store, cache_dir=tmp_path / "c")
    assert first is not None and second is not None
    assert first.uploaded and not second.uploaded
    assert first.url == second.url and first.url.endswith(f"bundles/{first.digest.hex}.tar.zst")
    assert (first.files, first.bytes) == (1, 1)
    gz = package_and_publish(tree, "all", None, store, cache_dir=tmp_path / "c", compression="gzip")
    assert (
        gz is not None and gz.uploaded and gz.url.endswith(".tar.gz") and gz.digest == first.digest
    )


def test_guardrails_warn_and_cap(tree: Path, tmp_path: Path) -> None:
    write(tree, {"small.py": "x", "blob.bin": b"\0" * (11 * 1024 * 1024)})
    warnings: list[str] = []
    plan = plan_package(tree, "all", None, cache_dir=None, on_warning=warnings.append)
    assert plan.largest(1) == [("blob.bin", 11 * 1024 * 1024)]
    assert any("blob.bin" in w and "10.0 MiB" in w for w in warnings)
    with pytest.raises(PackageError, match=r"exceeds the limit.*largest: blob.bin"):
        plan_package(tree, "all", None, cache_dir=None, max_bytes=1_000_000)


def _plan_error_as(uid: int, gid: int, root: Path) -> str:
    """plan_package(root) in a forked child running as uid/gid; the PackageError it raised.

    A fork, not an exec: the interpreter may live where the unprivileged user cannot
    read it (pyenv under /root), but the child already has pack imported.
    """
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        os.close(read_fd)
        answer = "no error"
        try:
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)
            plan_package(root, "all", None, cache_dir=None)
        except PackageError as exc:
            answer = f"PackageError: {exc.message}"
        except BaseException as exc:
            answer = f"{type(exc).__name__}: {exc}"
        finally:
            os.write(write_fd, answer.encode())
            os._exit(0)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as pipe:
        answer = pipe.read().decode()
    os.waitpid(pid, 0)
    return answer


def test_unreadable_file_is_named() -> None:
    # Outside the pytest tmp dir (mode 0700): the unprivileged child must reach the tree.
    base = Path(tempfile.mkdtemp(prefix="pack-unreadable-"))
    try:
        base.chmod(0o755)
        tree = write(base / "proj", {"ok.py": "x", "pkg/locked.py": "x"})
        for folder in (tree, tree / "pkg"):
            folder.chmod(0o755)
        (tree / "ok.py").chmod(0o644)
        (tree / "pkg" / "locked.py").chmod(0)
        if os.geteuid() == 0:
            # Root reads anything: drop to nobody, to whom only this one file is closed.
            answer = _plan_error_as(NOBODY, NOBODY, tree)
        else:
            with pytest.raises(PackageError) as info:
                plan_package(tree, "all", None, cache_dir=None)
            answer = f"PackageError: {info.value.message}"
        assert answer == "PackageError: cannot read pkg/locked.py: Permission denied"
    finally:
        shutil.rmtree(base)


def test_file_store_interrupted_write_leaves_nothing(tmp_path: Path) -> None:
    store = open_store((tmp_path / "s").as_uri())
    assert isinstance(store, FileStore)

    class Boom(Exception):
        pass

    class Failing:
        def __init__(self) -> None:
            self.calls = 0

        def read(self, n: int = -1) -> bytes:
            self.calls += 1
            if self.calls > 2:
                raise Boom
            return b"x" * 1024

    with pytest.raises(Boom):
        store.put_fileobj("bundles/k.tar.zst", Failing())  # type: ignore[arg-type]
    assert not store.exists("bundles/k.tar.zst")
    assert os.listdir(tmp_path / "s" / "bundles") == []


def test_cli_json_and_list(tree: Path, tmp_path: Path) -> None:
    from pack.cli import cli

    write(tree, {"wf.py": "import helper\n", "helper.py": "", "other.py": "", ".env": "SECRET=1"})
    store = (tmp_path / "store").as_uri()
    runner = CliRunner()
    args = ["package", str(tree), "--store", store, "--output", "json"]
    first = json.loads(runner.invoke(cli, args, catch_exceptions=False).output)
    again = json.loads(runner.invoke(cli, args, catch_exceptions=False).output)
    assert first["uploaded"] is True and again["uploaded"] is False
    assert first["files"] == 3 and first["url"].startswith(store)
    assert {"path": ".env", "reason": first["excluded"][0]["reason"]} in first["excluded"]
    auto = runner.invoke(
        cli,
        ["package", "--copy", "auto", "--entry", str(tree / "wf.py"), "--list"],
        catch_exceptions=False,
    )
    lines = auto.output.splitlines()
    assert "helper.py" in lines and "wf.py" in lines and "other.py" not in lines
    assert any(line.startswith("excluded: .env") for line in lines)


def test_auto_run_keeps_the_full_runs_cache(
    tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tree, {"wf.py": "import a\n", "a.py": "", "b.py": "", "c.py": ""})
    for p in tree.iterdir():
        old(p)
    plan_package(tree, "all", None, cache_dir=tmp_path)
    plan_package(tree, "auto", tree / "wf.py", cache_dir=tmp_path)
    reads: list[str] = []
    real = statcache.hash_file
    monkeypatch.setattr(statcache, "hash_file", lambda e: reads.append(e.path) or real(e))
    plan_package(tree, "all", None, cache_dir=tmp_path)
    assert reads == []
    (tree / "c.py").unlink()
    plan_package(tree, "all", None, cache_dir=tmp_path)
    assert "c.py" not in json.loads(statcache.cache_path(tmp_path, tree).read_bytes())["entries"]


def test_list_draws_a_tree_on_a_tty(
    tree: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from pack.cli import common
    from pack.cli.package import _print_list

    write(tree, {"pkg/a.py": "", "pkg/sub/b.py": "", "top.py": "", "x.pyc": ""})
    monkeypatch.setattr(common, "is_tty", lambda stream=None: stream is sys.stdout)
    _print_list(plan_package(tree, "all", None, cache_dir=None))
    out = capsys.readouterr().out
    for text in (
        "pkg/",
        "sub/",
        "a.py",
        "b.py",
        "top.py",
        "left out",
        "x.pyc",
        "default ignore *.pyc",
    ):
        assert text in out


def test_file_vanishing_mid_run_is_named(tree: Path) -> None:
    from pack.filetree.walk import list_files

    write(tree, {"stay.py": "x", "gone.py": "x"})
    listing = list_files(tree)
    (tree / "gone.py").unlink()
    with pytest.raises(PackageError, match="gone.py vanished"):
        statcache.content_hashes(listing.files, None)


def test_file_changed_between_digest_and_archive_is_refused(tree: Path, tmp_path: Path) -> None:
    from pack.packager.publish import publish

    write(tree, {"a.py": "one"})
    plan = plan_package(tree, "all", None, cache_dir=None)
    (tree / "a.py").write_text("two")  # same size, other bytes
    with pytest.raises(PackageError, match="a.py changed while it was being packaged"):
        publish(plan, open_store((tmp_path / "s").as_uri()), tmp_dir=tmp_path)
    assert not (tmp_path / "s" / "bundles").exists() or os.listdir(tmp_path / "s" / "bundles") == []
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".bundle-")] == []
