"""The fault proxy itself, against a tiny HTTP server of the test's own: each kind of
fault reaches a plain http.client as it should, and the schedule is a function of the seed."""

from __future__ import annotations

import http.client
import http.server
import threading
from collections.abc import Iterator

import pytest

from .proxy import KINDS, FaultProxy, FaultSchedule, Rates

BODY = b"0123456789" * 1000


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    received: list[bytes] = []

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802
        self.send_response(200)
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

    def do_PUT(self) -> None:  # noqa: N802
        n = int(self.headers.get("Content-Length", "0"))
        data = self.rfile.read(n)
        if len(data) == n:
            _Handler.received.append(data)
        self.send_response(201)
        self.send_header("Content-Length", "0")
        self.end_headers()


@pytest.fixture()
def server() -> Iterator[http.server.ThreadingHTTPServer]:
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.handle_error = lambda *a: None  # type: ignore[method-assign]  # resets are the point
    _Handler.received = []
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def _only(kind: str) -> Rates:
    return Rates(**{kind: 1.0}, burst_max=1)  # type: ignore[arg-type]


def _get(proxy: FaultProxy, timeout: float = 5.0) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(proxy.host, timeout=timeout)
    try:
        conn.request("GET", "/x")
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def test_schedule_depends_on_seed_and_index_only() -> None:
    rates = Rates.uniform(0.5)
    a = [FaultSchedule(7, rates).fault(n) for n in range(200)]
    one = FaultSchedule(7, rates)
    b = [one.fault(n) for n in reversed(range(200))][::-1]  # asked in another order
    assert a == b
    assert a != [FaultSchedule(8, rates).fault(n) for n in range(200)]
    assert set(a) == {None, *KINDS}


def test_no_fault_forwards_bytes_and_keeps_the_connection(server) -> None:  # type: ignore[no-untyped-def]
    port = server.server_address[1]
    with FaultProxy("127.0.0.1", port, seed=1, rates=Rates()) as proxy:
        conn = http.client.HTTPConnection(proxy.host, timeout=5)
        for _ in range(3):
            conn.request("GET", "/x")
            assert conn.getresponse().read() == BODY
        conn.request("PUT", "/y", body=b"abc", headers={"Expect": "100-continue"})
        assert conn.getresponse().status == 201
        conn.close()
    assert proxy.counters.requests == 4 and proxy.counters.injected == 0
    assert _Handler.received == [b"abc"]


def test_burst_answers_503_without_reaching_the_server(server) -> None:  # type: ignore[no-untyped-def]
    with FaultProxy("127.0.0.1", server.server_address[1], seed=1, rates=_only("burst")) as p:
        conn = http.client.HTTPConnection(p.host, timeout=5)
        conn.request("PUT", "/y", body=b"abc")
        resp = conn.getresponse()
        assert resp.status == 503 and b"SlowDown" in resp.read()
    assert _Handler.received == []
    assert p.counters.faults["burst"] == 1


def test_truncate_and_reset_cut_the_body(server) -> None:  # type: ignore[no-untyped-def]
    for kind, error in (("truncate", http.client.IncompleteRead), ("reset_response", OSError)):
        with FaultProxy("127.0.0.1", server.server_address[1], seed=1, rates=_only(kind)) as p:
            with pytest.raises((error, http.client.IncompleteRead)):
                _get(p)
        assert p.counters.faults[kind] == 1


def test_reset_request_leaves_the_server_with_half_a_body(server) -> None:  # type: ignore[no-untyped-def]
    with FaultProxy(
        "127.0.0.1", server.server_address[1], seed=1, rates=_only("reset_request")
    ) as p:
        conn = http.client.HTTPConnection(p.host, timeout=5)
        with pytest.raises((OSError, http.client.HTTPException)):
            conn.request("PUT", "/y", body=b"x" * 10_000)
            conn.getresponse().read()
    assert _Handler.received == []


def test_stall_outlasts_a_client_timeout(server) -> None:  # type: ignore[no-untyped-def]
    with FaultProxy(
        "127.0.0.1", server.server_address[1], seed=1, rates=_only("stall"), stall_seconds=2
    ) as p:
        with pytest.raises(TimeoutError):
            _get(p, timeout=0.5)
    assert p.counters.faults["stall"] == 1


def test_retries_count_repeats_of_a_faulted_request(server) -> None:  # type: ignore[no-untyped-def]
    # Seeded so that some GETs fail: every failed one is asked again until it works.
    with FaultProxy("127.0.0.1", server.server_address[1], seed=3, rates=Rates(truncate=0.3)) as p:
        for _ in range(20):
            while True:
                try:
                    assert _get(p) == (200, BODY)
                    break
                except http.client.HTTPException:
                    continue
    assert p.counters.injected > 0
    assert p.counters.retries == p.counters.injected
    assert p.counters.requests == 20 + p.counters.injected
