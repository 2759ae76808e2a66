"""A small OCI distribution client: does this image exist, what is its digest, copy it.

Built on the standard library's http.client on purpose: it is the one choke point
for registry HTTP, it costs nothing to import on the cached `pack build` path
(requests alone is ~50 ms), and it does exactly what pack needs: HEAD with the
right Accept header, the bearer handshake from `WWW-Authenticate` with Docker
config credentials (including credential helpers), Basic auth, retries, and
manifest/blob copies. An existence check answers yes or no, never "maybe".
"""

from __future__ import annotations

import base64
import http.client
import ipaddress
import json
import re
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Protocol

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


Body = bytes | Path | None
# (method, url, headers, body) -> Response; raises OSError/HTTPException on connection errors.
# A transport may accept `sink=` (a binary file): a 200 body is then streamed into it.
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


def _describe(status: int) -> str:
    return {401: "401 Unauthorized", 403: "403 Forbidden", 404: "404 Not Found"}.get(
        status, str(status)
    )


# ---------------------------------------------------------------- transport


class HttpTransport:
    """Keep-alive http.client connections, one per (thread, scheme, host)."""

    def __init__(self, timeout: float = 30.0) -> None:
        self.timeout = timeout
        self._local = threading.local()

    def _connection(self, scheme: str, netloc: str) -> http.client.HTTPConnection:
        conns: dict[tuple[str, str], http.client.HTTPConnection] = self._local.__dict__.setdefault(
            "conns", {}
        )
        conn = conns.get((scheme, netloc))
        if conn is None:
            cls = http.client.HTTPSConnection if scheme == "https" else http.client.HTTPConnection
            conn = cls(netloc, timeout=self.timeout)
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
        sink: BinaryIO | None = None,
    ) -> Response:
        parts = urllib.parse.urlsplit(url)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
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
            if sink is not None and resp.status == 200:
                # Blobs can be gigabytes: stream them to the caller's file, not to memory.
                while chunk := resp.read(1 << 20):
                    sink.write(chunk)
                data = b""
            else:
                data = resp.read()
        except (OSError, http.client.HTTPException):
            self._drop(parts.scheme, parts.netloc)
            raise
        if resp.will_close:
            self._drop(parts.scheme, parts.netloc)
        return Response(resp.status, {k.lower(): v for k, v in resp.getheaders()}, data)


# ---------------------------------------------------------------- client


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
    ) -> None:
        self.credentials = credentials
        self.insecure = tuple(insecure)
        self.transport: Transport = transport or HttpTransport()
        self.retries = retries
        self.backoff = backoff
        self.sleep = sleep
        self._lock = threading.Lock()
        # (host, scope) -> Authorization header value; host -> scheme once a challenge was seen.
        self._auth: dict[tuple[str, str], str] = {}
        self._schemes: dict[str, str] = {}

    # ---- plumbing

    def _base(self, host: str) -> str:
        return f"{'http' if is_insecure(host, self.insecure) else 'https'}://{host}"

    def _send(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: Body,
        host: str,
        *,
        missing_on_5xx: bool = False,
        sink: BinaryIO | None = None,
    ) -> Response:
        """One request with retries on connection errors and 5xx; never returns a 5xx."""
        last = ""
        for attempt in range(self.retries + 1):
            if attempt:
                self.sleep(self.backoff * (2 ** (attempt - 1)))
            try:
                if sink is not None:
                    sink.seek(0)
                    sink.truncate()
                    resp = self.transport(method, url, headers, body, sink=sink)
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
                        probe = self.transport("GET", url, headers, None)
                    except (OSError, http.client.HTTPException) as exc:
                        last = f"cannot connect ({type(exc).__name__}: {exc})"
                        continue
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
        creds = self._creds(host)
        query: list[tuple[str, str]] = []
        if params.get("service"):
            query.append(("service", params["service"]))
        for s in scope.split(" "):
            if s:
                query.append(("scope", s))
        realm_host = urllib.parse.urlsplit(realm).netloc
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
        sink: BinaryIO | None = None,
    ) -> Response:
        """One API call with auth and retries; a status outside `ok` raises RegistryError."""
        url = path if "://" in path else self._base(host) + path
        hdrs = dict(headers or {})
        with self._lock:
            auth = self._auth.get((host, scope))
            if auth is None and self._schemes.get(host) == "basic":
                creds = self._creds(host)
                auth = _basic(creds) if creds else None
        if auth:
            hdrs["Authorization"] = auth
        resp = self._send(method, url, hdrs, body, host, missing_on_5xx=missing_on_5xx, sink=sink)
        if resp.status == 401 and resp.header("www-authenticate"):
            hdrs["Authorization"] = self._authorize(
                host, resp.header("www-authenticate") or "", scope
            )
            resp = self._send(
                method, url, hdrs, body, host, missing_on_5xx=missing_on_5xx, sink=sink
            )
        allowed = set(ok)
        if resp.status not in allowed:
            detail = ""
            if resp.status in (401, 403):
                who = "with" if self._creds(host) is not None else "without"
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
            f"/v2/{repo}/manifests/{reference_of(ref)}",
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
        header = resp.header("docker-content-digest")
        if platforms and (media in INDEX_TYPES or len(platforms) > 1):
            manifest = self.get_manifest(ref)
            if manifest is None or manifest.media_type not in INDEX_TYPES:
                return False, None
            return index_has_platforms(manifest.json(), platforms), manifest.digest
        return True, Digest.parse(header) if header else None

    def manifest_digest(self, ref: RefLike) -> Digest | None:
        """The digest the registry serves for `ref` (Docker-Content-Digest), None if missing."""
        resp = self._manifest_call("HEAD", ref, ok=(200, 404))
        if resp.status == 404:
            return None
        header = resp.header("docker-content-digest")
        if header:
            return Digest.parse(header)
        manifest = self.get_manifest(ref)
        return manifest.digest if manifest else None

    def get_manifest(self, ref: RefLike) -> Manifest | None:
        resp = self._manifest_call("GET", ref, ok=(200, 404))
        if resp.status == 404:
            return None
        media = (resp.header("content-type") or "").split(";")[0].strip()
        if media not in MANIFEST_TYPES:
            try:
                media = str(json.loads(resp.body).get("mediaType") or media)
            except (ValueError, AttributeError):
                pass
        return Manifest(media, resp.body, Digest.of_bytes(resp.body))

    def put_manifest(
        self, registry: str | None, repository: str, reference: str, manifest: Manifest
    ) -> Digest:
        host = api_host(registry)
        repo = api_repository(registry, repository)
        resp = self.request(
            "PUT",
            host,
            f"/v2/{repo}/manifests/{reference}",
            scope=f"repository:{repo}:pull,push",
            headers={"Content-Type": manifest.media_type},
            body=manifest.data,
            ok=(201, 200),
        )
        header = resp.header("docker-content-digest")
        return Digest.parse(header) if header else manifest.digest

    # ---- blobs

    def blob_exists(self, registry: str | None, repository: str, digest: str) -> bool:
        host, repo = api_host(registry), api_repository(registry, repository)
        resp = self.request(
            "HEAD",
            host,
            f"/v2/{repo}/blobs/{digest}",
            scope=f"repository:{repo}:pull",
            ok=(200, 404),
            missing_on_5xx=True,
        )
        return resp.status == 200

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

    def _location(self, host: str, resp: Response) -> str:
        location = resp.header("location")
        if not location:
            raise RegistryError(f"registry {host}: upload answer without a Location header")
        return urllib.parse.urljoin(self._base(host) + "/", location)

    def copy_blob(
        self, src: tuple[str | None, str], dst: tuple[str | None, str], digest: str
    ) -> str:
        """Make blob `digest` present in dst: 'present', 'mounted' or 'copied'."""
        if self.blob_exists(dst[0], dst[1], digest):
            return "present"
        s_host, s_repo = api_host(src[0]), api_repository(*src)
        d_host, d_repo = api_host(dst[0]), api_repository(*dst)
        scope = f"repository:{d_repo}:pull,push"
        if s_host == d_host:
            both = f"{scope} repository:{s_repo}:pull"
            query = "?" + urllib.parse.urlencode({"mount": digest, "from": s_repo})
            resp = self._start_upload(d_host, d_repo, query, both)
            if resp.status == 201:
                return "mounted"
            # 202: the registry declined the mount and opened an upload; use it.
            upload = self._location(d_host, resp)
            scope = both
        else:
            upload = self._location(d_host, self._start_upload(d_host, d_repo, "", scope))
        with self._download_blob(s_host, s_repo, digest) as path:
            sep = "&" if "?" in upload else "?"
            self.request(
                "PUT",
                d_host,
                upload + sep + urllib.parse.urlencode({"digest": digest}),
                scope=scope,
                headers={"Content-Type": "application/octet-stream"},
                body=path,
                ok=(201, 204),
            )
        return "copied"

    @contextmanager
    def _download_blob(self, host: str, repo: str, digest: str) -> Iterator[Path]:
        with tempfile.TemporaryDirectory(prefix="pack-blob-") as tmp:
            path = Path(tmp) / "blob"
            with open(path, "w+b") as sink:
                resp = self.request(
                    "GET",
                    host,
                    f"/v2/{repo}/blobs/{digest}",
                    scope=f"repository:{repo}:pull",
                    ok=(200, 307, 302, 301),
                    sink=sink,
                )
                hops = 0
                while resp.status in (301, 302, 307) and hops < 5:
                    # Blob storage redirects (S3, GCS) carry their own auth in the URL.
                    location = resp.header("location") or ""
                    target = urllib.parse.urljoin(self._base(host) + "/", location)
                    netloc = urllib.parse.urlsplit(target).netloc
                    resp = self._send("GET", target, {}, None, netloc, sink=sink)
                    hops += 1
            if resp.status != 200:
                raise RegistryError(
                    f"registry {host}: blob {digest} answered {_describe(resp.status)}"
                )
            if resp.body:  # a transport without streaming support answered in memory
                path.write_bytes(resp.body)
            if str(Digest.of_file(path)) != digest:
                raise RegistryError(f"registry {host}: blob {digest} arrived with other content")
            yield path

    # ---- copy

    def copy_image(self, src: RefLike, dst: RefLike) -> Digest:
        """Copy src's manifest (and everything it points to) to dst's tag; returns its digest."""
        manifest = self.get_manifest(src)
        if manifest is None:
            raise RegistryError(f"cannot copy {_show(src)}: it is not in the registry")
        self._copy_tree(src, dst, manifest)
        return self.put_manifest(dst.registry, dst.repository, reference_of(dst), manifest)

    def _copy_tree(self, src: RefLike, dst: RefLike, manifest: Manifest) -> None:
        body = manifest.json()
        s, d = (src.registry, src.repository), (dst.registry, dst.repository)
        if manifest.media_type in INDEX_TYPES or "manifests" in body:
            for child in body.get("manifests", []):
                child_ref = _PinnedRef(src.registry, src.repository, str(child["digest"]))
                child_manifest = self.get_manifest(child_ref)
                if child_manifest is None:
                    raise RegistryError(
                        f"cannot copy {_show(src)}: child {child['digest']} missing"
                    )
                self._copy_tree(child_ref, dst, child_manifest)
                self.put_manifest(
                    dst.registry, dst.repository, str(child["digest"]), child_manifest
                )
            return
        blobs = [body["config"]] if isinstance(body.get("config"), dict) else []
        blobs += [layer for layer in body.get("layers", []) if isinstance(layer, dict)]
        for blob in blobs:
            self.copy_blob(s, d, str(blob["digest"]))


@dataclass(frozen=True)
class _PinnedRef:
    registry: str | None
    repository: str
    digest: str
    tag: str | None = None


def _show(ref: RefLike) -> str:
    return f"{ref.registry + '/' if ref.registry else ''}{ref.repository}:{reference_of(ref)}"


def _basic(creds: Credentials) -> str:
    raw = f"{creds.username}:{creds.password}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")
