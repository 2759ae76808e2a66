"""A small OCI distribution client: does this image exist, what is its digest, push or copy it.

Built on the standard library's http.client on purpose: it is the one choke point
for registry HTTP, it costs nothing to import on the cached `pack build` path
(requests alone is ~50 ms), and it does exactly what pack needs: HEAD with the
right Accept header, the bearer handshake from `WWW-Authenticate` with Docker
config credentials (including credential helpers), Basic auth, retries, one blob
upload path (`RegistryClient.upload_blob`) and manifest/blob copies. An existence
check answers yes or no, never "maybe".

Trust rules, as Docker's distribution client has them:
- credentials (Basic, or a bearer token) go only to the host they were issued for; a
  `Location` or redirect to another host gets the request without them;
- plain http only to loopback hosts and the registries listed as insecure: an upload
  `Location`, a blob redirect or a token realm that would downgrade is refused;
- every digest a registry hands over (a manifest's children, configs and layers) is
  parsed before it goes into a request path, and every manifest or blob fetched is
  checked against the digest asked for.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import io
import ipaddress
import json
import re
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Literal, Protocol

from pack.digest import Digest
from pack.errors import RegistryError
from pack.imagespec.dockercreds import Credentials, DockerCredentials, normalize_host

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
MANIFEST_TYPES = (OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST)
INDEX_TYPES = (OCI_INDEX, DOCKER_LIST)
ACCEPT = ", ".join(MANIFEST_TYPES)
DOCKER_HUB_API = "registry-1.docker.io"
_USER_AGENT = "pack-registry/1"
# One upload holds at most one chunk in memory. 8 MiB is above the 5 MiB minimum some
# registries (ECR) set for every chunk but the last; a registry may ask for more
# (OCI-Chunk-Min-Length), never less.
CHUNK_SIZE = 8 << 20
# Blobs copied at once; each holds at most one chunk.
COPY_JOBS = 4
# Seconds to connect and for each read (Config.network_timeout overrides it).
DEFAULT_TIMEOUT = 30.0

BlobStatus = Literal["present", "mounted", "uploaded"]


class RefLike(Protocol):
    """What the client needs from an ImageRef."""

    @property
    def registry(self) -> str | None: ...
    @property
    def repository(self) -> str: ...
    @property
    def tag(self) -> str | None: ...
    @property
    def digest(self) -> Any: ...


@dataclass(frozen=True)
class Response:
    status: int
    headers: Mapping[str, str]  # lower-case names
    body: bytes = b""
    # A 200 asked for with stream=True: the body, unread; the caller reads and closes it.
    stream: BinaryIO | None = field(default=None, repr=False, compare=False)

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass(frozen=True)
class Manifest:
    media_type: str
    data: bytes = field(repr=False)
    digest: Digest

    def json(self) -> dict[str, Any]:
        value = json.loads(self.data)
        if not isinstance(value, dict):
            raise RegistryError(f"manifest {self.digest} is not a JSON object")
        return value


@dataclass(frozen=True)
class Blob:
    """A blob to upload: digest and size known up front, and how to read it.

    `open()` gives a fresh binary stream of exactly `size` bytes each time it is called
    (an upload that fails midway starts again from a new stream). The bytes are checked
    against `digest` and `size` as they stream, before the upload is committed.
    """

    digest: Digest
    size: int
    open: Callable[[], AbstractContextManager[BinaryIO]] = field(repr=False, compare=False)

    @classmethod
    def from_bytes(cls, data: bytes) -> Blob:
        return cls(Digest.of_bytes(data), len(data), lambda: io.BytesIO(data))

    @classmethod
    def from_path(cls, path: Path, digest: Digest | None = None) -> Blob:
        """A file on disk; pass `digest` when known to save reading the file twice."""
        return cls(
            digest if digest is not None else Digest.of_file(path),
            path.stat().st_size,
            lambda: open(path, "rb"),
        )


Body = bytes | bytearray | Path | None
# (method, url, headers, body, *, stream=False) -> Response; raises OSError/HTTPException on
# connection errors. With stream=True a 200's body is left unread in Response.stream.
Transport = Callable[..., Response]


# ---------------------------------------------------------------- pure helpers


def api_host(registry: str | None) -> str:
    """The host:port to talk to; None and Docker Hub spellings mean Docker Hub."""
    if registry is None or normalize_host(registry) == "docker.io":
        return DOCKER_HUB_API
    return registry


def api_repository(registry: str | None, repository: str) -> str:
    if api_host(registry) == DOCKER_HUB_API and "/" not in repository:
        return f"library/{repository}"
    return repository


def reference_of(ref: RefLike) -> str:
    """The manifest reference: the digest when pinned, else the tag, else `latest`."""
    if ref.digest:
        return str(ref.digest)
    return ref.tag or "latest"


def is_insecure(host: str, insecure: Iterable[str] = ()) -> bool:
    """Plain HTTP for loopback registries and the ones the user lists as insecure."""
    if host in insecure:
        return True
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    if host.startswith("["):
        name = host[1:].split("]", 1)[0]
    if name in insecure or name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


_CHALLENGE_PARAM = re.compile(r'([A-Za-z_]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """`Bearer realm="…",service="…",scope="…"` -> ("bearer", {realm, service, scope})."""
    scheme, _, rest = header.strip().partition(" ")
    params = {
        m.group(1).lower(): m.group(2) if m.group(2) is not None else m.group(3)
        for m in _CHALLENGE_PARAM.finditer(rest)
    }
    return scheme.lower(), params


def says_not_found(body: bytes) -> bool:
    """Harbor/ECR answer a missing repository with a 5xx whose body says so."""
    text = body[:4096].decode("utf-8", "replace").lower()
    return "not found" in text or "not_found" in text or "notfound" in text


def platform_of(entry: Mapping[str, Any]) -> str | None:
    plat = entry.get("platform")
    if not isinstance(plat, dict):
        return None
    parts = [str(plat.get("os", "")), str(plat.get("architecture", ""))]
    if plat.get("variant"):
        parts.append(str(plat["variant"]))
    return "/".join(parts)


def index_has_platforms(index: Mapping[str, Any], platforms: Sequence[str]) -> bool:
    """Every requested `os/arch[/variant]` is in the index (`linux/arm64` matches `…/v8`)."""
    present = {p for p in (platform_of(m) for m in index.get("manifests", [])) if p}
    for wanted in platforms:
        if wanted in present:
            continue
        if wanted.count("/") == 1 and any(p.startswith(wanted + "/") for p in present):
            continue
        return False
    return True


@dataclass(frozen=True)
class Descriptor:
    """A manifest's pointer to a blob or child manifest, parsed before it is used."""

    digest: Digest
    size: int


def parse_descriptor(entry: Any, where: str) -> Descriptor:
    """`{"digest": "sha256:…", "size": N}` -> Descriptor; anything else is a RegistryError.

    The digest goes into request paths: a value like `../../x/manifests/latest` must never
    get that far.
    """
    if not isinstance(entry, Mapping):
        raise RegistryError(f"{where}: a descriptor is not a JSON object")
    raw, size = entry.get("digest"), entry.get("size")
    try:
        digest = Digest.parse(raw) if isinstance(raw, str) else None
    except ValueError:
        digest = None
    if digest is None:
        raise RegistryError(f"{where}: invalid digest {raw!r} (expected sha256:<64 hex>)")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise RegistryError(f"{where}: descriptor {digest} has an invalid size {size!r}")
    return Descriptor(digest, size)


def manifest_children(manifest: Manifest, where: str) -> tuple[list[Descriptor], bool]:
    """(descriptors, is_index): child manifests of an index, else config + layers."""
    body = manifest.json()
    if manifest.media_type in INDEX_TYPES or "manifests" in body:
        children = body.get("manifests", [])
        if not isinstance(children, list):
            raise RegistryError(f"{where}: `manifests` is not a list")
        return [parse_descriptor(c, where) for c in children], True
    entries: list[Any] = []
    if "config" in body:
        entries.append(body["config"])
    layers = body.get("layers", [])
    if not isinstance(layers, list):
        raise RegistryError(f"{where}: `layers` is not a list")
    entries += layers
    return [parse_descriptor(e, where) for e in entries], False


def upload_range(header: str | None) -> int | None:
    """`Range: 0-N` of an upload status -> bytes the registry holds (N+1); None if absent.

    distribution answers `0-0` for an empty upload as well as for one byte: read as 0,
    so the worst case is re-sending one byte, which the registry refuses (416) and
    the caller asks again.
    """
    if not header:
        return None
    m = re.fullmatch(r"(?:bytes=)?0-(\d+)", header.strip())
    if m is None:
        return None
    end = int(m.group(1))
    return 0 if end == 0 else end + 1


def _describe(status: int) -> str:
    return {401: "401 Unauthorized", 403: "403 Forbidden", 404: "404 Not Found"}.get(
        status, str(status)
    )


def _read_full(stream: BinaryIO, n: int) -> bytearray:
    """Up to n bytes, fewer only at the end of the stream (sockets return short reads).

    Read into one buffer (readinto where the stream has it): a chunk is held once, not
    once in pieces and again joined.
    """
    buf = bytearray(n)
    got = 0
    with memoryview(buf) as view:
        readinto = getattr(stream, "readinto", None)
        while got < n:
            if readinto is not None:
                k = readinto(view[got:])
            else:
                data = stream.read(n - got)
                k = len(data)
                view[got : got + k] = data
            if not k:
                break
            got += k
    del buf[got:]
    return buf


# ---------------------------------------------------------------- transport


class _Streamed(io.RawIOBase):
    """A response body read on demand; closing it closes its own connection.

    http.client's read(n) and readinto() return nothing when the connection closes
    before Content-Length bytes came (only read() of everything raises): that is an
    IncompleteRead here, never the body's end.
    """

    def __init__(self, conn: http.client.HTTPConnection, resp: http.client.HTTPResponse) -> None:
        super().__init__()
        self._conn, self._resp = conn, resp

    def readable(self) -> bool:
        return True

    def _ended_short(self) -> None:
        if self._resp.length:  # bytes still owed by Content-Length
            raise http.client.IncompleteRead(b"", self._resp.length)

    def read(self, size: int = -1) -> bytes:
        data = self._resp.read(None if size < 0 else size)
        if not data and size != 0:
            self._ended_short()
        return data

    def readinto(self, buffer: Any) -> int:
        n = self._resp.readinto(buffer)
        if n == 0 and len(buffer):
            self._ended_short()
        return n

    def close(self) -> None:
        if not self.closed:
            self._resp.close()
            self._conn.close()
        super().close()


class HttpTransport:
    """Keep-alive http.client connections, one per (thread, scheme, host)."""

    def __init__(self, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.timeout = timeout
        self._local = threading.local()

    def _new(self, scheme: str, netloc: str) -> http.client.HTTPConnection:
        cls = http.client.HTTPSConnection if scheme == "https" else http.client.HTTPConnection
        return cls(netloc, timeout=self.timeout)

    def _connection(self, scheme: str, netloc: str) -> http.client.HTTPConnection:
        conns: dict[tuple[str, str], http.client.HTTPConnection] = self._local.__dict__.setdefault(
            "conns", {}
        )
        conn = conns.get((scheme, netloc))
        if conn is None:
            conn = self._new(scheme, netloc)
            conns[(scheme, netloc)] = conn
        return conn

    def _drop(self, scheme: str, netloc: str) -> None:
        conns = self._local.__dict__.get("conns", {})
        conn = conns.pop((scheme, netloc), None)
        if conn is not None:
            conn.close()

    def __call__(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: Body,
        *,
        stream: bool = False,
    ) -> Response:
        parts = urllib.parse.urlsplit(url)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        # A streamed body keeps its connection busy until read: it gets one of its own,
        # so the same thread can upload to that host meanwhile.
        conn = self._new(parts.scheme, parts.netloc) if stream else None
        pooled = conn is None
        if conn is None:
            conn = self._connection(parts.scheme, parts.netloc)
        hdrs = {"User-Agent": _USER_AGENT, **headers}
        try:
            if isinstance(body, Path):
                with open(body, "rb") as f:
                    hdrs["Content-Length"] = str(body.stat().st_size)
                    conn.request(method, target, body=f, headers=hdrs)
                    resp = conn.getresponse()
            else:
                conn.request(method, target, body=body, headers=hdrs)
                resp = conn.getresponse()
            headers_out = {k.lower(): v for k, v in resp.getheaders()}
            if stream and resp.status == 200:
                return Response(
                    resp.status, headers_out, b"", io.BufferedReader(_Streamed(conn, resp))
                )
            data = resp.read()
        except (OSError, http.client.HTTPException):
            if pooled:
                self._drop(parts.scheme, parts.netloc)
            else:
                conn.close()
            raise
        if not pooled:
            conn.close()
        elif resp.will_close:
            self._drop(parts.scheme, parts.netloc)
        return Response(resp.status, headers_out, data)


# ---------------------------------------------------------------- client


class _SourceFailed(Exception):
    """Reading the blob being uploaded failed (its connection broke): start over."""


class _UploadLost(Exception):
    """The registry no longer knows the upload session: start over.

    distribution keeps the offset in the Location's `_state`; once a chunk reached it in
    part (the connection broke mid-PATCH) or arrived while its answer was lost (a
    timeout, then the same PATCH again), the bytes on disk and that offset disagree and
    every later call on the session answers 404 BLOB_UPLOAD_INVALID. Only a new upload
    goes on from there.
    """


class RegistryClient:
    """OCI distribution API client. Thread-safe; reuse one per command."""

    def __init__(
        self,
        *,
        credentials: DockerCredentials | None = None,
        insecure: Iterable[str] = (),
        transport: Transport | None = None,
        retries: int = 3,
        backoff: float = 0.25,
        sleep: Callable[[float], None] = time.sleep,
        chunk_size: int = CHUNK_SIZE,
        jobs: int = COPY_JOBS,
    ) -> None:
        self.credentials = credentials
        self.insecure = tuple(insecure)
        self.transport: Transport = transport or HttpTransport()
        self.retries = retries
        self.backoff = backoff
        self.sleep = sleep
        self.chunk_size = chunk_size
        self.jobs = jobs
        self._lock = threading.Lock()
        # (host, scope) -> Authorization value; host -> auth scheme once a challenge was seen.
        # Keyed by the host a request actually goes to: never sent anywhere else.
        self._auth: dict[tuple[str, str], str] = {}
        self._schemes: dict[str, str] = {}

    # ---- plumbing

    def _base(self, host: str) -> str:
        return f"{'http' if is_insecure(host, self.insecure) else 'https'}://{host}"

    def _target(self, host: str, url: str, what: str, *, allow_http: bool = False) -> str:
        """The host `url` goes to, once it passes the scheme rules; else RegistryError."""
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc or "@" in parts.netloc:
            raise RegistryError(f"registry {host}: refusing {what} {_redact(url)!r}")
        if (
            parts.scheme == "http"
            and not allow_http
            and not is_insecure(parts.netloc, self.insecure)
        ):
            raise RegistryError(
                f"registry {host}: refusing {what} over plain http to {parts.netloc} "
                "(only loopback hosts and insecure_registries may use http)"
            )
        return parts.netloc

    def _send(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: Body,
        host: str,
        *,
        missing_on_5xx: bool = False,
        stream: bool = False,
    ) -> Response:
        """One request with retries on connection errors and 5xx; never returns a 5xx."""
        last = ""
        for attempt in range(self.retries + 1):
            if attempt:
                self.sleep(self.backoff * (2 ** (attempt - 1)))
            try:
                if stream:
                    resp = self.transport(method, url, headers, body, stream=True)
                else:
                    resp = self.transport(method, url, headers, body)
            except (OSError, http.client.HTTPException) as exc:
                last = f"cannot connect ({type(exc).__name__}: {exc})"
                continue
            if resp.status < 500:
                return resp
            last = f"answered {resp.status}"
            if missing_on_5xx:
                # A HEAD has no body: read it with a GET to see whether it says "not found".
                probe = resp
                if method == "HEAD":
                    try:
                        # Streamed: a 200 here is a whole blob or manifest, never read.
                        probe = self.transport("GET", url, headers, None, stream=True)
                    except (OSError, http.client.HTTPException) as exc:
                        last = f"cannot connect ({type(exc).__name__}: {exc})"
                        continue
                    if probe.stream is not None:
                        probe.stream.close()
                    if probe.status < 500:
                        return Response(probe.status, probe.headers, b"")
                if says_not_found(probe.body):
                    return Response(404, probe.headers, b"")
        raise RegistryError(
            f"registry {host}: {method} {urllib.parse.urlsplit(url).path} {last} "
            f"after {self.retries + 1} attempts"
        )

    def _token(self, host: str, params: Mapping[str, str], scope: str) -> str:
        realm = params.get("realm")
        if not realm:
            raise RegistryError(f"registry {host}: bearer challenge without a realm")
        # The registry's credentials go to its realm: in clear text only where the registry
        # itself is spoken to in clear text (loopback, insecure_registries).
        realm_host = self._target(
            host, realm, "the token realm", allow_http=is_insecure(host, self.insecure)
        )
        creds = self._creds(host)
        query: list[tuple[str, str]] = []
        if params.get("service"):
            query.append(("service", params["service"]))
        for s in scope.split(" "):
            if s:
                query.append(("scope", s))
        if creds is not None and creds.identity_token:
            # OAuth2 refresh-token grant, as docker does for identity tokens.
            form = {k: v for k, v in query if k == "service"}
            form.update(
                grant_type="refresh_token",
                refresh_token=creds.identity_token,
                client_id="pack",
                scope=" ".join(s for _, s in query if _ == "scope"),
            )
            resp = self._send(
                "POST",
                realm,
                {"Content-Type": "application/x-www-form-urlencoded"},
                urllib.parse.urlencode(form).encode(),
                realm_host,
            )
        else:
            headers = {}
            if creds is not None:
                headers["Authorization"] = _basic(creds)
            url = realm + ("&" if "?" in realm else "?") + urllib.parse.urlencode(query)
            resp = self._send("GET", url, headers, None, realm_host)
        if resp.status != 200:
            who = "with" if creds is not None else "without"
            raise RegistryError(
                f"registry {host}: token service {realm_host} answered {_describe(resp.status)} "
                f"({who} credentials from the Docker config)"
            )
        try:
            answer = json.loads(resp.body)
            token = answer.get("token") or answer.get("access_token")
        except (ValueError, AttributeError):
            token = None
        if not isinstance(token, str) or not token:
            raise RegistryError(f"registry {host}: token service {realm_host} gave no token")
        return f"Bearer {token}"

    def _creds(self, host: str) -> Credentials | None:
        return self.credentials.get(host) if self.credentials is not None else None

    def _authorize(self, host: str, challenge: str, scope: str) -> str:
        scheme, params = parse_challenge(challenge)
        if scheme == "bearer":
            value = self._token(host, params, scope)
        elif scheme == "basic":
            creds = self._creds(host)
            if creds is None:
                where = self.credentials.path if self.credentials else "the Docker config"
                raise RegistryError(
                    f"registry {host}: 401 Unauthorized and no credentials for {host} in {where}",
                    hint=f"run `docker login {host}` or add it to the Docker config's auths",
                )
            value = _basic(creds)
        else:
            raise RegistryError(f"registry {host}: unsupported auth scheme {scheme!r}")
        with self._lock:
            self._auth[(host, scope)] = value
            self._schemes[host] = scheme
        return value

    def request(
        self,
        method: str,
        host: str,
        path: str,
        *,
        scope: str,
        headers: Mapping[str, str] | None = None,
        body: Body = None,
        ok: Iterable[int] = (200,),
        missing_on_5xx: bool = False,
        stream: bool = False,
    ) -> Response:
        """One API call with auth and retries; a status outside `ok` raises RegistryError.

        `path` is a path on `host`, or a full URL a registry handed out (an upload
        Location). Authorization is looked up for the host the request goes to, so a
        URL on another host gets that host's credentials (usually none), never `host`'s;
        a URL that would downgrade to plain http is refused.
        """
        url = path if "://" in path else self._base(host) + path
        target = self._target(host, url, "to send a request to")
        hdrs = dict(headers or {})
        with self._lock:
            auth = self._auth.get((target, scope))
            if auth is None and self._schemes.get(target) == "basic":
                creds = self._creds(target)
                auth = _basic(creds) if creds else None
        if auth:
            hdrs["Authorization"] = auth
        resp = self._send(
            method, url, hdrs, body, host, missing_on_5xx=missing_on_5xx, stream=stream
        )
        if resp.status == 401 and resp.header("www-authenticate"):
            hdrs["Authorization"] = self._authorize(
                target, resp.header("www-authenticate") or "", scope
            )
            resp = self._send(
                method, url, hdrs, body, host, missing_on_5xx=missing_on_5xx, stream=stream
            )
        allowed = set(ok)
        if resp.status not in allowed:
            detail = ""
            if resp.status in (401, 403):
                who = "with" if self._creds(target) is not None else "without"
                detail = f" ({who} credentials from the Docker config)"
            raise RegistryError(
                f"registry {host}: {method} {urllib.parse.urlsplit(url).path} answered "
                f"{_describe(resp.status)}{detail}"
            )
        return resp

    # ---- manifests

    def _manifest_call(self, method: str, ref: RefLike, ok: Iterable[int]) -> Response:
        host = api_host(ref.registry)
        repo = api_repository(ref.registry, ref.repository)
        return self.request(
            method,
            host,
            f"/v2/{repo}/manifests/{_reference(reference_of(ref), host)}",
            scope=f"repository:{repo}:pull",
            headers={"Accept": ACCEPT},
            ok=ok,
            missing_on_5xx=True,
        )

    def exists(self, ref: RefLike, platforms: Sequence[str] = ()) -> bool:
        """True when the manifest is there (and, for an index, has every platform asked for).

        A single-platform manifest satisfies one requested platform (pack's tags include the
        platform in their digest); several platforms need an index.
        """
        return self._probe(ref, platforms)[0]

    def lookup(self, ref: RefLike, platforms: Sequence[str] = ()) -> Digest | None:
        """The manifest digest when the image exists (as `exists` means it), else None.

        One HEAD in the common case: existence and digest come from the same answer.
        """
        found, digest = self._probe(ref, platforms)
        if found and digest is None:
            manifest = self.get_manifest(ref)
            return manifest.digest if manifest else None
        return digest if found else None

    def _probe(self, ref: RefLike, platforms: Sequence[str]) -> tuple[bool, Digest | None]:
        resp = self._manifest_call("HEAD", ref, ok=(200, 404))
        if resp.status == 404:
            return False, None
        media = (resp.header("content-type") or "").split(";")[0].strip()
        if platforms and (media in INDEX_TYPES or len(platforms) > 1):
            manifest = self.get_manifest(ref)
            if manifest is None or manifest.media_type not in INDEX_TYPES:
                return False, None
            return index_has_platforms(manifest.json(), platforms), manifest.digest
        return True, _header_digest(resp, api_host(ref.registry))

    def manifest_digest(self, ref: RefLike) -> Digest | None:
        """The digest the registry serves for `ref` (Docker-Content-Digest), None if missing."""
        resp = self._manifest_call("HEAD", ref, ok=(200, 404))
        if resp.status == 404:
            return None
        digest = _header_digest(resp, api_host(ref.registry))
        if digest is not None:
            return digest
        manifest = self.get_manifest(ref)
        return manifest.digest if manifest else None

    def get_manifest(self, ref: RefLike) -> Manifest | None:
        """The manifest, checked: a pinned ref's body must hash to its digest, a tagged
        ref's body to the Docker-Content-Digest the registry sent with it."""
        host = api_host(ref.registry)
        resp = self._manifest_call("GET", ref, ok=(200, 404))
        if resp.status == 404:
            return None
        actual = Digest.of_bytes(resp.body)
        expected = _checked(str(ref.digest), host) if ref.digest else _header_digest(resp, host)
        if expected is not None and actual != expected:
            raise RegistryError(
                f"registry {host}: manifest {_show(ref)} arrived with other content "
                f"({actual}, expected {expected})"
            )
        media = (resp.header("content-type") or "").split(";")[0].strip()
        if media not in MANIFEST_TYPES:
            try:
                media = str(json.loads(resp.body).get("mediaType") or media)
            except (ValueError, AttributeError):
                pass
        return Manifest(media, resp.body, actual)

    def put_manifest(
        self, registry: str | None, repository: str, reference: str, manifest: Manifest
    ) -> Digest:
        host = api_host(registry)
        repo = api_repository(registry, repository)
        resp = self.request(
            "PUT",
            host,
            f"/v2/{repo}/manifests/{_reference(reference, host)}",
            scope=f"repository:{repo}:pull,push",
            headers={"Content-Type": manifest.media_type},
            body=manifest.data,
            ok=(201, 200),
        )
        return _header_digest(resp, host) or manifest.digest

    # ---- blobs

    def blob_exists(self, registry: str | None, repository: str, digest: Digest | str) -> bool:
        host, repo = api_host(registry), api_repository(registry, repository)
        resp = self.request(
            "HEAD",
            host,
            f"/v2/{repo}/blobs/{_checked(digest, host)}",
            scope=f"repository:{repo}:pull",
            ok=(200, 404),
            missing_on_5xx=True,
        )
        return resp.status == 200

    def upload_blob(
        self,
        registry: str | None,
        repository: str,
        blob: Blob,
        *,
        mount_from: str | None = None,
        check_exists: bool = True,
    ) -> BlobStatus:
        """Make `blob` present in `registry/repository`: the one way pack uploads a blob.

        In order, stopping at the first that works: HEAD (unless `check_exists` is
        False: 'present'); a cross-repository mount from `mount_from`, a repository of the
        same registry ('mounted'); else POST an upload, PATCH the bytes in chunks of
        `chunk_size` (a blob no bigger than one chunk goes in the final PUT instead), and
        PUT `?digest=` to commit ('uploaded'). Memory holds one chunk. Each `Location` the
        registry answers goes through the same host/scheme rules as every request. The
        bytes are hashed as they stream: a source that gives other bytes than `blob.digest`
        and `blob.size` promise is never committed (the upload is cancelled). A chunk whose
        answer was lost is resumed from the offset the registry reports (416); a source
        stream that breaks, or an upload the registry stops knowing (404: distribution
        after a chunk broke midway), starts the upload again, up to `retries` times.
        """
        host, repo = api_host(registry), api_repository(registry, repository)
        digest = _checked(blob.digest, host)
        if check_exists and self.blob_exists(registry, repository, digest):
            return "present"
        scope = f"repository:{repo}:pull,push"
        last = ""
        for attempt in range(self.retries + 1):
            if attempt:
                self.sleep(self.backoff * (2 ** (attempt - 1)))
            if mount_from is not None:
                src_repo = api_repository(registry, mount_from)
                scope = f"repository:{repo}:pull,push repository:{src_repo}:pull"
                query = "?" + urllib.parse.urlencode({"mount": str(digest), "from": src_repo})
                resp = self._start_upload(host, repo, query, scope)
                if resp.status == 201:
                    return "mounted"
                # 202: the registry declined the mount and opened an upload; use it.
            else:
                resp = self._start_upload(host, repo, "", scope)
            location = self._location(host, resp, self._base(host) + "/")
            chunk = max(self.chunk_size, _int(resp.header("oci-chunk-min-length")))
            try:
                with blob.open() as stream:
                    self._stream_upload(host, repo, scope, location, blob, stream, chunk)
                return "uploaded"
            except (_SourceFailed, _UploadLost) as exc:
                last = str(exc)
                self._cancel(host, scope, location)
            except Exception:
                # Whatever failed (the source, a check, the registry): leave no open upload.
                self._cancel(host, scope, location)
                raise
        raise RegistryError(
            f"registry {host}: uploading blob {digest} failed after "
            f"{self.retries + 1} attempts: {last}"
        )

    def _start_upload(self, host: str, repo: str, query: str, scope: str) -> Response:
        return self.request(
            "POST",
            host,
            f"/v2/{repo}/blobs/uploads/{query}",
            scope=scope,
            headers={"Content-Length": "0"},
            body=b"",
            ok=(201, 202),
        )

    def _location(self, host: str, resp: Response, request_url: str) -> str:
        """The next upload URL: a relative Location is relative to the request it answers."""
        location = resp.header("location")
        if not location:
            raise RegistryError(f"registry {host}: upload answer without a Location header")
        url = urllib.parse.urljoin(request_url, location)
        self._target(host, url, "the upload Location")
        return url

    def _stream_upload(
        self,
        host: str,
        repo: str,
        scope: str,
        location: str,
        blob: Blob,
        stream: BinaryIO,
        chunk: int,
    ) -> None:
        hasher = hashlib.sha256()
        offset = 0
        final = bytearray()
        while True:
            data = _read_source(stream, min(chunk, blob.size - offset + 1))
            if not data:
                break
            hasher.update(data)
            if offset + len(data) > blob.size:
                offset += len(data)
                break
            if blob.size <= chunk:
                final = data  # one chunk: it travels in the committing PUT
                offset += len(data)
                continue
            location = self._patch(host, scope, location, offset, data)
            offset += len(data)
            del data  # before the next chunk is allocated: one chunk in memory, not two
        actual = Digest(hasher.hexdigest())
        if offset != blob.size or actual != blob.digest:
            got = f"{offset} bytes" if offset <= blob.size else f"more than {blob.size} bytes"
            raise RegistryError(
                f"registry {host}: blob {blob.digest} ({blob.size} bytes): the source gave "
                f"{got} with digest {actual}; nothing was committed"
            )
        sep = "&" if "?" in location else "?"
        resp = self.request(
            "PUT",
            host,
            location + sep + urllib.parse.urlencode({"digest": str(blob.digest)}),
            scope=scope,
            headers={"Content-Type": "application/octet-stream", "Content-Length": str(len(final))},
            body=final,
            ok=(201, 204, 404),
        )
        if resp.status == 404:
            # A retried PUT whose first attempt committed finds no upload left.
            if not self.blob_exists(host, repo, blob.digest):
                raise _UploadLost(f"committing blob {blob.digest} answered 404")
            return
        committed = _header_digest(resp, host)
        if committed is not None and committed != blob.digest:
            raise RegistryError(f"registry {host}: blob {blob.digest} was committed as {committed}")

    def _patch(self, host: str, scope: str, location: str, start: int, data: bytearray) -> str:
        """Send `data` at `start`; the next Location. Resumes from what the registry holds."""
        sent = 0
        for _ in range(self.retries + 1):
            part = data[sent:] if sent else data
            first = start + sent
            resp = self.request(
                "PATCH",
                host,
                location,
                scope=scope,
                headers={
                    "Content-Type": "application/octet-stream",
                    "Content-Range": f"{first}-{first + len(part) - 1}",
                    "Content-Length": str(len(part)),
                },
                body=part,
                ok=(202, 416, 404),
            )
            if resp.status == 202:
                return self._location(host, resp, location)
            if resp.status == 404:
                raise _UploadLost(f"PATCH of bytes {first}-{first + len(part) - 1} answered 404")
            # 416: the registry holds another amount (an earlier try got through, or part
            # of it did): ask how much, and send the rest.
            status = self.request("GET", host, location, scope=scope, ok=(204, 404))
            if status.status == 404:
                raise _UploadLost(f"the upload's status answered 404 after a 416 at byte {first}")
            have = upload_range(status.header("range"))
            if status.header("location"):
                location = self._location(host, status, location)
            if have is None or not start <= have <= start + len(data):
                raise RegistryError(
                    f"registry {host}: upload at byte {have} cannot resume a chunk "
                    f"at {start}-{start + len(data) - 1}"
                )
            if have == start + len(data):
                return location
            sent = have - start
        raise RegistryError(f"registry {host}: chunk at byte {start} refused repeatedly (416)")

    def _cancel(self, host: str, scope: str, location: str) -> None:
        """Best effort: an abandoned upload is garbage the registry collects anyway."""
        try:
            self.request("DELETE", host, location, scope=scope, ok=(204, 404, 405))
        except RegistryError:
            pass

    @contextmanager
    def _open_blob(self, host: str, repo: str, digest: Digest) -> Iterator[BinaryIO]:
        """The blob's bytes as a stream (following storage redirects without credentials)."""
        resp = self.request(
            "GET",
            host,
            f"/v2/{repo}/blobs/{digest}",
            scope=f"repository:{repo}:pull",
            ok=(200, 307, 302, 301, 303),
            stream=True,
        )
        hops, url = 0, f"{self._base(host)}/v2/{repo}/blobs/{digest}"
        while resp.status in (301, 302, 303, 307) and hops < 5:
            # Blob storage redirects (S3, GCS) carry their own auth in the URL: none of ours.
            url = urllib.parse.urljoin(url, resp.header("location") or "")
            netloc = self._target(host, url, "a blob redirect")
            resp = self._send("GET", url, {}, None, netloc, stream=True)
            hops += 1
        if resp.status != 200:
            raise RegistryError(f"registry {host}: blob {digest} answered {_describe(resp.status)}")
        body = resp.stream if resp.stream is not None else io.BytesIO(resp.body)
        try:
            yield body
        finally:
            body.close()

    def read_blob(
        self, registry: str | None, repository: str, digest: Digest | str, *, limit: int
    ) -> bytes:
        """A small blob (an image config) in memory, checked against `digest`.

        More than `limit` bytes is an error: layers are streamed or mounted, never read here.
        """
        host, repo = api_host(registry), api_repository(registry, repository)
        wanted = _checked(digest, host)
        last = ""
        for attempt in range(self.retries + 1):
            if attempt:
                self.sleep(self.backoff * (2 ** (attempt - 1)))
            try:
                with self._open_blob(host, repo, wanted) as stream:
                    data = stream.read(limit + 1)
                break
            except (OSError, http.client.HTTPException) as exc:  # the body broke midway
                last = f"{type(exc).__name__}: {exc}"
        else:
            raise RegistryError(
                f"registry {host}: reading blob {wanted} failed after "
                f"{self.retries + 1} attempts ({last})"
            )
        if len(data) > limit:
            raise RegistryError(f"registry {host}: blob {wanted} is larger than {limit} bytes")
        if Digest.of_bytes(data) != wanted:
            raise RegistryError(f"registry {host}: blob {wanted} arrived with other content")
        return data

    # ---- copy

    def copy_blob(
        self, src: tuple[str | None, str], dst: tuple[str | None, str], blob: Descriptor
    ) -> BlobStatus:
        """Make `blob` present in dst: mounted when both share a host, else streamed across."""
        s_host, s_repo = api_host(src[0]), api_repository(*src)
        d_host = api_host(dst[0])
        return self.upload_blob(
            dst[0],
            dst[1],
            Blob(blob.digest, blob.size, lambda: self._open_blob(s_host, s_repo, blob.digest)),
            mount_from=src[1] if s_host == d_host else None,
        )

    def copy_image(self, src: RefLike, dst: RefLike) -> Digest:
        """Copy src's manifest (and everything it points to) to dst's tag; returns its digest."""
        manifest = self.get_manifest(src)
        if manifest is None:
            raise RegistryError(f"cannot copy {_show(src)}: it is not in the registry")
        self._copy_tree(src, dst, manifest)
        return self.put_manifest(dst.registry, dst.repository, reference_of(dst), manifest)

    def _copy_tree(self, src: RefLike, dst: RefLike, manifest: Manifest) -> None:
        where = f"cannot copy {_show(src)}"
        children, is_index = manifest_children(manifest, where)
        if is_index:
            for child in children:
                child_ref = _PinnedRef(src.registry, src.repository, child.digest)
                child_manifest = self.get_manifest(child_ref)
                if child_manifest is None:
                    raise RegistryError(f"{where}: child {child.digest} missing")
                self._copy_tree(child_ref, dst, child_manifest)
                self.put_manifest(dst.registry, dst.repository, str(child.digest), child_manifest)
            return
        s, d = (src.registry, src.repository), (dst.registry, dst.repository)
        unique = list({c.digest: c for c in children}.values())
        workers = max(1, min(self.jobs, len(unique)))
        if workers == 1:
            for blob in unique:
                self.copy_blob(s, d, blob)
            return
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="pack-blob") as pool:
            for _ in pool.map(lambda b: self.copy_blob(s, d, b), unique):
                pass


@dataclass(frozen=True)
class _PinnedRef:
    registry: str | None
    repository: str
    digest: Digest
    tag: str | None = None


def _show(ref: RefLike) -> str:
    return f"{ref.registry + '/' if ref.registry else ''}{ref.repository}:{reference_of(ref)}"


def _basic(creds: Credentials) -> str:
    raw = f"{creds.username}:{creds.password}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


def _redact(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}/…"


def _int(value: str | None) -> int:
    try:
        return max(0, int(value or 0))
    except ValueError:
        return 0


def _checked(digest: Digest | str, host: str) -> Digest:
    """A digest about to go into a request path, parsed (never a raw string)."""
    if isinstance(digest, Digest):
        return digest
    try:
        return Digest.parse(digest)
    except ValueError:
        raise RegistryError(f"registry {host}: invalid digest {digest!r}") from None


_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")


def _reference(text: str, host: str) -> str:
    """A manifest reference about to go into a request path: a tag or a digest, nothing else."""
    if ":" in text:
        return str(_checked(text, host))
    if not _TAG.fullmatch(text):
        raise RegistryError(f"registry {host}: invalid manifest reference {text[:100]!r}")
    return text


def _header_digest(resp: Response, host: str) -> Digest | None:
    header = resp.header("docker-content-digest")
    if not header:
        return None
    try:
        return Digest.parse(header.strip())
    except ValueError:
        raise RegistryError(
            f"registry {host}: invalid Docker-Content-Digest {header[:100]!r}"
        ) from None


def _read_source(stream: BinaryIO, n: int) -> bytearray:
    try:
        return _read_full(stream, n)
    except (OSError, http.client.HTTPException) as exc:
        raise _SourceFailed(f"reading the blob failed ({type(exc).__name__}: {exc})") from exc
