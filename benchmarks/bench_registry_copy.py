"""Registry-to-registry copy figures (scripts/test-infra up): pack's chunked, parallel copy
next to a bare sequential copy, in one run.

An image of LAYERS random layers of MIB MiB each is pushed once to the plain registry
(127.0.0.1:5000); each round copies it into a new repository of the basic-auth registry
(127.0.0.1:5001), so nothing can be mounted and every byte crosses. Three ways, interleaved:

- bare: the bare operation, one blob after another, each read whole into memory and sent
  in one monolithic PUT (http.client, one keep-alive connection per registry);
- pack jobs=1: RegistryClient.copy_image, blobs one at a time, 8 MiB chunks;
- pack jobs=4: the default, four blobs at a time.

Prints the median seconds of each, the ratios to bare, and the peak Python memory
(tracemalloc) of each way against the largest blob.

    python benchmarks/bench_registry_copy.py [--layers 6] [--mib 16] [--runs 3]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import http.client
import json
import os
import statistics
import sys
import tempfile
import time
import tracemalloc
import uuid
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pack.digest import Digest  # noqa: E402
from pack.imagespec.dockercreds import DockerCredentials  # noqa: E402
from pack.imagespec.registry import DOCKER_MANIFEST, Blob, Manifest, RegistryClient  # noqa: E402

SRC = os.environ.get("PACK_TEST_REGISTRY", "127.0.0.1:5000")
DST = os.environ.get("PACK_TEST_AUTH_REGISTRY", "127.0.0.1:5001")
USER = os.environ.get("PACK_TEST_AUTH_USER", "pack")
PASSWORD = os.environ.get("PACK_TEST_AUTH_PASSWORD", "pack-test-password")


@dataclass(frozen=True)
class Ref:
    registry: str
    repository: str
    tag: str | None = "v1"
    digest: str | None = None


def push_source(layers: int, mib: int, work: Path) -> tuple[Ref, list[tuple[str, int]]]:
    client = RegistryClient()
    repo = f"bench/copy-src-{uuid.uuid4().hex[:8]}"
    config = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {}}).encode()
    blobs = [Blob.from_bytes(config)]
    for i in range(layers):
        path = work / f"layer{i}"
        with open(path, "wb") as f:
            for _ in range(mib):
                f.write(os.urandom(1 << 20))
        blobs.append(Blob.from_path(path))
    for blob in blobs:
        client.upload_blob(SRC, repo, blob)
    media = "application/vnd.docker.image.rootfs.diff.tar.gzip"
    body = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": DOCKER_MANIFEST,
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "digest": str(blobs[0].digest),
                "size": blobs[0].size,
            },
            "layers": [
                {"mediaType": media, "digest": str(b.digest), "size": b.size} for b in blobs[1:]
            ],
        }
    ).encode()
    client.put_manifest(SRC, repo, "v1", Manifest(DOCKER_MANIFEST, body, Digest.of_bytes(body)))
    return Ref(SRC, repo), [(str(b.digest), b.size) for b in blobs]


def bare_copy(src: Ref, repo: str, blobs: list[tuple[str, int]]) -> None:
    """GET each blob whole, POST an upload, PUT it in one piece; then the manifest."""
    auth = {"Authorization": "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()}
    get = http.client.HTTPConnection(SRC, timeout=60)
    put = http.client.HTTPConnection(DST, timeout=60)
    for digest, _ in blobs:
        get.request("GET", f"/v2/{src.repository}/blobs/{digest}")
        data = get.getresponse().read()
        assert "sha256:" + hashlib.sha256(data).hexdigest() == digest
        put.request("POST", f"/v2/{repo}/blobs/uploads/", body=b"", headers=auth)
        resp = put.getresponse()
        resp.read()
        location = resp.getheader("Location") or ""
        path = location.split(DST, 1)[-1]
        sep = "&" if "?" in path else "?"
        put.request(
            "PUT",
            f"{path}{sep}digest={digest}",
            body=data,
            headers={**auth, "Content-Type": "application/octet-stream"},
        )
        resp = put.getresponse()
        resp.read()
        assert resp.status == 201, resp.status
    get.request("GET", f"/v2/{src.repository}/manifests/v1", headers={"Accept": DOCKER_MANIFEST})
    body = get.getresponse().read()
    put.request(
        "PUT",
        f"/v2/{repo}/manifests/v1",
        body=body,
        headers={**auth, "Content-Type": DOCKER_MANIFEST},
    )
    resp = put.getresponse()
    resp.read()
    assert resp.status == 201, resp.status


def measured(fn) -> tuple[float, int]:  # type: ignore[no-untyped-def]
    tracemalloc.start()
    start = time.perf_counter()
    try:
        fn()
        seconds = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return seconds, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=6)
    parser.add_argument("--mib", type=int, default=16)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pack-bench-copy-") as tmp:
        work = Path(tmp)
        src, blobs = push_source(args.layers, args.mib, work)
        config = work / "docker" / "config.json"
        config.parent.mkdir()
        auth = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        config.write_text(json.dumps({"auths": {DST: {"auth": auth}}}))
        creds = DockerCredentials(config)
        ways = {
            "bare (sequential, whole blobs)": lambda repo: bare_copy(src, repo, blobs),
            "pack jobs=1": lambda repo: RegistryClient(credentials=creds, jobs=1).copy_image(
                src, Ref(DST, repo)
            ),
            "pack jobs=4": lambda repo: RegistryClient(credentials=creds, jobs=4).copy_image(
                src, Ref(DST, repo)
            ),
        }
        times: dict[str, list[float]] = {name: [] for name in ways}
        peaks: dict[str, int] = dict.fromkeys(ways, 0)
        for _ in range(args.runs):
            for name, way in ways.items():
                repo = f"bench/copy-{uuid.uuid4().hex[:10]}"
                seconds, peak = measured(lambda way=way, repo=repo: way(repo))
                times[name].append(seconds)
                peaks[name] = max(peaks[name], peak)
    total = sum(size for _, size in blobs) / 2**20
    print(
        f"copy of {args.layers} x {args.mib} MiB layers ({total:.0f} MiB) {SRC} -> {DST}, "
        f"median of {args.runs}"
    )
    bare = statistics.median(times["bare (sequential, whole blobs)"])
    for name in ways:
        median = statistics.median(times[name])
        print(
            f"  {name:32s} {median:6.2f} s  x{median / bare:4.2f} of bare  "
            f"peak memory {peaks[name] / 2**20:5.1f} MiB (largest blob {args.mib} MiB)"
        )


if __name__ == "__main__":
    main()
