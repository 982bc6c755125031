"""The review station's web application: the queue, the crops, the certificate view.

``medocr review RESULTS.db`` serves it on 127.0.0.1 (docs/review.md). The routes:

======================== ===================================================================
``GET /``                the queue page (filters ``kind``, ``batch``, ``order`` and a start
                         ``item`` in the query string); ``/?token=T`` sets the cookie and
                         redirects to the same address without the token
``GET /api/next``        ``{"item", "counts"}``: the next undecided field after ``after``
``GET /api/item/{id}``   ``{"item", "counts"}`` of one field
``GET /crop/{id}.png``   the field cut from its scan, with context
``GET /page/{id}.png``   the page holding the field, its boxes coloured by route
``POST /api/save``       ``{"id", "action", "text", "kind"?, "batch"?, "order"?}`` →
                         ``{"saved", "next", "counts"}``
``GET /certificate/{id}`` every field of the page holding the field, with routes and
                         corrections
``GET /static/review.*`` the page's script and style sheet
======================== ===================================================================

Why Starlette and uvicorn: the station is a handful of routes for one or two operators on
one machine. Starlette is a small, maintained ASGI toolkit (no ORM, no template engine, no
JavaScript build step); uvicorn is the usual ASGI server, started in process on a socket we
bind ourselves (so ``--port 0`` can print the real port). Synchronous endpoints run in
Starlette's thread pool, so the SQLite store stays plain blocking code behind one lock.
The page is plain HTML with one static script and one style sheet; nothing to build,
nothing fetched from elsewhere.

Security: every request, images and the script included, needs the access token (cookie
``medocr_token``, header ``X-Medocr-Token`` or query ``token``; compared in constant time),
else 403. Crops are named by field id only; the client never names a file. The only write
is ``POST /api/save``: JSON only, refused when an ``Origin`` header names another origin.
Every answer carries a Content-Security-Policy that allows this origin's script, style and
images only (no inline script), ``nosniff``, ``no-referrer`` and ``no-store``. Nothing
recognised is logged; :func:`serve` turns uvicorn's access log off, since query strings
may hold the token.
"""

from __future__ import annotations

import html
import ipaddress
import json
import logging
import re
import secrets
import socket
import sys
import threading
import time
import webbrowser
from collections.abc import Awaitable, Callable, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import numpy as np
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)
from starlette.routing import Route

from medocr.errors import MedocrError
from medocr.review.crops import PageCache, field_png, page_view_png
from medocr.review.store import MAX_REVIEWER, ORDERS, ReviewError, ReviewItem, ReviewStore

__all__ = ["COOKIE", "TOKEN_HEADER", "create_app", "is_loopback", "serve"]

logger = logging.getLogger(__name__)

#: The cookie that carries the access token after ``GET /?token=T``.
COOKIE = "medocr_token"
#: The request header that may carry the access token instead.
TOKEN_HEADER = "x-medocr-token"
#: An optional header naming one browser tab: a field shown to one tab is not offered to
#: another for :data:`LEASE_SECONDS` (two operators on one queue get different fields).
CLIENT_HEADER = "x-medocr-client"
LEASE_SECONDS = 120.0
#: Grey levels and PNG compression of a crop: on noisy scans, 16 levels look the same and
#: make the PNG 3-8 times smaller; level 3 encodes 2-5 times faster than 6 for 10 % more bytes.
CROP_LEVELS = 16
CROP_COMPRESSION = 3
MIN_TOKEN = 16  # characters
MAX_BODY = 64 * 1024  # bytes of one save
MAX_ID = 2**63 - 1  # SQLite's largest row id
SECURITY_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self'; script-src 'self'; style-src 'self'; "
        b"object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cache-control", b"no-store"),
]
FORBIDDEN = (
    "403 forbidden: this address needs the access token. Open the URL that "
    "`medocr review` printed (http://HOST:PORT/?token=...)."
)
_CLIENT_ID = re.compile(r"[A-Za-z0-9_-]{8,64}")
_STATIC = {"review.js": "text/javascript; charset=utf-8", "review.css": "text/css; charset=utf-8"}

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


# --- the application ----------------------------------------------------------------------


def create_app(
    store: ReviewStore,
    *,
    token: str,
    reviewer: str,
    page_cache: PageCache | None = None,
    allowed_hosts: tuple[str, ...] | None = None,
) -> Starlette:
    """Build the review station as an ASGI application.

    Parameters
    ----------
    store : ReviewStore
        The queue and corrections of one results database (shared by every request).
    token : str
        The access token every request must carry (at least 16 characters; make it with
        ``secrets.token_urlsafe(32)``).
    reviewer : str
        The name every correction saved through this application is recorded under.
    page_cache : PageCache, optional
        Decoded scans (default: a new cache of 6 pages).
    allowed_hosts : tuple of str, optional
        Host names (without port) the ``Host`` header may name; None accepts any. A server
        on a loopback address passes the loopback names, which defeats DNS rebinding.

    Returns
    -------
    starlette.applications.Starlette
        The application (routes in this module's docstring).

    Raises
    ------
    ValueError
        The token is too short or the reviewer name empty or too long.
    """
    if not isinstance(token, str) or len(token) < MIN_TOKEN:
        raise ValueError(f"the access token needs at least {MIN_TOKEN} characters")
    reviewer = " ".join(str(reviewer).split())
    if not reviewer or len(reviewer) > MAX_REVIEWER:
        raise ValueError(f"a reviewer name of 1 to {MAX_REVIEWER} characters is needed")
    station = _Station(store, token, reviewer, page_cache or PageCache())

    @asynccontextmanager
    async def lifespan(app: Starlette) -> Any:
        yield
        station.close()

    routes = [
        Route("/", station.queue_page, methods=["GET"]),
        Route("/api/next", station.next_item, methods=["GET"]),
        Route("/api/item/{field_id:int}", station.one_item, methods=["GET"]),
        Route("/api/save", station.save, methods=["POST"]),
        Route("/crop/{field_id:int}.png", station.crop, methods=["GET"]),
        Route("/page/{field_id:int}.png", station.page_view, methods=["GET"]),
        Route("/certificate/{field_id:int}", station.certificate_page, methods=["GET"]),
        Route("/static/{name:str}", station.static, methods=["GET"]),
    ]
    guard = Middleware(_Guard, token=token, allowed_hosts=allowed_hosts)
    app = Starlette(routes=routes, middleware=[guard], lifespan=lifespan)
    app.state.station = station
    return app


class _Guard:
    """ASGI middleware: token and Host checks on every request, security headers on answers."""

    def __init__(self, app: ASGIApp, token: str, allowed_hosts: tuple[str, ...] | None) -> None:
        self.app = app
        self.token = token.encode()
        self.allowed_hosts = allowed_hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [h for h in message.get("headers", []) if h[0] != b"cache-control"]
                message["headers"] = headers + SECURITY_HEADERS
            await send(message)

        if self.allowed_hosts is not None and request.url.hostname not in self.allowed_hosts:
            response: Response = PlainTextResponse("400: unexpected Host header", 400)
        elif not self._authorised(request):
            response = PlainTextResponse(FORBIDDEN, 403)
        else:
            await self.app(scope, receive, send_with_headers)
            return
        await response(scope, receive, send_with_headers)

    def _authorised(self, request: Request) -> bool:
        for given in (
            request.cookies.get(COOKIE),
            request.headers.get(TOKEN_HEADER),
            request.query_params.get("token"),
        ):
            if given is not None and secrets.compare_digest(given.encode(), self.token):
                return True
        return False


@dataclass(frozen=True)
class _Filters:
    kind: str | None = None
    batch: str | None = None
    order: str = "certificate"

    def query(self, **extra: Any) -> str:
        """Return the filters (and `extra`) as a query string, without empty values."""
        values = {"kind": self.kind, "batch": self.batch, "order": self.order, **extra}
        if values["order"] == "certificate":
            del values["order"]
        return urlencode({k: v for k, v in values.items() if v not in (None, "")})


class _Leases:
    """Which field each browser tab is looking at, so that two tabs get different fields."""

    def __init__(self, seconds: float = LEASE_SECONDS) -> None:
        self.seconds = seconds
        self._held: dict[str, tuple[int, float]] = {}
        self._lock = threading.Lock()

    def hold(self, client: str | None, field_id: int | None) -> None:
        if client is None:
            return
        now = time.monotonic()
        with self._lock:
            if field_id is None:
                self._held.pop(client, None)
            else:
                self._held[client] = (field_id, now + self.seconds)
            if len(self._held) > 1000:
                self._held = {c: h for c, h in self._held.items() if h[1] > now}

    def others(self, client: str | None) -> set[int]:
        """Fields held by tabs other than `client`."""
        now = time.monotonic()
        with self._lock:
            return {f for c, (f, until) in self._held.items() if c != client and until > now}


class _Station:
    """The endpoints, over one store, one page cache and one prefetching thread."""

    def __init__(self, store: ReviewStore, token: str, reviewer: str, pages: PageCache) -> None:
        self.store = store
        self.token = token
        self.reviewer = reviewer
        self.pages = pages
        self.kinds = store.kinds
        self.batches = store.batches
        self.leases = _Leases()
        self._page_locks = [threading.Lock() for _ in range(64)]
        self._prefetcher: ThreadPoolExecutor | None = None
        self._prefetch_lock = threading.Lock()
        self._generation = 0
        self._static = {name: _static_file(name) for name in _STATIC}

    def close(self) -> None:
        if self._prefetcher is not None:
            self._prefetcher.shutdown(wait=True, cancel_futures=True)
            self._prefetcher = None

    # --- pages ---------------------------------------------------------------------------

    def queue_page(self, request: Request) -> Response:
        if "token" in request.query_params:
            # the address printed holds the token: keep it in a cookie, not in the history
            rest = [(k, v) for k, v in request.query_params.multi_items() if k != "token"]
            response: Response = RedirectResponse(
                "/" + ("?" + urlencode(rest) if rest else ""), 303
            )
            given = request.query_params["token"].encode()
            if secrets.compare_digest(given, self.token.encode()):
                response.set_cookie(COOKIE, self.token, httponly=True, samesite="strict", path="/")
            return response
        try:
            filters = self._filters(request.query_params)
        except ReviewError as exc:
            return PlainTextResponse(f"400: {exc}", 400)
        return HTMLResponse(_queue_html(filters, self.kinds, self.batches))

    def certificate_page(self, request: Request) -> Response:
        field_id = int(request.path_params["field_id"])
        try:
            filters = self._filters(request.query_params)
            items = self.store.certificate(_checked_id(field_id))
        except KeyError:
            return PlainTextResponse(f"404: no field with id {field_id}", 404)
        except ReviewError as exc:
            return PlainTextResponse(f"400: {exc}", 400)
        return HTMLResponse(_certificate_html(field_id, items, filters))

    def static(self, request: Request) -> Response:
        name = request.path_params["name"]
        if name not in self._static:
            return PlainTextResponse("404: no such file", 404)
        return Response(self._static[name], media_type=_STATIC[name])

    # --- API -----------------------------------------------------------------------------

    def next_item(self, request: Request) -> Response:
        try:
            filters = self._filters(request.query_params)
            after = _optional_int(request.query_params.get("after"), "after")
        except ReviewError as exc:
            return _error(400, str(exc))
        client = _client(request)
        field_id = self._next(after, filters, client)
        return JSONResponse(self._answer(field_id, filters, client))

    def one_item(self, request: Request) -> Response:
        field_id = int(request.path_params["field_id"])
        try:
            filters = self._filters(request.query_params)
            _checked_id(field_id)
            self.store.item(field_id)
        except KeyError:
            return _error(404, f"no field with id {field_id}")
        except ReviewError as exc:
            return _error(400, str(exc))
        return JSONResponse(self._answer(field_id, filters, _client(request)))

    async def save(self, request: Request) -> Response:
        refused = _same_origin_refusal(request)
        if refused:
            return _error(403, refused)
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != "application/json":
            return _error(415, "a save is a JSON body (Content-Type: application/json)")
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY:
                return _error(413, f"a save holds at most {MAX_BODY} bytes")
        try:
            data = json.loads(body)
            if not isinstance(data, dict):
                raise ReviewError("a save is a JSON object")
            filters = self._filters(data)
            field_id = _json_id(data.get("id"))
        except (ValueError, ReviewError) as exc:
            return _error(400, f"bad save: {exc}")
        client = _client(request)
        try:
            answer = await run_in_threadpool(self._save, field_id, data, filters, client)
        except KeyError:
            return _error(404, f"no field with id {field_id}")
        except ReviewError as exc:
            return _error(400, str(exc))
        return JSONResponse(answer)

    def _save(
        self, field_id: int, data: dict[str, Any], filters: _Filters, client: str | None
    ) -> dict[str, Any]:
        action, text = data.get("action"), data.get("text", "")
        if not isinstance(action, str):
            raise ReviewError("the action must be a string (correct, choose or illegible)")
        text = text if text is not None else ""
        if action == "choose":
            item = self.store.item(field_id)
            if not isinstance(text, str) or _spaced(text) not in map(_spaced, item.alternatives):
                raise ReviewError("choose saves one of the field's alternatives; this is none")
        saved = self.store.save(field_id, action, text, self.reviewer)
        logger.debug("saved a correction of field %d", field_id)
        answer = self._answer(self._next(field_id, filters, client), filters, client)
        return {"saved": saved.to_dict(), "next": answer["item"], "counts": answer["counts"]}

    # --- images --------------------------------------------------------------------------

    def crop(self, request: Request) -> Response:
        field_id = int(request.path_params["field_id"])
        found = self._scan(field_id)
        if isinstance(found, Response):
            return found
        item, page = found
        if item.bbox is None:
            return PlainTextResponse("404: this field has no box on its page", 404)
        data = field_png(page, item.bbox, levels=CROP_LEVELS, compression=CROP_COMPRESSION)
        return Response(data, media_type="image/png")

    def page_view(self, request: Request) -> Response:
        field_id = int(request.path_params["field_id"])
        found = self._scan(field_id)
        if isinstance(found, Response):
            return found
        item, page = found
        boxes = [(i.bbox, i.route) for i in self.store.certificate(field_id) if i.bbox]
        return Response(page_view_png(page, boxes, item.bbox), media_type="image/png")

    def _scan(self, field_id: int) -> tuple[ReviewItem, np.ndarray] | Response:
        """Return the field and its decoded page, or the 404 answer saying why not."""
        try:
            item = self.store.item(_checked_id(field_id))
        except KeyError:
            return PlainTextResponse(f"404: no field with id {field_id}", 404)
        try:
            return item, self._page(field_id)
        except (MedocrError, OSError, IndexError, ValueError):
            return PlainTextResponse("404: the scan of this field is not available", 404)

    def _page(self, field_id: int) -> np.ndarray:
        """Return the decoded page of a field (one thread decodes it, the others wait)."""
        path, page_index = self.store.source(field_id)
        lock = self._page_locks[hash((str(path), page_index)) % len(self._page_locks)]
        with lock:
            return self.pages.get(path, page_index)

    def _prefetch(self, field_id: int | None, filters: _Filters, client: str | None) -> None:
        """Decode, in the background, the page of `field_id` and of the field after it."""
        if field_id is None:
            return
        with self._prefetch_lock:
            self._generation += 1
            generation = self._generation
            if self._prefetcher is None:
                self._prefetcher = ThreadPoolExecutor(1, thread_name_prefix="medocr-prefetch")
            self._prefetcher.submit(self._warm, generation, field_id, filters, client)

    def _warm(self, generation: int, field_id: int, filters: _Filters, client: str | None) -> None:
        try:
            following = self._next(field_id, filters, client)
            for wanted in (field_id, following):
                if wanted is None or generation != self._generation:
                    return  # a later request wants other pages
                self._page(wanted)
        except (MedocrError, KeyError, OSError, IndexError, ValueError):  # reported when asked
            logger.debug("prefetch after field %d stopped", field_id)

    # --- helpers -------------------------------------------------------------------------

    def _filters(self, values: Any) -> _Filters:
        kind = values.get("kind") or None
        batch = values.get("batch") or None
        order = values.get("order") or "certificate"
        if kind is not None and kind not in self.kinds:
            raise ReviewError(f"no field of kind {kind!r} to review")
        if batch is not None and batch not in self.batches:
            raise ReviewError(f"no batch {batch!r} to review")
        if order not in ORDERS:
            raise ReviewError(f"unknown order {order!r}; choose one of {', '.join(ORDERS)}")
        return _Filters(kind, batch, order)

    def _next(self, after: int | None, filters: _Filters, client: str | None) -> int | None:
        """Return the next undecided field after `after`, passing over other tabs' fields.

        When every undecided field is on another tab's screen, the first of them.
        """
        taken = self.leases.others(client)
        first, cursor = None, after
        for _ in range(len(taken) + 1):
            field_id = self.store.next_pending(
                cursor, kind=filters.kind, batch=filters.batch, order=filters.order
            )
            if field_id is None or field_id not in taken:
                return field_id
            if first is None:
                first = field_id
            elif field_id == first:  # wrapped around
                break
            cursor = field_id
        return first

    def _answer(
        self, field_id: int | None, filters: _Filters, client: str | None
    ) -> dict[str, Any]:
        item = self.store.item(field_id).to_dict() if field_id is not None else None
        self.leases.hold(client, field_id)
        self._prefetch(field_id, filters, client)
        return {"item": item, "counts": self.store.counts(kind=filters.kind, batch=filters.batch)}


def _static_file(name: str) -> bytes:
    return resources.files("medocr.review").joinpath("static", name).read_bytes()


def _spaced(text: str) -> str:
    return " ".join(text.split())


def _client(request: Request) -> str | None:
    client = request.headers.get(CLIENT_HEADER)
    return client if client is not None and _CLIENT_ID.fullmatch(client) else None


def _checked_id(field_id: int) -> int:
    if not 0 < field_id <= MAX_ID:
        raise KeyError(field_id)
    return field_id


def _optional_int(value: str | None, name: str) -> int | None:
    if value in (None, ""):
        return None
    try:
        return int(value)
    except ValueError:
        raise ReviewError(f"{name} must be a field id (a whole number), not {value!r}") from None


def _json_id(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ReviewError(f"id must be a field id (a whole number), not {value!r}")
    return value


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status)


def _same_origin_refusal(request: Request) -> str | None:
    """Why a write comes from another origin, or None when it does not."""
    origin = request.headers.get("origin")
    own = f"{request.url.scheme}://{request.url.netloc}"
    if origin is not None and origin != own:
        return f"cross-origin write refused (from {origin[:100]!r})"
    if request.headers.get("sec-fetch-site") not in (None, "same-origin", "none"):
        return "cross-site write refused"
    return None


# --- HTML ---------------------------------------------------------------------------------


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _document(title: str, page: str, body: str) -> str:
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<title>{_e(title)}</title><link rel="stylesheet" href="/static/review.css">'
        '<script src="/static/review.js" defer></script></head>'
        f'<body data-page="{_e(page)}">{body}</body></html>\n'
    )


def _options(values: list[str], selected: str | None, everything: str) -> str:
    out = [f'<option value=""{" selected" if selected is None else ""}>{_e(everything)}</option>']
    for value in values:
        mark = " selected" if value == selected else ""
        out.append(f'<option value="{_e(value)}"{mark}>{_e(value)}</option>')
    return "".join(out)


def _queue_html(filters: _Filters, kinds: list[str], batches: list[str]) -> str:
    orders = "".join(
        f'<option value="{o}"{" selected" if o == filters.order else ""}>{o}</option>'
        for o in ORDERS
    )
    body = (
        '<header><h1>medocr review</h1><form id="filters" method="get" action="/">'
        f'<label>Kind <select name="kind">{_options(kinds, filters.kind, "all kinds")}'
        "</select></label> "
        f'<label>Batch <select name="batch">{_options(batches, filters.batch, "all batches")}'
        "</select></label> "
        f'<label>Order <select name="order">{orders}</select></label> '
        '<button type="submit">Apply</button></form>'
        '<p id="counter" aria-live="polite"></p></header>'
        '<main><section id="item" hidden>'
        '<p class="where"><span id="field-name"></span> <span id="field-kind"></span> '
        '<span id="field-source"></span> <span id="field-confidence"></span> '
        '<a id="certificate-link" href="/">certificate view</a></p>'
        '<div class="crop"><img id="crop" alt=""><p id="crop-missing" hidden></p></div>'
        '<p class="reading">Reading: <span id="reading"></span></p>'
        '<ol id="alternatives"></ol>'
        '<p><label for="answer">Text</label> '
        '<input id="answer" type="text" autocomplete="off" spellcheck="false" '
        'maxlength="2000"></p>'
        '<p id="previous" hidden></p>'
        '<p class="keys"><kbd>1</kbd>–<kbd>5</kbd> as the first key: choose that alternative · '
        "<kbd>Enter</kbd> save the text · <kbd>Tab</kbd> skip · <kbd>Esc</kbd> illegible · "
        "<kbd>Shift</kbd>+<kbd>Tab</kbd> back to the filters</p></section>"
        '<p id="empty" hidden>Nothing left to review with these filters.</p>'
        '<p id="status" role="status"></p></main>'
    )
    return _document("medocr review", "queue", body)


def _certificate_html(field_id: int, items: list[ReviewItem], filters: _Filters) -> str:
    first = items[0]
    rows = []
    for item in items:
        correction = item.correction
        decided = ""
        if correction:
            said = "" if correction.action == "illegible" else f": <q>{_e(correction.text)}</q>"
            decided = (
                f"{_e(correction.action)}{said} by {_e(correction.reviewer)} "
                f"at {_e(correction.saved_at)}"
            )
        mark = ' class="current"' if item.field_id == field_id else ""
        link = f"/?{filters.query(item=item.field_id)}"
        rows.append(
            f'<tr{mark}><td><a href="{_e(link)}">{_e(item.name)}</a></td><td>{_e(item.kind)}</td>'
            f'<td class="text">{_e(item.text)}</td><td>{item.confidence:.0%}</td>'
            f'<td class="route {_e(item.route)}">{_e(item.route)}</td>'
            f'<td class="text">{decided}</td></tr>'
        )
    back = f"/?{filters.query(item=field_id)}"
    body = (
        f"<header><h1>Certificate {_e(first.path)}, page {first.page_index + 1}</h1>"
        f'<p><a id="back" href="{_e(back)}">Back to the queue</a> '
        '(<kbd>Esc</kbd>)</p></header><main class="certificate">'
        f'<div class="page"><img id="page-view" src="/page/{field_id}.png" '
        f'alt="the page with its fields"><p id="page-missing" hidden>'
        "The scan of this certificate is not available.</p>"
        '<p class="legend">Boxes: <span class="route review">review</span>, '
        '<span class="route accept">accept</span>; the thick one is this field.</p></div>'
        "<table><thead><tr><th>Field</th><th>Kind</th><th>Machine reading</th>"
        "<th>Confidence</th><th>Route</th><th>Correction</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table></main>"
    )
    return _document(f"medocr review: {first.path}", "certificate", body)


# --- serving ------------------------------------------------------------------------------

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")


def is_loopback(host: str) -> bool:
    """Whether `host` (a name or an address) only reaches this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def serve(
    db: str | Path,
    host: str = "127.0.0.1",
    port: int = 8765,
    reviewer: str = "reviewer",
    images: str | Path | None = None,
    allow_remote: bool = False,
    open_browser: bool = True,
    *,
    token: str | None = None,
) -> None:
    """Serve the review station of a results database until interrupted (Ctrl-C).

    Prints the address with its access token on stdout (like Jupyter).

    Parameters
    ----------
    db : str or PathLike
        A results database of ``medocr batch``.
    host : str
        Address to listen on; a loopback address unless `allow_remote`.
    port : int
        Port (0: any free port; the one taken is printed).
    reviewer : str
        Name the corrections are recorded under.
    images : str or PathLike, optional
        The folder the batch read, when the scans moved.
    allow_remote : bool
        Allow a non-loopback `host` (other machines can then reach the station; the token
        is still needed, but travels unencrypted).
    open_browser : bool
        Open the address in the default browser.
    token : str, optional
        The access token (default: a new random one).

    Raises
    ------
    ReviewError
        A non-loopback `host` without `allow_remote`, a database that cannot be reviewed,
        or an address that cannot be listened on.
    """
    import uvicorn

    if not is_loopback(host) and not allow_remote:
        raise ReviewError(
            f"refusing to serve on {host}: it is not a loopback address, so other machines "
            "could reach the station. Pass allow_remote=True (medocr review --host) to do it"
        )
    store = ReviewStore(db, images=images)
    try:
        token = token or secrets.token_urlsafe(32)
        hosts = None if not is_loopback(host) else (*LOOPBACK_NAMES, host.strip("[]"))
        app = create_app(store, token=token, reviewer=reviewer, allowed_hosts=hosts)
        sock = _listen(host, port)
        real_port = sock.getsockname()[1]
        shown = f"[{host}]" if ":" in host else host
        url = f"http://{shown}:{real_port}/?token={token}"
        counts = store.counts()
        print(
            f"medocr review: {counts['remaining']} of {counts['total']} fields to review in "
            f"{db}\nOpen this address in a browser (it holds the access token):\n    {url}\n"
            "Press Ctrl+C to stop.",
            flush=True,
        )
        if open_browser:
            threading.Timer(0.5, webbrowser.open, (url,)).start()
        config = uvicorn.Config(
            app, access_log=False, log_level="warning", server_header=False, lifespan="on"
        )
        try:
            uvicorn.Server(config).run(sockets=[sock])
        except KeyboardInterrupt:  # uvicorn stops cleanly, then raises Ctrl+C again
            print("medocr review: stopped; every decision is saved.", flush=True)
    finally:
        store.close()


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio turns Nagle off (TCP_NODELAY) on accepted connections only
    # for sockets of that protocol; else each answer waits ~40 ms for a delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        if sys.platform != "win32":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host.strip("[]"), port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise ReviewError(f"cannot listen on {host}:{port} ({exc.strerror or exc})") from exc
    sock.set_inheritable(True)
    return sock
