"""HTTP to the Kubernetes API server without the official client.

`import kubernetes` costs 0.4-0.7 s of every `pack run` (its config loader, the
generated models, and kubernetes_validate/jsonschema where those are installed);
the backend needs a dozen core/v1 calls. `HttpTransport` makes them with
http.client over a small pool of keep-alive connections (threads share it: a
map_task creates its pods from several), authenticated as `ClusterAccess` says.
`ClientTransport` makes the same calls through the official client's `ApiClient`,
for the kubeconfigs only that client can honour (exec plugins, auth providers, ...).

Both raise `ApiError` for an answer outside 2xx and `ApiUnreachable` (an OSError)
when no answer came, so the backend has one pair of errors to handle.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import ssl
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import quote, urlsplit

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

    from pack.launcher.backends.kubeaccess import ClusterAccess

REQUEST_TIMEOUT = 60.0
TOKEN_RELOAD_SECONDS = 60.0  # bound service account tokens rotate; kubelet refreshes the file
_IDLE_CONNECTIONS = 16


class ApiError(Exception):
    """The API server answered outside 2xx."""

    def __init__(self, status: int, reason: str, body: str = "") -> None:
        super().__init__(f"{status} {reason}")
        self.status = status
        self.reason = reason
        self.body = body

    @property
    def message(self) -> str:
        """The Status object's message (one line), else the HTTP reason."""
        try:
            text = json.loads(self.body).get("message") if self.body else None
        except (ValueError, AttributeError):
            text = None
        return " ".join(str(text or self.reason or self.status).split())


class ApiUnreachable(OSError):
    """No answer from the API server (refused, reset, timed out, TLS failed)."""


class Stream(Protocol):
    """A streaming answer: the log or watch body as it comes."""

    def stream(self, amt: int = 8192, decode_content: bool = True) -> Iterator[bytes]: ...

    def release_conn(self) -> None: ...

    def abort(self) -> None:
        """End the stream from another thread (wakes its reader)."""


class Transport(Protocol):
    def request(
        self,
        method: str,
        path: str,
        query: Sequence[tuple[str, Any]] = (),
        body: Any = None,
        content_type: str = "application/json",
        accept: str = "application/json",
    ) -> bytes: ...

    def stream(
        self,
        path: str,
        query: Sequence[tuple[str, Any]] = (),
        accept: str = "application/json",
        timeout: float | None = None,
    ) -> Stream: ...

    def close(self) -> None: ...


def query_string(query: Sequence[tuple[str, Any]]) -> str:
    """Pure: `a=1&b=true` with booleans as the API spells them."""
    parts = []
    for key, value in query:
        if isinstance(value, bool):
            value = "true" if value else "false"
        parts.append(f"{quote(str(key), safe='')}={quote(str(value), safe='')}")
    return "&".join(parts)


def _body_bytes(body: Any) -> bytes | None:
    if body is None:
        return None
    if isinstance(body, bytes):
        return body
    return json.dumps(body, separators=(",", ":")).encode()


class _HttpStream:
    """A streaming answer on its own connection, closed when released."""

    def __init__(self, conn: http.client.HTTPConnection, response: http.client.HTTPResponse):
        self._conn = conn
        self._response = response

    def stream(self, amt: int = 8192, decode_content: bool = True) -> Iterator[bytes]:
        while True:
            try:
                chunk = self._response.read1(amt)
            except (OSError, http.client.HTTPException) as exc:
                raise ApiUnreachable(f"the stream broke off: {exc}") from None
            if not chunk:
                return
            yield chunk

    def release_conn(self) -> None:
        self._conn.close()

    def abort(self) -> None:
        """End the stream from another thread: a shutdown wakes a recv blocked on it
        (closing alone does not); the reader then releases the connection."""
        sock = self._conn.sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already closed


class HttpTransport:
    """The API server at `access.server`, over keep-alive connections."""

    def __init__(self, access: ClusterAccess, *, timeout: float = REQUEST_TIMEOUT) -> None:
        parts = urlsplit(access.server)
        self.access = access
        self.scheme = parts.scheme
        self.host = parts.hostname or ""
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.base_path = parts.path.rstrip("/")
        self.timeout = timeout
        self._tls = _tls_context(access) if parts.scheme == "https" else None
        self._idle: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()
        self._token: str | None = access.token
        self._token_read = 0.0

    # --- connections ------------------------------------------------------------------

    def _connect(self, timeout: float | None) -> http.client.HTTPConnection:
        if self._tls is None:
            return http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        return _SniConnection(
            self.host,
            self.port,
            timeout=timeout,
            context=self._tls,
            server_name=self.access.tls_server_name,
        )

    def _take(self) -> tuple[http.client.HTTPConnection, bool]:
        with self._lock:
            if self._idle:
                return self._idle.pop(), True
        return self._connect(self.timeout), False

    def _give_back(self, conn: http.client.HTTPConnection) -> None:
        with self._lock:
            if len(self._idle) < _IDLE_CONNECTIONS:
                self._idle.append(conn)
                return
        conn.close()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    # --- requests ---------------------------------------------------------------------

    def _headers(self, accept: str, content_type: str | None) -> dict[str, str]:
        headers = {"Accept": accept, "User-Agent": "pack"}
        if content_type:
            headers["Content-Type"] = content_type
        token = self._bearer()
        if token:
            headers["Authorization"] = f"Bearer {token}"
        elif self.access.username is not None:
            import base64

            pair = f"{self.access.username}:{self.access.password or ''}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
        return headers

    def _bearer(self) -> str | None:
        if self.access.token_file is None:
            return self._token
        now = time.monotonic()
        if self._token is None or now - self._token_read > TOKEN_RELOAD_SECONDS:
            try:
                with open(self.access.token_file, encoding="utf-8") as fh:
                    self._token = fh.read().strip()
            except OSError as exc:
                raise ApiUnreachable(
                    f"cannot read the token file {self.access.token_file}: {exc.strerror}"
                ) from None
            self._token_read = now
        return self._token

    def _target(self, path: str, query: Sequence[tuple[str, Any]]) -> str:
        qs = query_string(query)
        return f"{self.base_path}{path}?{qs}" if qs else f"{self.base_path}{path}"

    def request(
        self,
        method: str,
        path: str,
        query: Sequence[tuple[str, Any]] = (),
        body: Any = None,
        content_type: str = "application/json",
        accept: str = "application/json",
    ) -> bytes:
        data = _body_bytes(body)
        headers = self._headers(accept, content_type if data is not None else None)
        target = self._target(path, query)
        while True:
            conn, reused = self._take()
            try:
                conn.request(method, target, body=data, headers=headers)
                response = conn.getresponse()
                payload = response.read()
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                if reused and _stale(exc):
                    continue  # the server closed an idle connection: a new one
                raise ApiUnreachable(f"{self.scheme}://{self.host}:{self.port}: {exc}") from None
            if response.will_close:
                conn.close()
            else:
                self._give_back(conn)
            if not 200 <= response.status <= 299:
                raise ApiError(response.status, response.reason, payload.decode("utf-8", "replace"))
            return payload

    def stream(
        self,
        path: str,
        query: Sequence[tuple[str, Any]] = (),
        accept: str = "application/json",
        timeout: float | None = None,
    ) -> Stream:
        """GET `path` and hand back its body as it comes, on a connection of its own
        (`timeout`: between bytes; None waits as long as the server keeps it open)."""
        conn = self._connect(timeout)
        try:
            conn.request("GET", self._target(path, query), headers=self._headers(accept, None))
            response = conn.getresponse()
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            raise ApiUnreachable(f"{self.scheme}://{self.host}:{self.port}: {exc}") from None
        if not 200 <= response.status <= 299:
            try:
                text = response.read().decode("utf-8", "replace")
            except (OSError, http.client.HTTPException):
                text = ""
            conn.close()
            raise ApiError(response.status, response.reason, text)
        return _HttpStream(conn, response)


def _stale(exc: BaseException) -> bool:
    """A kept-alive connection the server had closed (safe to send again: the request
    never reached it)."""
    return isinstance(
        exc,
        http.client.RemoteDisconnected | BrokenPipeError | ConnectionResetError,
    )


class _SniConnection(http.client.HTTPSConnection):
    """HTTPS whose certificate is checked against `server_name` (kubeconfig
    tls-server-name) instead of the host connected to."""

    def __init__(self, *args: Any, server_name: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._server_name = server_name

    def connect(self) -> None:
        if self._server_name is None:
            super().connect()
            return
        http.client.HTTPConnection.connect(self)
        self.sock = self._context.wrap_socket(  # type: ignore[attr-defined]
            self.sock, server_hostname=self._server_name
        )


def _tls_context(access: ClusterAccess) -> ssl.SSLContext:
    if access.insecure:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    elif access.ca_pem is not None:
        context = ssl.create_default_context(cadata=access.ca_pem.decode("ascii", "replace"))
    else:
        context = ssl.create_default_context()
    if access.client_cert_pem is not None:
        _load_client_cert(context, access.client_cert_pem, access.client_key_pem)
    return context


def _load_client_cert(context: ssl.SSLContext, cert: bytes, key: bytes | None) -> None:
    """ssl reads a certificate chain only from files: a private folder, removed at once."""
    folder = tempfile.mkdtemp(prefix="pack-kube-")
    try:
        cert_path = os.path.join(folder, "cert.pem")
        key_path = os.path.join(folder, "key.pem")
        for path, data in ((cert_path, cert), (key_path, key)):
            if data is not None:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
        context.load_cert_chain(cert_path, key_path if key is not None else None)
    finally:
        for name in os.listdir(folder):
            os.unlink(os.path.join(folder, name))
        os.rmdir(folder)


class _Urllib3Stream:
    """The official client's streaming answer (a urllib3 response) as a Stream."""

    def __init__(self, response: Any) -> None:
        self._response = response

    def stream(self, amt: int = 8192, decode_content: bool = True) -> Iterator[bytes]:
        from urllib3.exceptions import HTTPError

        try:
            yield from self._response.stream(amt, decode_content=decode_content)
        except HTTPError as exc:
            raise ApiUnreachable(f"the stream broke off: {exc}") from None

    def release_conn(self) -> None:
        self._response.release_conn()

    def abort(self) -> None:
        self._response.shutdown()  # urllib3 >= 2.3: wakes a read blocked on the socket


class ClientTransport:
    """The same calls through the official client's configured `ApiClient` (its auth,
    TLS, proxy), for configurations only it can honour."""

    def __init__(self, api_client: ApiClient) -> None:
        self.api_client = api_client

    def _send(
        self,
        method: str,
        path: str,
        query: Sequence[tuple[str, Any]],
        body: Any,
        content_type: str,
        accept: str,
        *,
        stream: bool,
        timeout: float | None = None,
    ) -> Any:
        from urllib3.exceptions import HTTPError

        headers: dict[str, Any] = {"Accept": accept}
        if body is not None:
            headers["Content-Type"] = content_type
        request = self.api_client.param_serialize(
            method=method,
            resource_path=path,
            query_params=list(query),
            header_params=headers,
            body=body,
            auth_settings=["BearerToken"],
        )
        try:
            response = self.api_client.call_api(
                *request, _request_timeout=timeout if stream else REQUEST_TIMEOUT
            )
            if stream and 200 <= response.status <= 299:
                return _Urllib3Stream(response.response)
            data = response.read()
        except HTTPError as exc:
            raise ApiUnreachable(f"cannot reach the Kubernetes API: {exc}") from None
        if not 200 <= response.status <= 299:
            raise ApiError(
                response.status, response.reason or "", (data or b"").decode("utf-8", "replace")
            )
        return data or b""

    def request(
        self,
        method: str,
        path: str,
        query: Sequence[tuple[str, Any]] = (),
        body: Any = None,
        content_type: str = "application/json",
        accept: str = "application/json",
    ) -> bytes:
        return self._send(method, path, query, body, content_type, accept, stream=False)  # type: ignore[no-any-return]

    def stream(
        self,
        path: str,
        query: Sequence[tuple[str, Any]] = (),
        accept: str = "application/json",
        timeout: float | None = None,
    ) -> Stream:
        return self._send(  # type: ignore[no-any-return]
            "GET", path, query, None, "", accept, stream=True, timeout=timeout
        )

    def close(self) -> None:
        self.api_client.close()
