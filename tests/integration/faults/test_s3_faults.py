"""pack's S3 store behind the fault proxy: reads that break midway, and the bounded
publish and `pack run` loops (figures: benchmarks/bench_faults.py, bigger counts)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from pack.packager.store import (
    download_url,
    read_url,
    use_light_s3,
    use_network_timeout,
    use_s3_endpoint,
)

from ..conftest import S3Server
from .proxy import KINDS, FaultProxy, Rates
from .s3_loops import direct_client, new_bucket, publish_loop, roundtrip_loop
from .tally import Tally

pytestmark = pytest.mark.integration

SEED = int(os.environ.get("PACK_FAULTS_SEED", "1"))
TIMEOUT = 2.0  # the client's network_timeout in these loops; stalls hold answers past it


def _upstream(s3: S3Server) -> tuple[str, int]:
    host, _, port = s3.endpoint_url.rpartition("//")[2].partition(":")
    return host, int(port or 80)


def _assert_sound(tally: Tally, kinds: tuple[str, ...] = KINDS) -> None:
    print("\n" + tally.row())
    assert tally.problems() == []
    assert tally.operations == tally.succeeded + tally.failed
    assert tally.succeeded > 0 and tally.checked > 0
    assert {k for k in kinds if tally.faults[k]} == set(kinds), tally.faults


@pytest.fixture(params=["boto3", "light"])
def client_kind(request: pytest.FixtureRequest) -> Iterator[str]:
    """boto3's client (pack's own processes) and the light one pods use (s3lite)."""
    use_light_s3(request.param == "light")
    yield request.param
    use_light_s3(False)


@pytest.mark.parametrize("kind", ["truncate", "reset_response", "stall"])
def test_a_read_whose_body_breaks_resumes_where_it_broke(
    kind: str, client_kind: str, s3_env: S3Server, tmp_path: Path
) -> None:
    # botocore retries a GET until its head arrives, not while its body streams: the
    # store resumes the read (Range + If-Match) instead of failing it. The light client
    # must see the break at all: http.client's read(n) ends quietly at a short body.
    bucket = new_bucket(s3_env.endpoint_url)
    data = os.urandom(3_000_000)
    direct_client(s3_env.endpoint_url).put_object(Bucket=bucket, Key="k/obj", Body=data)
    with FaultProxy(
        *_upstream(s3_env),
        seed=SEED,
        rates=Rates(**{kind: 1.0}),  # type: ignore[arg-type]
        stall_seconds=120,
        match=lambda method, _: method == "GET",
        limit=4,
    ) as proxy:
        use_s3_endpoint(proxy.url)
        use_network_timeout(TIMEOUT)
        assert read_url(f"s3://{bucket}/k/obj") == data
        download_url(f"s3://{bucket}/k/obj", tmp_path / "copy")
        assert (tmp_path / "copy").read_bytes() == data
    assert proxy.counters.faults[kind] == 4
    if kind == "stall":  # network_timeout ended each stall, not the proxy
        assert proxy.counters.gave_up == 4
    assert [p.name for p in tmp_path.iterdir()] == ["copy"]  # no temp file left beside it


def test_a_read_does_not_splice_an_object_that_changed(s3_env: S3Server) -> None:
    from pack.errors import StoreError

    bucket = new_bucket(s3_env.endpoint_url)
    client = direct_client(s3_env.endpoint_url)
    client.put_object(Bucket=bucket, Key="obj", Body=b"a" * 1_000_000)
    gets: list[str] = []

    def change_before_resume(method: str, target: str) -> bool:
        # The first GET is cut short; the object changes before the read resumes.
        if method != "GET":
            return False
        gets.append(target)
        if len(gets) == 2:
            client.put_object(Bucket=bucket, Key="obj", Body=b"b" * 1_000_000)
        return len(gets) == 1

    with FaultProxy(
        *_upstream(s3_env), seed=SEED, rates=Rates(truncate=1.0), match=change_before_resume
    ) as proxy:
        use_s3_endpoint(proxy.url)
        with pytest.raises(StoreError, match="changed while it was read"):
            read_url(f"s3://{bucket}/obj")


def test_publish_loop(s3_env: S3Server, tmp_path: Path) -> None:
    tally = publish_loop(
        s3_env.endpoint_url,
        tmp_path,
        count=int(os.environ.get("PACK_FAULTS_PUBLISHES", "40")),
        seed=SEED,
        rates=Rates.uniform(0.25),  # seed 1: every kind within the first 100 requests
        timeout=TIMEOUT,
    )
    _assert_sound(tally)


def test_run_round_trip_loop(s3_env: S3Server, tmp_path: Path) -> None:
    tally = roundtrip_loop(
        s3_env.endpoint_url,
        tmp_path,
        count=int(os.environ.get("PACK_FAULTS_RUNS", "6")),
        seed=SEED,
        rates=Rates.uniform(0.1),
        timeout=TIMEOUT,
    )
    _assert_sound(tally, kinds=())
    assert tally.injected > 0
