"""RunStore on a real file:// store: index order, filters, trees, logs, errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from pack.errors import StoreError
from pack.packager.store import FileStore
from pack.runs import keys
from pack.runs.runstore import RunStore, new_record

from .contract import T0, check_newest_first_without_listing_everything, check_tree_and_logs


def test_newest_first_without_listing_everything(tmp_path: Path) -> None:
    check_newest_first_without_listing_everything(FileStore(tmp_path), tmp_path.as_uri())


def test_tree_and_logs(tmp_path: Path) -> None:
    check_tree_and_logs(FileStore(tmp_path), tmp_path.as_uri())


def test_a_missing_run_names_the_store(tmp_path: Path) -> None:
    runs = RunStore.open(tmp_path.as_uri())
    with pytest.raises(StoreError) as info:
        runs.get("rnothere")
    assert str(info.value) == f"no run rnothere in store {tmp_path.as_uri()}"


def test_a_record_is_written_before_its_index_entry(tmp_path: Path) -> None:
    order: list[str] = []

    class Recording(FileStore):
        def put_bytes(self, key: str, data: bytes, *, if_absent: bool = False) -> bool:
            order.append(key.split("/")[0])
            return super().put_bytes(key, data, if_absent=if_absent)

    runs = RunStore(Recording(tmp_path), tmp_path.as_uri())
    runs.put(new_record("rabc", task="wf.main", backend="local", now=T0))
    assert order == ["runs", "index"]


def test_an_index_entry_whose_record_is_unreadable_is_skipped(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    runs = RunStore(store, tmp_path.as_uri())
    runs.put(new_record("rgood", task="wf.main", backend="local", now=T0))
    store.put_bytes(keys.index_key(T0 + 5, "rbad"), b"{not json")
    assert [r.id for r in runs.recent(limit=10)] == ["rgood"]


def test_file_store_lists_in_key_order_and_skips_temp_files(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    for key in ("a/b", "a-c", "a/a/z", "b", "ab"):
        store.put_bytes(key, b"x")
    (tmp_path / "a" / ".b.123.tmp").write_bytes(b"partial")
    assert list(store.list_keys()) == sorted(["a/b", "a-c", "a/a/z", "b", "ab"])
    assert list(store.list_keys("a/")) == ["a/a/z", "a/b"]
    assert list(store.list_keys("a")) == ["a-c", "a/a/z", "a/b", "ab"]
    assert list(store.list_keys("", start_after="a/a/z")) == ["a/b", "ab", "b"]
    assert list(store.list_keys("nothing/")) == []
    store.delete("a/a/z")
    assert not (tmp_path / "a" / "a").exists()  # emptied folders go too
    store.delete("a/a/z")  # twice is fine
    assert list(store.list_keys("a/")) == ["a/b"]
