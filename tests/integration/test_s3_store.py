"""The packager's S3 store against a real S3 server (moto_server on loopback)."""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from pack.errors import StoreError
from pack.packager.extract import fetch_and_extract
from pack.packager.publish import package_and_publish, plan_package, publish
from pack.packager.s3 import S3Store
from pack.packager.store import (
    download_url,
    open_store,
    read_url,
    upload_file_url,
    use_s3_endpoint,
    write_url,
)

from .conftest import S3Server

pytestmark = pytest.mark.integration

MiB = 1024 * 1024


@pytest.fixture()
def bucket(s3_env: S3Server) -> Iterator[str]:
    import boto3

    name = f"pack-test-{uuid.uuid4().hex[:12]}"
    client = boto3.client("s3", endpoint_url=s3_env.endpoint_url)
    client.create_bucket(Bucket=name)
    yield name


def client(s3: S3Server):  # type: ignore[no-untyped-def]
    import boto3

    return boto3.client("s3", endpoint_url=s3.endpoint_url)


def make_tree(root: Path, n: int = 5) -> Path:
    for i in range(n):
        (root / "pkg").mkdir(parents=True, exist_ok=True)
        (root / "pkg" / f"m{i}.py").write_text(f"X = {i}\n")
    (root / "wf.py").write_text("import pkg.m0\n")
    return root


def test_upload_then_skip_and_extract(bucket: str, tmp_path: Path, s3_env: S3Server) -> None:
    src = make_tree(tmp_path / "src")
    store_url = f"s3://{bucket}/team/code"
    # endpoint comes from boto3's own settings (AWS_ENDPOINT_URL_S3 set by s3_env).
    first = package_and_publish(src, "all", None, store_url, cache_dir=tmp_path / "cache")
    second = package_and_publish(src, "all", None, store_url, cache_dir=tmp_path / "cache")
    assert first is not None and second is not None
    assert first.uploaded and not second.uploaded
    assert first.url == f"s3://{bucket}/team/code/bundles/{first.digest.hex}.tar.zst"
    keys = [o["Key"] for o in client(s3_env).list_objects_v2(Bucket=bucket)["Contents"]]
    assert keys == [f"team/code/bundles/{first.digest.hex}.tar.zst"]
    out = fetch_and_extract(first.url, tmp_path / "run" / "code")
    assert (out / "pkg" / "m3.py").read_text() == "X = 3\n"


def test_explicit_endpoint_overrides_boto_settings(
    bucket: str, tmp_path: Path, s3_server: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:1")  # nothing listens there
    use_s3_endpoint(s3_server.endpoint_url)
    url = f"s3://{bucket}/x/hello.txt"
    write_url(url, b"hello")
    assert read_url(url) == b"hello"
    src = tmp_path / "f.bin"
    src.write_bytes(b"abc")
    assert upload_file_url(f"s3://{bucket}/x/f.bin", src)
    download_url(f"s3://{bucket}/x/f.bin", tmp_path / "got" / "f.bin")
    assert (tmp_path / "got" / "f.bin").read_bytes() == b"abc"


def test_errors_name_the_url(bucket: str, s3_env: S3Server, tmp_path: Path) -> None:
    with pytest.raises(StoreError, match=f"not found: s3://{bucket}/nope/x"):
        read_url(f"s3://{bucket}/nope/x")
    with pytest.raises(StoreError, match=f"s3://{bucket}/nope/x"):
        download_url(f"s3://{bucket}/nope/x", tmp_path / "x")
    assert not (tmp_path / "x").exists()
    missing = f"pack-missing-{uuid.uuid4().hex[:8]}"
    with pytest.raises(StoreError, match=f"s3://{missing}/k") as info:
        write_url(f"s3://{missing}/k", b"x")
    assert "testing" not in str(info.value)  # never the credentials


def test_concurrent_uploads_of_one_digest(bucket: str, tmp_path: Path, s3_env: S3Server) -> None:
    src = make_tree(tmp_path / "src", n=50)
    plan = plan_package(src, "all", None, cache_dir=None)
    # Every worker believes the bundle is missing, so all of them race to upload it.
    barrier = threading.Barrier(6)
    results: list[bool] = []
    errors: list[BaseException] = []

    class Racing(S3Store):
        def exists(self, key: str) -> bool:
            barrier.wait(timeout=30)
            return False

    def worker(i: int) -> None:
        try:
            store = Racing(bucket, "race")
            results.append(publish(plan, store, tmp_dir=tmp_path).uploaded)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    # Conditional puts: exactly one racer writes the bundle, the others find it there.
    assert len(results) == 6 and results.count(True) == 1, results
    listed = client(s3_env).list_objects_v2(Bucket=bucket, Prefix="race/")["Contents"]
    assert [o["Key"] for o in listed] == [f"race/bundles/{plan.digest.hex}.tar.zst"]
    out = fetch_and_extract(f"s3://{bucket}/race/bundles/{plan.digest.hex}.tar.zst", tmp_path / "x")
    assert len(list((out / "pkg").iterdir())) == 50


def test_conditional_put_reports_already_there(bucket: str, s3_env: S3Server) -> None:
    store = open_store(f"s3://{bucket}/c")
    assert store.put_bytes("k", b"one", if_absent=True) is True
    assert store.put_bytes("k", b"one", if_absent=True) is False
    assert store.put_bytes("k", b"two") is True  # plain writes overwrite
    assert store.get_bytes("k") == b"two"


class Boom(Exception):
    pass


class FailingReader:
    """Gives `good` bytes, then raises: a disk error or a killed producer midway."""

    def __init__(self, good: int) -> None:
        self.left = good

    def read(self, n: int = -1) -> bytes:
        if self.left <= 0:
            raise Boom("read failed midway")
        n = self.left if n < 0 else min(n, self.left)
        self.left -= n
        return os.urandom(n)


def test_interrupted_multipart_upload_leaves_no_object(bucket: str, s3_env: S3Server) -> None:
    store = S3Store(bucket, "mp", multipart_threshold=5 * MiB, part_size=5 * MiB)
    with pytest.raises(Boom):
        store.put_fileobj(
            "bundles/x.tar.zst", FailingReader(7 * MiB), size=12 * MiB, if_absent=True
        )  # type: ignore[arg-type]
    assert not store.exists("bundles/x.tar.zst")
    uploads = client(s3_env).list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    assert uploads == []  # aborted, not orphaned


def test_interrupted_single_put_leaves_no_object(bucket: str, s3_env: S3Server) -> None:
    store = S3Store(bucket, "sp")
    with pytest.raises(Boom):
        store.put_fileobj("k", FailingReader(0), size=1024)  # type: ignore[arg-type]
    assert not store.exists("k")


def test_big_bundle_goes_multipart_and_round_trips(
    bucket: str, s3_env: S3Server, tmp_path: Path
) -> None:
    blob = tmp_path / "blob"
    blob.write_bytes(os.urandom(11 * MiB))
    store = S3Store(bucket, "big", multipart_threshold=5 * MiB, part_size=5 * MiB)
    assert store.put_file("b", blob, if_absent=True) is True
    assert store.put_file("b", blob, if_absent=True) is False
    store.get_file("b", tmp_path / "back")
    assert (tmp_path / "back").read_bytes() == blob.read_bytes()


def test_download_over_the_cap_is_refused_before_it_is_written(
    bucket: str, tmp_path: Path, s3_env: S3Server
) -> None:
    from pack.errors import ObjectTooLarge

    url = f"s3://{bucket}/cap/blob.bin"
    write_url(url, os.urandom(5000))
    dest = tmp_path / "got" / "blob.bin"
    with pytest.raises(ObjectTooLarge, match="is 5000 bytes, over the limit of 1000"):
        download_url(url, dest, max_bytes=1000)
    assert not dest.parent.exists() or os.listdir(dest.parent) == []
    download_url(url, dest, max_bytes=5000)
    assert dest.stat().st_size == 5000


@pytest.fixture()
def light(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The store as pack's processes in pods use it: without boto3 (pack.packager.s3lite)."""
    from pack.packager import store

    monkeypatch.setattr(store, "_light_s3", True)
    yield


def test_the_light_client_reads_writes_and_answers_like_boto3(
    bucket: str, tmp_path: Path, s3_env: S3Server, light: None
) -> None:
    s3 = open_store(f"s3://{bucket}/light")
    assert isinstance(s3, S3Store) and getattr(s3.client, "light", False)
    assert s3.put_bytes("a/b c+d.pb", b"payload") is True
    assert s3.get_bytes("a/b c+d.pb") == b"payload"
    assert s3.exists("a/b c+d.pb") and not s3.exists("a/missing")
    # Conditional writes: an object already there is kept and the call says so.
    assert s3.put_bytes("a/b c+d.pb", b"other", if_absent=True) is False
    assert s3.get_bytes("a/b c+d.pb") == b"payload"
    from pack.errors import ObjectNotFound

    with pytest.raises(ObjectNotFound, match="not found: s3://"):
        s3.get_bytes("a/missing")
    src = tmp_path / "big.bin"
    src.write_bytes(os.urandom(3 * MiB))
    s3.put_file("big.bin", src)
    s3.get_file("big.bin", tmp_path / "back.bin")
    assert (tmp_path / "back.bin").read_bytes() == src.read_bytes()
    # What it wrote, boto3 reads: the same objects, the same bytes.
    raw = client(s3_env).get_object(Bucket=bucket, Key="light/a/b c+d.pb")["Body"].read()
    assert raw == b"payload"
    # Listing (paged), modification times and deletes: the light client's too.
    for i in range(5):
        s3.put_bytes(f"list/k{i} +{i}", b"x")
    assert sorted(s3.list_keys("a/")) == ["a/b c+d.pb"]
    assert list(s3.list_keys("list/", page_size=2)) == [f"list/k{i} +{i}" for i in range(5)]
    assert list(s3.list_keys("list/", start_after="list/k2 +2")) == ["list/k3 +3", "list/k4 +4"]
    assert list(s3.list_keys("nothing/")) == []
    boto_time = client(s3_env).head_object(Bucket=bucket, Key="light/a/b c+d.pb")["LastModified"]
    assert s3.modified("a/b c+d.pb") == boto_time.timestamp()
    assert s3.modified("a/missing") is None
    s3.delete("list/k0 +0")
    s3.delete("list/never-there")
    assert not s3.exists("list/k0 +0") and s3.exists("list/k1 +1")
    assert getattr(s3.client, "light", False) and not s3.client.gave_up  # no boto3 needed


def test_the_light_client_refuses_wrong_credentials_in_one_line(
    bucket: str, s3_env: S3Server, light: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # moto accepts any key pair; a bucket that does not exist is refused like on AWS.
    s3 = open_store(f"s3://no-such-bucket-{uuid.uuid4().hex[:8]}/x")
    assert getattr(s3.client, "light", False)
    with pytest.raises(StoreError, match="NoSuchBucket") as info:
        s3.put_bytes("k", b"v")
    assert "\n" not in str(info.value)
