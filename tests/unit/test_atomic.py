import os
from pathlib import Path

import pytest

from pack.atomic import atomic_write


@pytest.fixture
def fsyncs(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real = os.fsync

    def counting(fd: int) -> None:
        calls.append(fd)
        real(fd)

    monkeypatch.setattr(os, "fsync", counting)
    return calls


def test_a_durable_write_reaches_the_disk_before_its_rename(
    tmp_path: Path, fsyncs: list[int]
) -> None:
    atomic_write(tmp_path / "a", lambda f: f.write(b"data"))
    assert (tmp_path / "a").read_bytes() == b"data" and len(fsyncs) == 1


def test_a_cache_write_does_not_wait_for_the_disk(tmp_path: Path, fsyncs: list[int]) -> None:
    atomic_write(tmp_path / "a", lambda f: f.write(b"data"), durable=False)
    assert (tmp_path / "a").read_bytes() == b"data" and fsyncs == []
    assert [p.name for p in tmp_path.iterdir()] == ["a"]  # no temp file left


def test_the_notes_and_caches_of_a_run_do_not_fsync(tmp_path: Path, fsyncs: list[int]) -> None:
    """What `pack run` writes into the cache dir on every run (the connection note, the
    driver-process note, the hash and import caches) is rebuilt if lost: no fsync."""
    from pack.launcher.workflow.process import driver_process
    from pack.packager.publish import plan_package
    from pack.runs.connection import Connection, read_connection, write_connection

    cache = tmp_path / "cache"
    write_connection(Connection(run_id="rabc123", backend="local", store_url="file:///s"), cache)
    assert read_connection(cache, "rabc123") is not None
    with driver_process(cache, "rabc123", backend="local", store_url="file:///s"):
        pass
    root = tmp_path / "proj"
    root.mkdir()
    (root / "wf.py").write_text("import helper\n")
    (root / "helper.py").write_text("X = 1\n")
    os.utime(root / "wf.py", (1, 1))  # old enough for the import cache to keep it
    plan_package(root, "auto", root / "wf.py", cache_dir=cache)
    written = sorted(p.name for p in cache.rglob("*") if p.is_file())
    assert len(written) >= 3, written  # the notes and at least one packager cache
    assert fsyncs == []
