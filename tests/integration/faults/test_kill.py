"""kill -9 of pack package / pack run / pack build at seeded random points: the next run of
the same command succeeds and nothing in the store or registry is partial or corrupt."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ..conftest import S3Server
from .kill_loops import build_case, kill_loop, package_case, run_case, wait_for_orphans
from .s3_loops import new_bucket
from .tally import Tally

pytestmark = pytest.mark.integration

SEED = int(os.environ.get("PACK_FAULTS_SEED", "1"))
KILLS = int(os.environ.get("PACK_FAULTS_KILLS", "3"))


def _assert_recovered(tally: Tally) -> None:
    print("\n" + tally.kill_row())
    assert tally.problems() == []
    assert tally.succeeded == tally.operations == KILLS
    assert tally.killed > 0 and tally.checked > 0
    assert tally.stale_records == []
    assert tally.temp_left == []  # the last run swept what the kills left (pack.scratch)


def _s3_env(s3: S3Server) -> dict[str, str]:
    return {
        "AWS_ACCESS_KEY_ID": s3.access_key,
        "AWS_SECRET_ACCESS_KEY": s3.secret_key,
        "AWS_DEFAULT_REGION": s3.region,
        "PACK_S3_ENDPOINT_URL": s3.endpoint_url,
    }


def test_kill_package_file_store(tmp_path: Path) -> None:
    store = (tmp_path / "store").as_uri()
    case = package_case(tmp_path, store, seed=SEED, extra_env={})
    _assert_recovered(kill_loop(case, count=KILLS, seed=SEED, marker=str(tmp_path)))


def test_kill_package_s3_store(tmp_path: Path, s3_server: S3Server) -> None:
    store = f"s3://{new_bucket_for(s3_server)}/code"
    case = package_case(tmp_path, store, seed=SEED, extra_env=_s3_env(s3_server))
    _assert_recovered(kill_loop(case, count=KILLS, seed=SEED, marker=str(tmp_path)))


def test_kill_run(tmp_path: Path, s3_server: S3Server) -> None:
    store = f"s3://{new_bucket_for(s3_server)}/runs"
    case = run_case(tmp_path, store, seed=SEED, extra_env=_s3_env(s3_server))
    _assert_recovered(kill_loop(case, count=KILLS, seed=SEED, marker=str(tmp_path)))


def test_kill_build(tmp_path: Path, registry, base_image: str, docker_engine) -> None:  # type: ignore[no-untyped-def]
    env = {
        "PACK_DOCKER_HOST": docker_engine.host,
        "PACK_DOCKER_CLI": docker_engine.cli,
        "DOCKER_CONFIG": str(tmp_path / "no-docker-config"),
    }
    case = build_case(tmp_path, registry.host, base_image, extra_env=env)
    _assert_recovered(kill_loop(case, count=KILLS, seed=SEED, marker=str(tmp_path)))


def new_bucket_for(s3: S3Server) -> str:
    os.environ.setdefault("AWS_ACCESS_KEY_ID", s3.access_key)
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", s3.secret_key)
    os.environ.setdefault("AWS_DEFAULT_REGION", s3.region)
    return new_bucket(s3.endpoint_url)


def test_kill_9_during_a_build_leaves_a_context_the_next_build_sweeps(
    tmp_path: Path, registry, base_image: str, docker_engine
) -> None:  # type: ignore[no-untyped-def]
    import signal
    import subprocess
    import time

    from pack.scratch import MIN_AGE

    env = {
        "PACK_DOCKER_HOST": docker_engine.host,
        "PACK_DOCKER_CLI": docker_engine.cli,
        "DOCKER_CONFIG": str(tmp_path / "no-docker-config"),
    }
    case = build_case(tmp_path, registry.host, base_image, extra_env=env)
    tmp = Path(case.env["TMPDIR"])
    case.prepare(0)
    proc = subprocess.Popen(case.argv, cwd=case.cwd, env=case.env, start_new_session=True)
    deadline = time.monotonic() + 120
    while not any(p.name.startswith("pack-build-") for p in tmp.iterdir()):
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)  # the docker CLI it started goes on as an orphan
    proc.wait()
    wait_for_orphans(str(tmp_path))  # it writes into the folder until it ends
    left = [p for p in tmp.iterdir() if p.name.startswith("pack-build-")]
    assert left
    old = time.time() - MIN_AGE - 5
    for path in left:
        os.utime(path, (old, old))
    case.prepare(1)
    again = subprocess.run(case.argv, cwd=case.cwd, env=case.env, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    assert not [p for p in left if p.exists()]
