"""An in-memory OCI distribution registry as a Transport, for unit tests of the client.

It follows distribution's rules where the client depends on them: uploads with a
Location per step, PATCH with Content-Range checked against the upload's size (416
otherwise), PUT ?digest= verified, cross-repository mounts, upload status with Range.
Every request is recorded as (method, url, headers, body length).
"""

from __future__ import annotations

import hashlib
import itertools
import threading
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from pack.imagespec.registry import Body, Response


@dataclass
class Seen:
    method: str
    url: str
    headers: dict[str, str]
    size: int


@dataclass
class FakeRegistry:
    host: str = "127.0.0.1:5000"
    blobs: dict[str, dict[str, bytes]] = field(default_factory=dict)  # repo -> digest -> data
    manifests: dict[tuple[str, str], tuple[str, bytes]] = field(default_factory=dict)
    uploads: dict[str, bytearray] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    mount: bool = True
    # Called before answering each request; may raise (a dropped connection) or block.
    hook: Callable[[str, str], None] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    _ids: itertools.count = field(default_factory=itertools.count)

    def add_blob(self, repo: str, data: bytes) -> str:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        self.blobs.setdefault(repo, {})[digest] = data
        return digest

    def has_blob(self, repo: str, digest: str) -> bool:
        return digest in self.blobs.get(repo, {})

    def __call__(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: Body,
        *,
        stream: bool = False,
    ) -> Response:
        data = bytes(body) if isinstance(body, (bytes, bytearray)) else b""
        with self.lock:
            self.seen.append(Seen(method, url, dict(headers), len(data)))
        if self.hook is not None:
            self.hook(method, url)
        parts = urllib.parse.urlsplit(url)
        query = dict(urllib.parse.parse_qsl(parts.query))
        path = parts.path
        with self.lock:
            return self._answer(method, path, query, headers, data)

    def _answer(
        self, method: str, path: str, query: dict[str, str], headers: Mapping[str, str], data: bytes
    ) -> Response:
        if path.startswith("/upload/"):
            return self._upload(method, path, query, headers, data)
        if not path.startswith("/v2/"):
            return Response(404, {})
        rest = path[len("/v2/") :]
        if "/blobs/uploads/" in rest and method == "POST":
            repo = rest.split("/blobs/uploads/")[0]
            if (
                "mount" in query
                and self.mount
                and self.has_blob(query.get("from", ""), query["mount"])
            ):
                self.blobs.setdefault(repo, {})[query["mount"]] = self.blobs[query["from"]][
                    query["mount"]
                ]
                return Response(201, {"location": f"/v2/{repo}/blobs/{query['mount']}"})
            uid = f"{repo}/{next(self._ids)}"
            self.uploads[uid] = bytearray()
            return Response(202, {"location": f"/upload/{uid}", "range": "0-0"})
        if "/blobs/" in rest:
            repo, _, digest = rest.rpartition("/blobs/")
            blob = self.blobs.get(repo, {}).get(digest)
            if blob is None:
                return Response(404, {})
            if method == "HEAD":
                return Response(200, {"content-length": str(len(blob))})
            return Response(200, {"docker-content-digest": digest}, blob)
        if "/manifests/" in rest:
            repo, _, ref = rest.rpartition("/manifests/")
            if method == "PUT":
                digest = "sha256:" + hashlib.sha256(data).hexdigest()
                media = headers.get("Content-Type", "")
                self.manifests[(repo, ref)] = (media, data)
                self.manifests[(repo, digest)] = (media, data)
                return Response(201, {"docker-content-digest": digest})
            found = self.manifests.get((repo, ref))
            if found is None:
                return Response(404, {})
            media, body = found
            digest = "sha256:" + hashlib.sha256(body).hexdigest()
            hdrs = {"content-type": media, "docker-content-digest": digest}
            return Response(200, hdrs, b"" if method == "HEAD" else body)
        return Response(404, {})

    def _upload(
        self, method: str, path: str, query: dict[str, str], headers: Mapping[str, str], data: bytes
    ) -> Response:
        uid = path[len("/upload/") :]
        buf = self.uploads.get(uid)
        if buf is None:
            return Response(404, {})
        where = {"location": f"/upload/{uid}", "range": f"0-{max(len(buf) - 1, 0)}"}
        if method == "GET":
            return Response(204, where)
        if method == "DELETE":
            del self.uploads[uid]
            return Response(204, {})
        if method == "PATCH":
            start = int(headers["Content-Range"].split("-")[0])
            if start != len(buf):
                return Response(416, where)
            buf += data
            return Response(202, {"location": f"/upload/{uid}", "range": f"0-{len(buf) - 1}"})
        if method == "PUT":
            buf += data
            digest = "sha256:" + hashlib.sha256(bytes(buf)).hexdigest()
            if query.get("digest") != digest:
                return Response(400, {}, b'{"errors":[{"code":"DIGEST_INVALID"}]}')
            repo = uid.rsplit("/", 1)[0]
            self.blobs.setdefault(repo, {})[digest] = bytes(buf)
            del self.uploads[uid]
            return Response(201, {"docker-content-digest": digest})
        return Response(405, {})
