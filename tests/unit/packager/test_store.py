from __future__ import annotations

from pathlib import Path

import pytest

from pack.errors import StoreError
from pack.packager.store import (
    FileStore,
    Store,
    download_url,
    exists_url,
    open_store,
    read_url,
    upload_file_url,
    write_url,
)


def test_file_store_round_trip_via_urls(tmp_path: Path) -> None:
    folder = tmp_path / "a store"  # a space: the URL is percent-encoded
    url = (folder / "runs" / "r1" / "inputs.pb").as_uri()
    assert "%20" in url
    assert not exists_url(url)
    write_url(url, b"payload")
    assert read_url(url) == b"payload" and exists_url(url)
    assert write_url(url, b"other", if_absent=True) is False
    assert read_url(url) == b"payload"
    src = tmp_path / "f.bin"
    src.write_bytes(b"\x00\x01")
    upload_file_url((folder / "f.bin").as_uri(), src)
    download_url((folder / "f.bin").as_uri(), tmp_path / "deep" / "copy.bin")
    assert (tmp_path / "deep" / "copy.bin").read_bytes() == b"\x00\x01"
    store = open_store(folder.as_uri())
    assert isinstance(store, Store) and isinstance(store, FileStore)
    assert store.url("runs/r1/inputs.pb") == url


@pytest.mark.parametrize(
    "url",
    ["http://example.com/x", "file://remote-host/x", "s3://ab/x", "relative/path", "gs://bucket/x"],
)
def test_unsupported_urls_are_named(url: str) -> None:
    with pytest.raises(StoreError, match="URL"):
        open_store(url)


@pytest.mark.parametrize("key", ["../escape", "/abs", "a//b", "a/./b", ""])
def test_keys_cannot_escape(tmp_path: Path, key: str) -> None:
    with pytest.raises(StoreError, match="invalid store key"):
        FileStore(tmp_path).put_bytes(key, b"x")


def test_missing_objects_are_errors_naming_the_url(tmp_path: Path) -> None:
    url = (tmp_path / "nope.bin").as_uri()
    with pytest.raises(StoreError, match=f"not found: {url}"):
        read_url(url)
    with pytest.raises(StoreError, match="not found"):
        download_url(url, tmp_path / "dest")
    assert not (tmp_path / "dest").exists()


def test_unreadable_upload_source_is_named_and_writes_nothing(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "s")
    missing = tmp_path / "no-such.bin"
    with pytest.raises(StoreError, match=f"cannot upload {missing} to .*bundles/k.tar.zst"):
        store.put_file("bundles/k.tar.zst", missing)
    assert not (tmp_path / "s").exists() or list((tmp_path / "s").rglob("*")) == []
