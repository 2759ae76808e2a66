"""Run records on a real S3 server: the same contract as file:// (tests/unit/runs)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from pack.packager.s3 import S3Store
from tests.unit.runs.contract import (
    check_newest_first_without_listing_everything,
    check_tree_and_logs,
)

from .conftest import S3Server

pytestmark = pytest.mark.integration


@pytest.fixture()
def bucket(s3_env: S3Server) -> Iterator[str]:
    import boto3

    name = f"pack-runs-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=s3_env.endpoint_url).create_bucket(Bucket=name)
    yield name


def test_newest_first_without_listing_everything_on_s3(bucket: str) -> None:
    store = S3Store(bucket, "team/pack")
    check_newest_first_without_listing_everything(store, f"s3://{bucket}/team/pack")


def test_tree_and_logs_on_s3(bucket: str) -> None:
    store = S3Store(bucket, "team/pack")
    check_tree_and_logs(store, f"s3://{bucket}/team/pack")


def test_s3_listing_pages_and_prefix(bucket: str) -> None:
    store = S3Store(bucket, "p")
    names = [f"k/{i:04d}" for i in range(1205)]  # more than one page of 1000
    for name in names[:3]:
        store.put_bytes(name, b"x")
    from concurrent.futures import ThreadPoolExecutor

    import boto3

    client = boto3.client("s3")
    with ThreadPoolExecutor(8) as pool:
        list(
            pool.map(lambda n: client.put_object(Bucket=bucket, Key=f"p/{n}", Body=b"x"), names[3:])
        )
    client.put_object(Bucket=bucket, Key="other/k/0001", Body=b"x")  # outside the prefix
    assert list(store.list_keys("k/")) == names
    assert list(store.list_keys("k/", start_after="k/1199")) == names[1200:]
    # Small pages (MaxKeys) are followed to the end.
    assert list(store.list_keys("k/", start_after="k/1199", page_size=2)) == names[1200:]
    store.delete("k/0000")
    store.delete("k/0000")  # twice is fine
    assert not store.exists("k/0000")
