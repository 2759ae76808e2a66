"""A fault-injecting HTTP/1.1 proxy of the tests' own (standard library only, threads).

It sits on 127.0.0.1 between pack and a real server (the S3 server, a registry) and
forwards every request, except that some get a fault:

- `reset_request`: half the request body reaches the server, then both connections
  are reset (the server sees a client vanish mid-upload);
- `reset_response`: the whole request reaches the server, the client gets the response
  head and half its body (half the head when there is no body), then a TCP reset;
- `truncate`: the same, but the connection is closed cleanly (FIN) instead of reset;
- `stall`: the same, but then nothing for `stall_seconds` (make it longer than the
  client's timeout) or until the client gives up, then the connection is closed;
- `burst`: this request and the next few (1 to `burst_max`) get a 503 from the proxy
  and never reach the server.

What a request gets is a pure function of the seed and the request's number (the n-th
request the proxy reads, on any connection): `FaultSchedule(seed, rates).fault(n)`.
Two runs of the same operations in the same order see the same faults; concurrent
clients only change which request is the n-th. `Counters` says what was done.
"""

from __future__ import annotations

import random
import select
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

KINDS = ("reset_request", "reset_response", "truncate", "burst", "stall")
_S3_503 = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
    b"<Message>Please reduce your request rate (fault injected).</Message></Error>"
)
_REGISTRY_503 = (
    b'{"errors":[{"code":"UNAVAILABLE","message":"service unavailable (fault injected)"}]}'
)


@dataclass(frozen=True)
class Rates:
    """The chance that a request starts each kind of fault (at most one per request)."""

    reset_request: float = 0.0
    reset_response: float = 0.0
    truncate: float = 0.0
    burst: float = 0.0
    stall: float = 0.0
    burst_max: int = 3

    @classmethod
    def uniform(cls, total: float, **overrides: float) -> Rates:
        """`total` split evenly over the five kinds."""
        each = total / len(KINDS)
        values: dict[str, float] = {k: each for k in KINDS}
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]


def stall_for(timeout: float) -> float:
    """How long a stall holds an answer back: well past a client timeout of `timeout`."""
    return 2 * timeout + 1


class FaultSchedule:
    """Fault of the n-th request: a pure function of (seed, rates, n)."""

    def __init__(self, seed: int, rates: Rates) -> None:
        self.seed = seed
        self.rates = rates
        self._decided: list[str | None] = []
        self._rng = random.Random(seed)
        self._burst_left = 0
        self._lock = threading.Lock()

    def fault(self, n: int) -> str | None:
        with self._lock:
            while len(self._decided) <= n:
                self._decide_next()
            return self._decided[n]

    def _decide_next(self) -> None:
        if self._burst_left > 0:
            self._burst_left -= 1
            self._decided.append("burst")
            return
        roll = self._rng.random()
        edge = 0.0
        for kind in KINDS:
            edge += getattr(self.rates, kind)
            if roll < edge:
                if kind == "burst":
                    self._burst_left = self._rng.randint(1, self.rates.burst_max) - 1
                self._decided.append(kind)
                return
        self._decided.append(None)


@dataclass
class Counters:
    """What the proxy did. `retries`: requests repeating (same method and target) a
    request that got a fault and has not yet gone through."""

    requests: int = 0
    faults: Counter[str] = field(default_factory=Counter)
    retries: int = 0
    gave_up: int = 0  # stalls the client ended (its timeout) before the proxy did
    log: list[tuple[int, str, str, str | None]] = field(default_factory=list)

    @property
    def injected(self) -> int:
        return sum(self.faults.values())


class _Closed(Exception):
    """A peer closed its connection."""


class _Reader:
    """Buffered reads from a socket, for HTTP framing."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = b""

    def _fill(self) -> None:
        data = self.sock.recv(65536)
        if not data:
            raise _Closed
        self.buf += data

    def head(self) -> bytes | None:
        """Bytes up to and including the blank line; None on a clean close before any."""
        while b"\r\n\r\n" not in self.buf:
            try:
                self._fill()
            except _Closed:
                if self.buf:
                    raise
                return None
        end = self.buf.index(b"\r\n\r\n") + 4
        out, self.buf = self.buf[:end], self.buf[end:]
        return out

    def exactly(self, n: int) -> bytes:
        while len(self.buf) < n:
            self._fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def line(self) -> bytes:
        while b"\r\n" not in self.buf:
            self._fill()
        end = self.buf.index(b"\r\n") + 2
        out, self.buf = self.buf[:end], self.buf[end:]
        return out

    def rest(self) -> bytes:
        """Everything until the peer closes."""
        while True:
            try:
                self._fill()
            except (_Closed, OSError):
                out, self.buf = self.buf, b""
                return out


def _headers(head: bytes) -> tuple[str, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    out: dict[str, str] = {}
    for line in lines[1:]:
        if ":" in line:
            name, _, value = line.partition(":")
            out[name.strip().lower()] = value.strip()
    return lines[0], out


def _body(reader: _Reader, headers: dict[str, str]) -> bytes:
    """A message body by its framing (Content-Length or chunked), raw as it travels."""
    if "chunked" in headers.get("transfer-encoding", "").lower():
        parts = []
        while True:
            size_line = reader.line()
            parts.append(size_line)
            size = int(size_line.split(b";")[0].strip(), 16)
            if size == 0:
                while True:  # trailers, then the blank line
                    trailer = reader.line()
                    parts.append(trailer)
                    if trailer == b"\r\n":
                        return b"".join(parts)
            parts.append(reader.exactly(size + 2))
    length = int(headers.get("content-length", "0") or 0)
    return reader.exactly(length) if length else b""


def _reset(sock: socket.socket | None) -> None:
    if sock is None:
        return
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    sock.close()


def _close(sock: socket.socket | None) -> None:
    if sock is None:
        return
    try:
        sock.shutdown(socket.SHUT_WR)
        sock.settimeout(0.5)
        while sock.recv(65536):  # drain, so unread bytes do not turn the close into a reset
            pass
    except OSError:
        pass
    sock.close()


class FaultProxy:
    """`with FaultProxy(upstream_host, upstream_port, seed=1, rates=...) as p:` then talk
    to `p.url` / `p.host`. `flavor` picks the 503 body ("s3" XML or "registry" JSON).

    `match(method, target)` narrows the requests that may get a fault (the others pass
    untouched and are not numbered in the schedule); `limit` caps the faults injected.
    """

    def __init__(
        self,
        upstream_host: str,
        upstream_port: int,
        *,
        seed: int,
        rates: Rates,
        stall_seconds: float = 3.0,
        flavor: str = "s3",
        match: Callable[[str, str], bool] | None = None,
        limit: int | None = None,
    ) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.schedule = FaultSchedule(seed, rates)
        self.stall_seconds = stall_seconds
        self.error_body = _S3_503 if flavor == "s3" else _REGISTRY_503
        self.error_type = "application/xml" if flavor == "s3" else "application/json"
        self.counters = Counters()
        self.match = match
        self.limit = limit
        self._eligible = 0
        self._lock = threading.Lock()
        self._faulted: set[tuple[str, str]] = set()
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        self._open: set[socket.socket] = set()
        self._stop = threading.Event()

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def __enter__(self) -> FaultProxy:
        threading.Thread(target=self._accept, name="fault-proxy", daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._stop.set()
        self._server.close()
        with self._lock:
            socks = list(self._open)
        for sock in socks:
            _reset(sock)

    # ---- plumbing

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            with self._lock:
                self._open.add(client)
            thread = threading.Thread(target=self._serve, args=(client,), daemon=True)
            thread.start()

    def _next(self, method: str, target: str) -> str | None:
        with self._lock:
            n = self.counters.requests
            self.counters.requests += 1
            fault = None
            if (self.match is None or self.match(method, target)) and (
                self.limit is None or self.counters.injected < self.limit
            ):
                fault = self.schedule.fault(self._eligible)
                self._eligible += 1
            key = (method, target)
            if key in self._faulted:
                self.counters.retries += 1
            if fault is None:
                self._faulted.discard(key)
            else:
                self._faulted.add(key)
                self.counters.faults[fault] += 1
            self.counters.log.append((n, method, target, fault))
            return fault

    def _serve(self, client: socket.socket) -> None:
        upstream: socket.socket | None = None
        creader = _Reader(client)
        ureader: _Reader | None = None
        try:
            while True:
                head = creader.head()
                if head is None:
                    return
                request_line, headers = _headers(head)
                method, target = (request_line.split(" ") + ["", ""])[:2]
                fault = self._next(method, target)
                expect = headers.get("expect", "").lower() == "100-continue"
                if fault == "burst":
                    if not expect:
                        _body(creader, headers)
                    self._answer_503(client, close=expect)
                    if expect:
                        return
                    continue
                if expect:
                    # Answer 100 ourselves and forward without Expect: the framing stays simple.
                    client.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
                    head = _drop_header(head, "expect")
                body = _body(creader, headers)
                if upstream is None:
                    upstream = socket.create_connection(self.upstream)
                    ureader = _Reader(upstream)
                assert ureader is not None
                if fault == "reset_request":
                    upstream.sendall(head + body[: len(body) // 2])
                    time.sleep(0.05)
                    _reset(upstream)
                    _reset(client)
                    return
                upstream.sendall(head + body)
                heads, response_body, keep = self._response(ureader, method)
                if fault in ("reset_response", "truncate", "stall"):
                    if response_body:
                        client.sendall(heads + response_body[: len(response_body) // 2])
                    else:
                        client.sendall(heads[: len(heads) // 2])
                    if fault == "stall" and _hold(client, self.stall_seconds):
                        with self._lock:
                            self.counters.gave_up += 1
                    time.sleep(0.05)
                    (_reset if fault == "reset_response" else _close)(client)
                    _reset(upstream)
                    return
                client.sendall(heads + response_body)
                if not keep:
                    _close(client)
                    _close(upstream)
                    return
        except (_Closed, OSError, ValueError):
            _reset(client)
            _reset(upstream)
        finally:
            with self._lock:
                self._open.discard(client)
            client.close()
            if upstream is not None:
                upstream.close()

    def _response(self, reader: _Reader, method: str) -> tuple[bytes, bytes, bool]:
        """The upstream's answer: its heads (interim 1xx ones included), its body, and
        whether the connection stays open after it."""
        parts = []
        while True:
            head = reader.head()
            if head is None:
                raise _Closed
            status_line, headers = _headers(head)
            status = int(status_line.split(" ")[1])
            parts.append(head)
            if 100 <= status < 200:
                continue
            break
        keep = headers.get("connection", "").lower() != "close"
        if method == "HEAD" or status in (204, 304):
            body = b""
        elif "content-length" in headers or "chunked" in headers.get("transfer-encoding", ""):
            body = _body(reader, headers)
        else:
            body, keep = reader.rest(), False
        return b"".join(parts), body, keep

    def _answer_503(self, client: socket.socket, *, close: bool) -> None:
        head = (
            "HTTP/1.1 503 Service Unavailable\r\n"
            f"Content-Type: {self.error_type}\r\n"
            f"Content-Length: {len(self.error_body)}\r\n"
            + ("Connection: close\r\n" if close else "")
            + "\r\n"
        )
        client.sendall(head.encode() + self.error_body)
        if close:
            _close(client)


def _hold(client: socket.socket, seconds: float) -> bool:
    """Send nothing for `seconds`, or until the client gives up and closes (True)."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        readable, _, _ = select.select([client], [], [], left)
        if readable:
            try:
                if not client.recv(65536):
                    return True
            except OSError:
                return True
    return False


def _drop_header(head: bytes, name: str) -> bytes:
    lines = head.split(b"\r\n")
    kept = [line for line in lines if not line.lower().startswith(name.encode() + b":")]
    return b"\r\n".join(kept)
