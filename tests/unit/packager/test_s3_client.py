"""S3 clients are shared per endpoint and AWS settings (building one costs ~0.1 s)."""

from __future__ import annotations

import pytest

from pack.packager.s3 import S3Store, shared_client
from pack.packager.store import split_url, use_s3_endpoint

pytest.importorskip("boto3")
pytestmark = pytest.mark.usefixtures("fake_aws")


def test_stores_of_one_endpoint_share_a_client() -> None:
    use_s3_endpoint("http://127.0.0.1:1")
    a, _ = split_url("s3://bucket-a/x/inputs.pb")
    b, _ = split_url("s3://bucket-b/y/outputs.pb")
    assert isinstance(a, S3Store) and isinstance(b, S3Store)
    assert a.client is b.client
    assert a.client.meta.endpoint_url == "http://127.0.0.1:1"


def test_another_endpoint_gets_its_own_client() -> None:
    one = shared_client("http://127.0.0.1:1")
    two = shared_client("http://127.0.0.1:2")
    assert one is not two
    assert two.meta.endpoint_url == "http://127.0.0.1:2"


def test_changed_credentials_are_not_served_a_stale_client(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    before = shared_client("http://127.0.0.1:3")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "second")
    after = shared_client("http://127.0.0.1:3")
    assert after is not before
    assert after._request_signer._credentials.access_key == "second"
    assert before._request_signer._credentials.access_key == "first"
