"""The console's app over a real file:// store, through Starlette's test client:
pages, escaping, the deck sandbox, live events, the token and Host guards."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("starlette")

from flyteidl.core import literals_pb2  # noqa: E402
from starlette.testclient import TestClient  # noqa: E402

from pack.packager.store import FileStore  # noqa: E402
from pack.runs import keys  # noqa: E402
from pack.runs.runstore import RunStore, new_record  # noqa: E402
from pack.ui.app import COOKIE, DECK_CSP, LOOPBACK_HOSTS, Settings, create_app  # noqa: E402
from pack.ui.views import timeline  # noqa: E402

TOKEN = "s3cret-token-for-tests"


def finished(
    runs: RunStore,
    run_id: str,
    *,
    task: str = "wf.main",
    status: str = "succeeded",
    now: float = 1_700_000_000.0,
    **kw: Any,
) -> None:
    record = new_record(run_id, task=task, backend="local", now=now, inputs={"x": 1}, **kw)
    record = record.attempt_started(1, name=f"main-{run_id}-1", now=now + 1)
    record = record.attempt_ended(1, succeeded=status == "succeeded", now=now + 2)
    runs.put(
        record.finished(
            status,
            now=now + 2,
            timings={"total": 2.0, "task": 1.0},  # type: ignore[arg-type]
            error=None if status == "succeeded" else "E: <b>bad</b>",
        )
    )


@pytest.fixture
def store(tmp_path: Path) -> RunStore:
    return RunStore(FileStore(tmp_path), tmp_path.as_uri())


def client(store: RunStore, **kw: Any) -> TestClient:
    app = create_app(Settings(store.url, poll_seconds=0.05), **kw)
    return TestClient(app, base_url="http://127.0.0.1:8765")


def test_list_and_run_pages(store: RunStore) -> None:
    finished(store, "rone", task="wf.<script>")
    finished(store, "rtwo", status="failed", now=1_700_000_100.0)
    store.put_log("rone", 1, "hello <b>log</b>\n")
    lit = literals_pb2.Literal(
        scalar=literals_pb2.Scalar(primitive=literals_pb2.Primitive(integer=42))
    )
    store.store.put_bytes(
        keys.attempt_key("rone", 1, "outputs.pb"),
        literals_pb2.LiteralMap(literals={"o0": lit}).SerializeToString(),
    )
    c = client(store)
    page = c.get("/")
    assert page.status_code == 200
    assert page.text.index("rtwo") < page.text.index("rone")  # newest first
    assert "wf.&lt;script&gt;" in page.text and "<script>" not in page.text.split("</head>")[1]
    assert "E: &lt;b&gt;bad&lt;/b&gt;" in page.text
    assert "default-src 'none'" in page.headers["content-security-policy"]
    failed_only = c.get("/", params={"status": "failed"}).text
    assert "rtwo" in failed_only and "rone" not in failed_only

    run = c.get("/runs/rone")
    assert run.status_code == 200
    assert "hello &lt;b&gt;log&lt;/b&gt;" in run.text and ">42</pre>" in run.text
    assert "data-live-run" not in run.text  # a finished run is not followed
    assert c.get("/runs/rone/log.txt").text == "hello <b>log</b>\n"
    missing = c.get("/runs/rnothere")
    assert missing.status_code == 404 and store.url in missing.text
    assert c.get("/runs/..%2F..%2Fetc").status_code == 404


def test_a_deck_is_served_sandboxed(store: RunStore) -> None:
    finished(store, "rdeck", deck=True)
    store.store.put_bytes(keys.deck_key("rdeck", 1), b"<script>alert(1)</script><p>deck</p>")
    c = client(store)
    assert 'sandbox="allow-popups"' in c.get("/runs/rdeck").text
    deck = c.get("/runs/rdeck/deck")
    assert deck.headers["content-security-policy"] == DECK_CSP
    assert deck.text.endswith("<p>deck</p>")
    assert c.get("/runs/rdeck/deck", params={"attempt": "7"}).status_code == 200  # latest
    finished(store, "rnodeck")
    assert c.get("/runs/rnodeck/deck").status_code == 404


def test_live_run_events_send_status_and_new_log_lines(store: RunStore) -> None:
    record = new_record("rlive", task="wf.main", backend="local", now=1.0)
    store.put(record := record.attempt_started(1, name="main-rlive-1", now=2.0))
    store.put_log("rlive", 1, "first\n")
    c = client(store)
    assert 'data-live-run="/events/runs/rlive?attempt=1&amp;shown=6"' in c.get("/runs/rlive").text

    # The run ends while nobody watches; the stream sends what is new after `shown`, then done.
    store.put_log("rlive", 1, "first\nsecond\n")
    record = record.attempt_ended(1, succeeded=True, now=3.0)
    store.put(record.finished("succeeded", now=3.0))
    with c.stream("GET", "/events/runs/rlive", params={"attempt": 1, "shown": 6}) as events:
        text = "".join(events.iter_text())
    assert "event: live\n" in text and "succeeded" in text
    assert "event: log\ndata: second\ndata: \n\n" in text
    assert text.rstrip().endswith("event: done\ndata: succeeded")


def test_loopback_console_refuses_other_host_names(store: RunStore) -> None:
    c = client(store, allowed_hosts=LOOPBACK_HOSTS)
    assert c.get("/healthz").status_code == 200
    assert c.get("/healthz", headers={"host": "attacker.example"}).status_code == 400


def test_remote_console_needs_the_token(store: RunStore) -> None:
    finished(store, "rone")
    c = client(store, token=TOKEN)
    assert c.get("/").status_code == 401
    assert c.get("/", params={"token": "wrong-token-000000"}).status_code == 401
    assert c.get("/", headers={"authorization": f"Bearer {TOKEN}"}).status_code == 200
    entry = c.get("/runs/rone", params={"token": TOKEN, "attempt": 1}, follow_redirects=False)
    assert entry.status_code == 303 and entry.headers["location"] == "/runs/rone?attempt=1"
    assert "httponly" in entry.headers["set-cookie"].lower()
    assert c.cookies.get(COOKIE) == TOKEN
    assert c.get("/runs/rone").status_code == 200  # the cookie from now on


def test_timeline_places_phases_one_after_another() -> None:
    bars = timeline({"package": 1.0, "image": 1.0, "task": 2.0, "total": 4.0, "attempt": 3.0})
    assert [(b.name, b.start, b.width) for b in bars] == [
        ("package", 0.0, 25.0),
        ("image", 25.0, 25.0),
        ("task", 50.0, 50.0),
    ]
    assert timeline({}) == []


def test_a_store_that_says_no_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    from pack.errors import StoreError

    class Refusing(FileStore):
        def list_keys(self, *args: Any, **kwargs: Any) -> Any:
            raise StoreError("cannot list s3://b/index/runs/: AccessDenied: no")

    from pack.ui import app as app_module

    app = create_app(Settings(tmp_path.as_uri()))
    c = TestClient(app, base_url="http://127.0.0.1:8765", raise_server_exceptions=False)
    # The handlers' store, swapped for one that refuses every listing.
    console = next(r.endpoint.__self__ for r in app.routes if r.path == "/")  # type: ignore[attr-defined]
    console.runs = RunStore(Refusing(tmp_path), tmp_path.as_uri())
    page = c.get("/")
    assert page.status_code == 502
    assert page.text == "pack ui: cannot list s3://b/index/runs/: AccessDenied: no\n"
    assert app_module.PAGE_CSP in page.headers["content-security-policy"]
