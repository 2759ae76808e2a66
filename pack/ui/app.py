"""The console's Starlette application: pages, live streams, and who may read them.

Pages are rendered here from the store's run records (pack.runs) and nothing else.
Live views are server-sent events: the server re-reads the store every
`poll_seconds` and sends a fragment only when it changed (a new run in the list, a
status, the log's new lines), so the page needs no reload and little JavaScript.

Access: bound to loopback, only requests naming a loopback Host are served (a DNS
rebinding page cannot read it); bound elsewhere, every request needs the token
(`?token=` once, then an HttpOnly cookie). Decks are the task's own HTML: they are
served under a CSP sandbox, in an iframe, so no script in one can act as the console.
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    HTMLResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from pack.errors import PackError, StoreError
from pack.runs import keys
from pack.runs.literals import literal_map_values
from pack.runs.record import STATUSES, RunRecord
from pack.runs.runstore import RunStore
from pack.runs.settle import settle
from pack.ui import views

COOKIE = "pack_ui_token"
LOOPBACK_HOSTS = ["127.0.0.1", "localhost"]
PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; frame-src 'self'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
# A deck is the task's HTML: no script runs with the console's origin, nothing is fetched.
DECK_CSP = (
    "sandbox allow-popups; default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
    "frame-ancestors 'self'"
)
STATIC = Path(__file__).parent / "static"


@dataclass(frozen=True)
class Settings:
    store_url: str
    poll_seconds: float = 1.0
    list_limit: int = 50


def _env() -> Environment:
    env = Environment(
        loader=PackageLoader("pack.ui", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
    )
    env.globals.update(when=views.when, took=views.took, shown=views.shown, statuses=STATUSES)
    return env


class TokenGuard:
    """Every request carries the token: `?token=` (answered with a cookie and a
    redirect that drops it from the address bar), the cookie, or a Bearer header."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.token = token

    def _ok(self, value: str | None) -> bool:
        return value is not None and hmac.compare_digest(value.encode(), self.token.encode())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        given = request.query_params.get("token")
        if given is not None:
            if not self._ok(given):
                await _denied()(scope, receive, send)
                return
            rest = [(k, v) for k, v in request.query_params.multi_items() if k != "token"]
            target = request.url.path + (f"?{urlencode(rest)}" if rest else "")
            answer = RedirectResponse(target, status_code=303)
            answer.set_cookie(COOKIE, self.token, httponly=True, samesite="strict")
            await answer(scope, receive, send)
            return
        bearer = request.headers.get("authorization", "")
        bearer_token = bearer[7:] if bearer.lower().startswith("bearer ") else None
        if self._ok(request.cookies.get(COOKIE)) or self._ok(bearer_token):
            await self.app(scope, receive, send)
            return
        await _denied()(scope, receive, send)


def _denied() -> Response:
    return PlainTextResponse(
        "pack ui: this console needs its token (open the address `pack ui` printed, "
        "or send Authorization: Bearer TOKEN)\n",
        status_code=401,
    )


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {k.lower() for k, _ in headers}
                if b"content-security-policy" not in names:
                    headers.append((b"content-security-policy", PAGE_CSP.encode()))
                headers += [
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"no-referrer"),
                ]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


def _sse(event: str, data: str) -> str:
    lines = "".join(f"data: {line}\n" for line in data.split("\n"))
    return f"event: {event}\n{lines}\n"


class Console:
    """The handlers, over one RunStore."""

    def __init__(self, settings: Settings, runs: RunStore) -> None:
        self.settings = settings
        self.runs = runs
        self.env = _env()

    def render(self, template: str, **context: Any) -> str:
        return self.env.get_template(template).render(store=self.runs.url, **context)

    # --- reading the store (blocking; called in the thread pool) -------------------------

    def _filters(self, request: Request) -> dict[str, Any]:
        status = request.query_params.get("status") or None
        task = request.query_params.get("task") or None
        return {"status": status if status in STATUSES else None, "task": task}

    def _rows(self, filters: dict[str, Any]) -> str:
        records = self.runs.recent(
            limit=self.settings.list_limit,
            refresh=lambda r: settle(self.runs, r),
            **filters,
        )
        return self.render("_rows.html.j2", records=records)

    def _record(self, run_id: str) -> RunRecord | None:
        try:
            return settle(self.runs, self.runs.get(run_id))
        except StoreError:
            return None

    def _values(self, key: str, order: list[str] | None = None) -> dict[str, Any] | None:
        try:
            return literal_map_values(self.runs.store.get_bytes(key), order or [])
        except StoreError:
            return None

    def _live(self, record: RunRecord) -> str:
        outputs = None
        latest = record.latest
        if record.status == "succeeded" and latest is not None:
            outputs = self._values(keys.attempt_key(record.id, latest.attempt, "outputs.pb"))
        tree = self.runs.tree(record.id)
        shown = bool(tree.children) or record.kind != "task"
        return self.render(
            "_run_live.html.j2",
            record=record,
            outputs=outputs,
            bars=views.timeline(record.timings),
            nodes=views.tree_nodes(tree) if shown else None,
            counts=views.status_counts(tree),
        )

    def _attempt(self, record: RunRecord, request: Request) -> int:
        try:
            asked = int(request.query_params.get("attempt", ""))
        except ValueError:
            asked = 0
        if record.attempt(asked) is not None:
            return asked
        return record.latest.attempt if record.latest else 1

    def _run_page(self, run_id: str, request: Request) -> str | None:
        record = self._record(run_id)
        if record is None:
            return None
        attempt = self._attempt(record, request)
        return self.render(
            "run.html.j2",
            record=record,
            attempt=attempt,
            live=self._live(record),
            inputs=self._values(keys.inputs_key(record.id), list(record.inputs)),
            log=self.runs.get_log(record.id, attempt),
            deck=self.runs.store.exists(keys.deck_key(record.id, attempt)),
        )

    # --- handlers ------------------------------------------------------------------------

    async def index(self, request: Request) -> Response:
        filters = self._filters(request)
        rows = await run_in_threadpool(self._rows, filters)
        query = urlencode({k: v for k, v in filters.items() if v})
        page = self.render(
            "runs.html.j2", rows=rows, filters=filters, events=f"/events/runs?{query}"
        )
        return HTMLResponse(page)

    async def run(self, request: Request) -> Response:
        run_id = request.path_params["run_id"]
        page = await run_in_threadpool(self._run_page, run_id, request)
        if page is None:
            return self._missing(run_id)
        return HTMLResponse(page)

    def _missing(self, run_id: str) -> Response:
        return HTMLResponse(self.render("missing.html.j2", run_id=run_id), status_code=404)

    async def log(self, request: Request) -> Response:
        run_id = request.path_params["run_id"]
        record = await run_in_threadpool(self._record, run_id)
        if record is None:
            return self._missing(run_id)
        text = await run_in_threadpool(self.runs.get_log, run_id, self._attempt(record, request))
        return PlainTextResponse(text or "")

    async def deck(self, request: Request) -> Response:
        run_id = request.path_params["run_id"]
        record = await run_in_threadpool(self._record, run_id)
        if record is None:
            return self._missing(run_id)
        key = keys.deck_key(run_id, self._attempt(record, request))
        try:
            page = await run_in_threadpool(self.runs.store.get_bytes, key)
        except StoreError:
            return PlainTextResponse("no deck for this attempt\n", status_code=404)
        return HTMLResponse(page, headers={"content-security-policy": DECK_CSP})

    async def list_events(self, request: Request) -> Response:
        filters = self._filters(request)

        async def stream() -> AsyncIterator[str]:
            last = None
            while not await request.is_disconnected():
                rows = await run_in_threadpool(self._rows, filters)
                if rows != last:
                    yield _sse("rows", rows)
                    last = rows
                await asyncio.sleep(self.settings.poll_seconds)

        return _event_stream(stream())

    async def run_events(self, request: Request) -> Response:
        run_id = request.path_params["run_id"]
        record = await run_in_threadpool(self._record, run_id)
        if record is None:
            return self._missing(run_id)
        attempt = self._attempt(record, request)
        shown_log = request.query_params.get("shown")
        offset = int(shown_log) if shown_log and shown_log.isdigit() else 0

        async def stream() -> AsyncIterator[str]:
            last_live, log_len = None, offset
            while not await request.is_disconnected():
                current = await run_in_threadpool(self._record, run_id)
                if current is None:
                    return
                live = await run_in_threadpool(self._live, current)
                if live != last_live:
                    yield _sse("live", live)
                    last_live = live
                text = await run_in_threadpool(self.runs.get_log, run_id, attempt) or ""
                if len(text) > log_len:
                    yield _sse("log", text[log_len:])
                    log_len = len(text)
                elif len(text) < log_len:  # the kept log was cut at its front
                    yield _sse("logreset", text)
                    log_len = len(text)
                if current.done:
                    yield _sse("done", current.status)
                    return
                await asyncio.sleep(self.settings.poll_seconds)

        return _event_stream(stream())

    async def static(self, request: Request) -> Response:
        name = request.path_params["name"]
        if name not in {p.name for p in STATIC.iterdir()}:
            return PlainTextResponse("not found\n", status_code=404)
        return FileResponse(STATIC / name)

    async def healthz(self, request: Request) -> Response:
        return PlainTextResponse("ok\n")


def _event_stream(stream: AsyncIterator[str]) -> Response:
    return StreamingResponse(
        stream,
        media_type="text/event-stream",
        headers={"cache-control": "no-cache", "x-accel-buffering": "no"},
    )


def create_app(
    settings: Settings, *, token: str | None = None, allowed_hosts: list[str] | None = None
) -> Starlette:
    """The console over `settings.store_url`. `token`: required on every request
    (remote binding); `allowed_hosts`: the Host names served (loopback binding)."""
    console = Console(settings, RunStore.open(settings.store_url))
    routes = [
        Route("/", console.index),
        Route("/runs/{run_id}", console.run),
        Route("/runs/{run_id}/log.txt", console.log),
        Route("/runs/{run_id}/deck", console.deck),
        Route("/events/runs", console.list_events),
        Route("/events/runs/{run_id}", console.run_events),
        Route("/static/{name}", console.static),
        Route("/healthz", console.healthz),
    ]

    async def store_error(request: Request, exc: Exception) -> Response:
        # The store said no (unreachable, credentials): one line, no traceback.
        return PlainTextResponse(f"pack ui: {exc}\n", status_code=502)

    middleware = [Middleware(SecurityHeaders)]
    if allowed_hosts:
        middleware.append(Middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts))
    if token is not None:
        middleware.append(Middleware(TokenGuard, token=token))
    return Starlette(
        routes=routes, middleware=middleware, exception_handlers={PackError: store_error}
    )
