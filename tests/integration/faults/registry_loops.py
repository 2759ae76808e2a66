"""Loops through fault proxies in front of a real registry: image pushes (blobs uploaded
in chunks, then the manifest) and copies (streamed across two proxies standing for two
registries, or mounted within one), with pack's own registry client.

Afterwards the registry is read directly: every image a loop reported written is there
under its tag with the digest reported, and every manifest there points at blobs that
are all present and hash to their digests.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
import urllib.request
import uuid
from pathlib import Path

from pack.digest import Digest
from pack.imagespec.ref import ImageRef
from pack.imagespec.registry import OCI_MANIFEST, Blob, Manifest, RegistryClient

from .proxy import FaultProxy, Rates, stall_for
from .tally import Tally

CONFIG_TYPE = "application/vnd.oci.image.config.v1+json"
LAYER_TYPE = "application/vnd.oci.image.layer.v1.tar"


def _image(rng: random.Random) -> tuple[list[Blob], Manifest]:
    """A config and two layers of random bytes (one above a chunk, one small)."""
    config = Blob.from_bytes(
        json.dumps({"architecture": "amd64", "os": "linux", "salt": rng.getrandbits(64)}).encode()
    )
    layers = [
        Blob.from_bytes(rng.randbytes(rng.randrange(70_000, 300_000))),
        Blob.from_bytes(rng.randbytes(rng.randrange(1, 20_000))),
    ]
    body = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": CONFIG_TYPE, "digest": str(config.digest), "size": config.size},
        "layers": [
            {"mediaType": LAYER_TYPE, "digest": str(b.digest), "size": b.size} for b in layers
        ],
    }
    data = json.dumps(body, separators=(",", ":")).encode()
    return [config, *layers], Manifest(OCI_MANIFEST, data, Digest.of_bytes(data))


def registry_loop(
    registry: str,
    work: Path,
    *,
    count: int,
    seed: int,
    rates: Rates,
    timeout: float,
) -> Tally:
    """`count` operations in turn: push an image through proxy A; copy an image pushed
    earlier from A to B (two hosts: blobs stream through pack); copy within A (mounts)."""
    from pack.imagespec.registry import HttpTransport

    tally = Tally("registry push/copy")
    host, _, port = registry.rpartition(":")
    run = uuid.uuid4().hex[:10]
    rng = random.Random(seed)
    reported: dict[str, Digest | None] = {}  # repository -> digest reported (None: failed)
    pushed: list[str] = []
    started = time.monotonic()
    proxy_a = FaultProxy(
        host, int(port), seed=seed, rates=rates, stall_seconds=stall_for(timeout), flavor="registry"
    )
    proxy_b = FaultProxy(
        host,
        int(port),
        seed=seed + 1,
        rates=rates,
        stall_seconds=stall_for(timeout),
        flavor="registry",
    )
    with proxy_a, proxy_b:
        client = RegistryClient(transport=HttpTransport(timeout=timeout), chunk_size=64 * 1024)
        for i in range(count):
            kind = "push" if i % 3 == 0 or not pushed else ("copy" if i % 3 == 1 else "mount")
            repo = f"pack-faults/{run}/{kind}{i}"
            tally.operations += 1
            try:
                if kind == "push":
                    blobs, manifest = _image(rng)
                    for blob in blobs:
                        client.upload_blob(proxy_a.host, repo, blob)
                    digest = client.put_manifest(proxy_a.host, repo, "v1", manifest)
                    if digest != manifest.digest:
                        tally.corrupt.append(
                            f"{repo}: pushed {manifest.digest}, registry says {digest}"
                        )
                    pushed.append(repo)
                else:
                    src = rng.choice(pushed)
                    dst = ImageRef(proxy_b.host if kind == "copy" else proxy_a.host, repo, "v1")
                    digest = client.copy_image(ImageRef(proxy_a.host, src, "v1"), dst)
                reported[repo] = digest
                tally.succeeded += 1
            except Exception as exc:  # noqa: BLE001 - every kind is counted
                tally.error(exc)
                reported[repo] = None
        tally.add_proxy(proxy_a.counters)
        tally.add_proxy(proxy_b.counters)
    tally.seconds = time.monotonic() - started
    _verify(tally, registry, reported)
    return tally


def _get(url: str, accept: str | None = None) -> tuple[int, bytes, dict[str, str]]:
    request = urllib.request.Request(url, headers={"Accept": accept} if accept else {})
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:  # noqa: S310 - loopback
            return resp.status, resp.read(), {k.lower(): v for k, v in resp.headers.items()}
    except urllib.error.HTTPError as exc:
        return exc.code, b"", {}


def _verify(tally: Tally, registry: str, reported: dict[str, Digest | None]) -> None:
    """Directly, no proxy: every tag pushed or copied, its manifest and every blob."""
    base = f"http://{registry}/v2"
    for repo, digest in reported.items():
        status, data, headers = _get(f"{base}/{repo}/manifests/v1", OCI_MANIFEST)
        if status == 404:
            if digest is not None:
                tally.lost.append(f"{repo}:v1")
            continue
        actual = Digest.of_bytes(data)
        if digest is not None and actual != digest:
            tally.corrupt.append(f"{repo}:v1 is {actual}, reported {digest}")
            continue
        body = json.loads(data)
        for entry in [body["config"], *body["layers"]]:
            status, blob, _ = _get(f"{base}/{repo}/blobs/{entry['digest']}")
            if status != 200:
                tally.partial.append(f"{repo}:v1 names {entry['digest']}, which is missing")
            elif (
                "sha256:" + hashlib.sha256(blob).hexdigest() != entry["digest"]
                or len(blob) != entry["size"]
            ):
                tally.corrupt.append(f"{repo}: blob {entry['digest']}")
            else:
                tally.checked += 1
