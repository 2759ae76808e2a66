"""kill -9 of `pack package`, `pack run` and `pack build` at seeded random points, each
followed by the same command run to the end: it must succeed, and what is in the store or
registry must be whole and match its digest.

Only pack's own process is killed (SIGKILL, which it cannot see): what it started (a
task, a docker CLI) lives on as an orphan, as it would after a crash. The loop waits for
those to end before it checks, and counts what the kills left behind: temp files, temp
folders, run records still saying "running". A last run, once the last kill's leftovers
are old enough for pack's sweep (pack.scratch), shows what stays for good.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pack.scratch import MIN_AGE

from .tally import Tally


@dataclass
class KillCase:
    """One command to kill and run again. `prepare(i)` makes iteration i's inputs (new
    code, a new spec); `check(i, output)` looks at the run-to-the-end's JSON output; both
    add what they find to the tally."""

    name: str
    argv: list[str]
    cwd: Path
    env: dict[str, str]
    prepare: Callable[[int], None]
    check: Callable[[int, Any, Tally], None]
    # After the loop: the whole store or registry, and what the kills left behind.
    final: Callable[[Tally], None] | None = None


def kill_loop(case: KillCase, *, count: int, seed: int, marker: str) -> Tally:
    """`marker`: a string only this loop's processes have in their command line, working
    directory or environment (a work folder path): how orphans are told apart.

    A first run to the end measures how long the command takes; each kill then lands at a
    seeded uniform point in [0.05 d, 0.95 d], d the median of the runs to the end so far
    (the first and each one after a kill)."""
    from pack.packager.store import s3_endpoint, use_s3_endpoint

    before = s3_endpoint()
    use_s3_endpoint(case.env.get("PACK_S3_ENDPOINT_URL"))  # checks read the commands' store
    try:
        return _kill_loop(case, count, seed, marker)
    finally:
        use_s3_endpoint(before)


def _run(case: KillCase) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        case.argv, cwd=case.cwd, env=case.env, capture_output=True, text=True, timeout=600
    )


def _kill_loop(case: KillCase, count: int, seed: int, marker: str) -> Tally:
    tally = Tally(case.name)
    rng = random.Random(seed)
    started = time.monotonic()
    case.prepare(count)
    first = _run(case)
    durations = [time.monotonic() - started]
    if first.returncode != 0:
        tally.raw.append(f"the first run failed: {first.stderr[-1500:]}")
        return tally
    for i in range(count):
        case.prepare(i)
        proc = subprocess.Popen(
            case.argv,
            cwd=case.cwd,
            env=case.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            proc.wait(timeout=rng.uniform(0.05, 0.95) * statistics.median(durations))
            tally.finished_before_kill += 1
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            tally.killed += 1
        tally.orphans += wait_for_orphans(marker)
        tally.operations += 1
        t0 = time.monotonic()
        again = _run(case)
        durations.append(time.monotonic() - t0)
        if again.returncode != 0:
            tally.raw.append(
                f"iteration {i}: the run after the kill failed: {again.stderr[-1500:]}"
            )
            continue
        tally.succeeded += 1
        case.check(i, json.loads(again.stdout), tally)
    tally.orphans += wait_for_orphans(marker)
    # One more run once the last kill's leftovers are old enough to be swept (MIN_AGE):
    # what is left after it is what pack never cleans up.
    time.sleep(MIN_AGE + 1)
    case.prepare(count + 1)
    if (last := _run(case)).returncode != 0:
        tally.raw.append(f"the last run failed: {last.stderr[-1500:]}")
    if case.final is not None:
        case.final(tally)
    tally.temp_left += [str(p) for p in Path(case.env["TMPDIR"]).iterdir()]
    tally.seconds = time.monotonic() - started
    return tally


def _mentions(pid: int, marker: str) -> bool:
    base = Path(f"/proc/{pid}")
    try:
        if marker in os.readlink(base / "cwd"):
            return True
        for name in ("cmdline", "environ"):
            if marker.encode() in (base / name).read_bytes():
                return True
    except OSError:
        return False
    return False


def live_orphans(marker: str) -> list[int]:
    me = os.getpid()
    pids = [int(p) for p in os.listdir("/proc") if p.isdigit() and int(p) != me]
    return [pid for pid in pids if _mentions(pid, marker)]


def wait_for_orphans(marker: str, limit: float = 120.0) -> int:
    """Wait (up to `limit` s) until no process of this loop is left; how many there were."""
    seen = set(live_orphans(marker))
    deadline = time.monotonic() + limit
    while (left := live_orphans(marker)) and time.monotonic() < deadline:
        seen.update(left)
        time.sleep(0.2)
    return len(seen)


# ---------------------------------------------------------------- checks shared by cases


def verify_bundle(url: str, work: Path, tally: Tally) -> None:
    """Read the bundle at `url` (file:// or s3://) and extract it against its digest."""
    import shutil

    from pack.errors import ArchiveError, StoreError
    from pack.packager.extract import fetch_and_extract

    dest = work / f"verify-{hashlib.sha256(url.encode()).hexdigest()[:12]}"
    try:
        fetch_and_extract(url, dest)
        tally.checked += 1
    except StoreError as exc:
        tally.lost.append(f"{url}: {exc.message}")
    except ArchiveError as exc:
        tally.corrupt.append(f"{url}: {exc.message}")
    finally:
        shutil.rmtree(dest, ignore_errors=True)


def verify_store(store_url: str, work: Path, tally: Tally) -> None:
    """Every bundle in the store extracts against its digest; every run record parses,
    and says how its run ended once settled from what the run left in the store."""
    from pack.errors import PackError
    from pack.packager.store import open_store
    from pack.runs.record import RunRecord
    from pack.runs.runstore import RunStore
    from pack.runs.settle import settle

    store = open_store(store_url)
    for key in store.list_keys("bundles/"):
        verify_bundle(store.url(key), work, tally)
    runs = RunStore.open(store_url)
    for key in store.list_keys("runs/"):
        if not key.endswith("/record.json"):
            continue
        try:
            record = RunRecord.from_json(store.get_bytes(key), store.url(key))
        except (PackError, ValueError) as exc:
            tally.corrupt.append(f"{store.url(key)}: {exc}")
            continue
        tally.checked += 1
        if not settle(runs, record).done:
            tally.stale_records.append(f"{record.id} ({record.status})")


def temp_files(*folders: Path) -> list[str]:
    """Temp files the atomic writer and the archiver leave when killed mid-write."""
    found = []
    for folder in folders:
        if not folder.exists():
            continue
        for path in folder.rglob("*"):
            if path.is_file() and (path.name.endswith(".tmp") or path.name.startswith(".bundle-")):
                found.append(str(path))
    return found


def verify_image(registry: str, ref: str, tally: Tally) -> None:
    """`host/repo@sha256:…`: the manifest and every blob, read directly, match their digests."""
    name, _, digest = ref.partition("@")
    repo = name.split("/", 1)[1].rsplit(":", 1)[0]
    accept = (
        "application/vnd.docker.distribution.manifest.v2+json, "
        "application/vnd.oci.image.manifest.v1+json"
    )

    def get(path: str) -> bytes | None:
        request = urllib.request.Request(
            f"http://{registry}/v2/{repo}/{path}", headers={"Accept": accept}
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as resp:  # noqa: S310 - loopback
                return resp.read()  # type: ignore[no-any-return]
        except urllib.error.HTTPError:
            return None

    data = get(f"manifests/{digest}")
    if data is None:
        tally.lost.append(ref)
        return
    if "sha256:" + hashlib.sha256(data).hexdigest() != digest:
        tally.corrupt.append(ref)
        return
    body = json.loads(data)
    for entry in [body["config"], *body["layers"]]:
        blob = get(f"blobs/{entry['digest']}")
        if blob is None:
            tally.partial.append(f"{ref} names {entry['digest']}, which is missing")
        elif "sha256:" + hashlib.sha256(blob).hexdigest() != entry["digest"]:
            tally.corrupt.append(f"{ref}: blob {entry['digest']}")
        else:
            tally.checked += 1


def pack_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "pack", *args]


# ---------------------------------------------------------------- the three commands


def _local_folders(store_url: str, work: Path) -> list[Path]:
    """Where a killed pack can leave temp files: the cache, and a file:// store."""
    from urllib.parse import unquote, urlsplit

    folders = [work / "cache"]
    if store_url.startswith("file:"):
        folders.append(Path(unquote(urlsplit(store_url).path)))
    return folders


def pass_env(env: dict[str, str]) -> list[str]:
    """`--pass-env` for the S3 credentials in `env`: a task sees nothing else of ours."""
    names = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")
    return [arg for name in names if name in env for arg in ("--pass-env", name)]


def _env(work: Path, extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PACK_")}
    (work / "tmp").mkdir(parents=True, exist_ok=True)
    env.update(PACK_CACHE_DIR=str(work / "cache"), TMPDIR=str(work / "tmp"), **extra)
    return env


def package_case(work: Path, store_url: str, *, seed: int, extra_env: dict[str, str]) -> KillCase:
    """`pack package` of a tree that changes every time (a 12 MiB file of random bytes):
    each kill lands while the bundle is listed, hashed, archived or uploaded."""
    src = work / "src"
    src.mkdir(parents=True)
    (src / "pyproject.toml").write_text("")
    (src / "wf.py").write_text("X = 1\n")
    rng = random.Random(seed)

    def prepare(i: int) -> None:
        (src / "data.bin").write_bytes(rng.randbytes(12 << 20))
        (src / "wf.py").write_text(f"X = {i}\n")

    def check(i: int, out: Any, tally: Tally) -> None:
        verify_bundle(out["url"], work, tally)

    def final(tally: Tally) -> None:
        verify_store(store_url, work, tally)
        tally.temp_left += temp_files(*_local_folders(store_url, work))

    return KillCase(
        f"kill pack package ({store_url.split(':')[0]})",
        pack_argv("package", str(src), "--copy", "all", "--store", store_url, "-o", "json"),
        work,
        _env(work, extra_env),
        prepare,
        check,
        final,
    )


RUN_TASK = """\
import hashlib
import time
from pathlib import Path

from pack import File, task


@task
def digest(text: str, blob: File) -> str:
    time.sleep(0.5)
    return hashlib.sha256(text.encode() + Path(blob).read_bytes()).hexdigest()
"""


def run_case(work: Path, store_url: str, *, seed: int, extra_env: dict[str, str]) -> KillCase:
    """`pack run` (local backend) of a task reading a File: kills land while the bundle,
    the inputs or the File are uploaded, while the task runs, or while outputs are read."""
    project = work / "project"
    project.mkdir(parents=True)
    (project / "pyproject.toml").write_text("")
    (project / "wf.py").write_text(RUN_TASK)
    rng = random.Random(seed)
    expected: dict[int, str] = {}
    blob = work / "in.bin"

    def prepare(i: int) -> None:
        data = rng.randbytes(rng.randrange(1, 4 << 20))
        blob.write_bytes(data)
        (project / "data.txt").write_text(f"{i}\n")  # a new bundle every time
        expected[i] = hashlib.sha256(b"kill" + data).hexdigest()

    def check(i: int, out: Any, tally: Tally) -> None:
        got = out["outputs"]["o0"]
        if got != expected[i]:
            tally.corrupt.append(f"run {out['execution_id']}: output {got}")
        else:
            tally.checked += 1
        if out.get("bundle"):
            verify_bundle(out["bundle"]["url"], work, tally)

    argv = pack_argv(
        "run", "-o", "json", "--store", store_url, "--copy", "all", *pass_env(extra_env)
    )
    argv += ["wf.py", "digest", "--text", "kill", "--blob", str(blob)]

    def final(tally: Tally) -> None:
        verify_store(store_url, work, tally)
        tally.temp_left += temp_files(*_local_folders(store_url, work))

    return KillCase(
        f"kill pack run ({store_url.split(':')[0]})",
        argv,
        project,
        _env(work, extra_env),
        prepare,
        check,
        final,
    )


BUILD_SPEC = """\
from pack import ImageSpec

app = ImageSpec(name={repo!r}, registry={registry!r}, base_image={base!r}, runtime=False,
                commands=["echo {n} > /marker", "head -c 2000000 /dev/urandom > /noise"])
"""


def build_case(
    work: Path, registry: str, base_image: str, *, extra_env: dict[str, str]
) -> KillCase:
    """`pack build` (Docker builder) of a spec that changes every time: kills land while the
    spec is hashed, the image built or pushed, or the record written."""
    project = work / "project"
    project.mkdir(parents=True)
    unique = uuid.uuid4().hex[:12]  # a new image every time: each run builds and pushes
    repo = f"pack-faults/kill-{unique}"

    def prepare(i: int) -> None:
        (project / "spec.py").write_text(
            BUILD_SPEC.format(repo=repo, registry=registry, base=base_image, n=f"{unique}-{i}")
        )

    def check(i: int, out: Any, tally: Tally) -> None:
        [image] = out
        if image["status"] not in ("built", "reused") or not image["digest"]:
            tally.raw.append(f"build {i}: {image}")
            return
        verify_image(registry, image["digest"], tally)

    return KillCase(
        "kill pack build (docker)",
        pack_argv("build", "-o", "json", "spec.py"),
        project,
        _env(work, extra_env),
        prepare,
        check,
    )
