"""The one route table: path -> handler, with every refusal checked in one place.

Handlers are generators of :mod:`~livedash.transport.steps`; they import no web framework
and do no I/O of their own, so one table serves Dash's Flask backend (through
:func:`~livedash.transport.steps.run_blocking`) and every ASGI server (through
:func:`livedash.transport.driver.drive`) with the same status codes, JSON bodies and headers.
"""

from __future__ import annotations

import contextlib
import json
import mimetypes
from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from livedash.errors import StoreError
from livedash.hub import Hub
from livedash.transport import ASSETS, TransportConfig
from livedash.transport import range as range_module
from livedash.transport.guard import new_secret
from livedash.transport.ingest import check_content_type, check_length, check_token, ingest
from livedash.transport.metrics import CONTENT_TYPE, hub_registry, render
from livedash.transport.params import BadRequest, StreamRequest, parse_float, parse_stream_request
from livedash.transport.poll import MAX_WAIT, poll
from livedash.transport.range import RETRY_AFTER, ReadPool, parse_range_request, range_body
from livedash.transport.sse import EventStream
from livedash.transport.steps import BLOCKING, Handler, ReadBody, Response, StreamStart, Wait
from livedash.transport.wire import parse_wire

#: Seconds browsers may cache the client script and styles (they are versioned by ``?v=``).
STATIC_MAX_AGE = 3600
#: Prometheus scrapes this path by convention, outside the livedash prefix.
METRICS_PATH = "/metrics"
#: Seconds a range request waits for its read at a time (a read's end wakes it at once).
RANGE_WAIT = 60.0


@dataclass
class Request:
    """The parts of an HTTP request the routes read, from any web framework."""

    method: str
    #: the path below the app's root (``/livedash/events``, ``/metrics``)
    path: str
    args: Mapping[str, list[str]]
    #: header names in lower case; repeated headers joined with ``", "``
    headers: Mapping[str, str]

    def get_list(self, name: str) -> list[str]:
        """Every value of query parameter ``name``."""
        return list(self.args.get(name, []))

    def get(self, name: str) -> str | None:
        """The first value of query parameter ``name``, or None."""
        values = self.args.get(name)
        return values[0] if values else None

    @property
    def content_length(self) -> int | None:
        """The declared body length; None when absent or not a number."""
        raw = self.headers.get("content-length")
        raw = None if raw is None else raw.strip()
        # ASCII digits only ("²" is a digit to str.isdigit), and few enough for int().
        if not raw or not raw.isascii() or not raw.isdigit() or len(raw) > 18:
            return None
        return int(raw)


def header_map(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """A request's headers as :attr:`Request.headers` wants them: names in lower case, a
    repeated header's values joined with ``", "``."""
    headers: dict[str, str] = {}
    for name, value in pairs:
        name = name.lower()
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return headers


def json_response(status: int, body: object, headers: dict[str, str] | None = None) -> Response:
    """A JSON response, compact, as every route answers."""
    data = (json.dumps(body, separators=(",", ":")) + "\n").encode()
    return Response(status, data, "application/json", headers or {})


def error_response(exc: Exception) -> Response:
    """The answer to a refused request (:class:`BadRequest`) or a store that is down."""
    if isinstance(exc, BadRequest):
        extra = {"WWW-Authenticate": 'Bearer realm="livedash"'} if exc.status == 401 else {}
        return json_response(exc.status, exc.to_json(), extra)
    if isinstance(exc, StoreError):
        # The store is down (Redis restarting, disk full): a retryable condition, not a bug.
        body = {"error": f"store unavailable, retry later: {exc}", "reason": "store"}
        return json_response(503, body, {"Retry-After": "1"})
    raise exc


def range_reads() -> ReadPool:
    """The heavy-read pool range reads run on: one per process (:data:`~livedash.transport.
    range.READS`, sized by ``LIVEDASH_HEAVY_READS`` and ``LIVEDASH_HEAVY_QUEUE``), because
    it bounds the process's CPU and memory whatever app or hub a read is for."""
    return range_module.READS


def busy_response(reads: ReadPool) -> Response:
    """429 with ``Retry-After``: every heavy-read slot of this process is taken."""
    body = {
        "error": f"too many heavy reads in progress ({reads.workers} running, {reads.queue} "
        f"waiting at most); retry after {RETRY_AFTER} s",
        "reason": "busy",
    }
    return json_response(429, body, {"Retry-After": str(RETRY_AFTER)})


Route = Callable[[Request], Handler]


class Routes:
    """Every route livedash serves for one mounted ``config`` on ``hub``."""

    def __init__(
        self,
        hub: Hub,
        config: TransportConfig,
        read_context: Callable[[Request], AbstractContextManager[object]] | None = None,
        secret: str | None = None,
    ) -> None:
        self.hub = hub
        self.config = config
        #: what a question to the app's own guards carries (:mod:`~livedash.transport.guard`)
        self.secret = secret or new_secret()
        #: what ``can_read`` runs inside: a Flask request context when a Flask app is served
        #: on an ASGI server, so the rule may read ``flask.request`` there as under WSGI
        self.read_context = read_context or (lambda request: contextlib.nullcontext())
        self.registry = hub_registry(hub)
        # path below the prefix -> (methods, handler); /static/ is matched by prefix
        self.table: dict[str, tuple[tuple[str, ...], Route]] = {
            "/events": (("GET", "HEAD"), self.events),
            "/poll": (("GET", "HEAD"), self.poll),
            "/range": (("GET", "HEAD"), self.range),
            "/publish": (("POST", "OPTIONS"), self.publish),
            "/health": (("GET", "HEAD"), self.health),
            "/static/": (("GET", "HEAD"), self.static),
        }

    def owns(self, path: str) -> bool:
        """True for the paths this table answers (everything else is the app's)."""
        return path == METRICS_PATH or path.startswith(self.config.prefix + "/")

    def guarded(self, request: Request) -> bool:
        """True when serving ``request`` in front of the app needs the app's own guards to
        let it through first (:func:`~livedash.transport.guard.ask`).

        Every route is guarded except ``/health`` (a load balancer's probe, which says only
        ok or 503) and a publish carrying the valid bearer token: the token is a credential
        of its own, for feeds that have no session. A publish without it passes the app's
        guards and then, when a token is configured, still needs the token (401)."""
        route = request.path[len(self.config.prefix) :]
        if request.path != METRICS_PATH and route == "/health":
            return False
        if route == "/publish" and self.config.token is not None:
            try:
                check_token(self.config.token, request.headers.get("authorization"))
            except BadRequest:
                return True
            return False
        return True

    def handle(self, request: Request) -> Handler:
        """The handler for ``request`` (a path :meth:`owns`); refusals become responses."""
        try:
            # The request is not kept in this frame while the response lasts (see events).
            dispatched = self._dispatch(request)
            del request
            return (yield from dispatched)
        except (BadRequest, StoreError) as exc:
            return error_response(exc)

    def _dispatch(self, request: Request) -> Handler:
        if request.path == METRICS_PATH:
            return Response(200, render(self.registry), CONTENT_TYPE)
        route = request.path[len(self.config.prefix) :]
        key = "/static/" if route.startswith("/static/") else route
        entry = self.table.get(key)
        if entry is None:
            return json_response(404, {"error": f"no livedash route {route!r}"})
        methods, handler = entry
        if request.method not in methods:
            allow = ", ".join(methods)
            return json_response(
                405,
                {"error": f"{request.method} not allowed; use {' or '.join(methods)}"},
                {"Allow": allow},
            )
        handling = handler(request)
        del request
        return (yield from handling)

    # -- the checks, once for every backend ----------------------------------------------
    def stream_request(self, request: Request) -> StreamRequest:
        """The streams a request asks for, refused (403) unless the tab may read them all."""
        req = parse_stream_request(request.get_list, request.headers.get("last-event-id"))
        self.check_read(request, req.streams)
        return req

    def check_read(self, request: Request, streams: list[str]) -> None:
        """Refuse (403) unless the app's read rule lets this request follow ``streams``."""
        if self.config.can_read is not None:
            with self.read_context(request):
                self.config.check_read(streams)

    def check_origin(self, request: Request) -> dict[str, str]:
        """Refuse a publish from a foreign web page (403); the CORS headers for an allowed one.

        Browsers send ``Origin`` with every cross-site POST and may send a ``text/plain`` one
        without asking first, so without this any page the user visits could write into their
        dashboard. A request without ``Origin`` is not from a browser page (curl, a feed)."""
        origin = request.headers.get("origin")
        if origin is None:
            return {}
        host = request.headers.get("host", "")
        if urlsplit(origin).netloc.lower() == host.lower() and host:
            return {}  # the dashboard's own page
        allowed = self.config.allowed_origins
        if "*" in allowed or origin in allowed:
            return {
                "Access-Control-Allow-Origin": origin,
                "Access-Control-Allow-Headers": "Authorization, Content-Type",
                "Access-Control-Allow-Methods": "POST",
                "Vary": "Origin",
            }
        raise BadRequest(
            f"publishing from origin {origin!r} is not allowed: a web page on another site "
            "may not write into this dashboard; list it in TransportConfig(allowed_origins=[...]) "
            "if it should",
            403,
            reason="foreign_origin",
        )

    # -- the routes ------------------------------------------------------------------------
    def events(self, request: Request) -> Handler:
        """``GET /events``: the event stream (Server-Sent Events)."""
        req = self.stream_request(request)
        wire = parse_wire(request.get("wire"))
        gzip = self.config.compress and "gzip" in request.headers.get("accept-encoding", "")
        head = request.method == "HEAD"
        # Read: none of the request (its query, every header) stays with the open stream.
        del request
        headers = {
            "Content-Type": "text/event-stream; charset=utf-8",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",
        }
        if gzip:
            headers["Content-Encoding"] = "gzip"
        # Format 2 is read by browsers, whose inflater outputs every decoded byte at once.
        yield StreamStart(headers, gzip, compact=wire == 2)
        del headers
        if head:  # the headers say it all; do not subscribe for nobody
            return None
        stream = EventStream(self.hub, req, self.config.heartbeat, wire, self.config.reauth)
        del req
        yield from stream.steps()
        return None

    def poll(self, request: Request) -> Handler:
        """``GET /poll``: the same events as JSON, optionally a long poll (``wait=``)."""
        req = self.stream_request(request)
        wait = parse_float(request.get("wait"), "wait", 0.0, MAX_WAIT, 0.0)
        body = yield from poll(self.hub, req, wait)
        return json_response(200, body, {"Cache-Control": "no-store"})

    def range(self, request: Request) -> Handler:
        """``GET /range``: a time window of a stream, downsampled for a graph.

        Read on the process's heavy-read pool (:class:`~livedash.transport.range.ReadPool`),
        not on the threads subscribing and publishing use; while it is full the request is
        answered 429 with ``Retry-After``, checked before anything else is done."""
        reads = range_reads()
        if reads.full():
            return busy_response(reads)
        req = parse_range_request(request.get, request.get_list)
        self.check_read(request, [req.stream])
        hub = self.hub
        job = reads.submit(lambda: range_body(hub, req))
        if job is None:
            return busy_response(reads)
        while not job.done:
            # Nothing waits in a thread here: the job's signal wakes this handler.
            yield Wait(job.signal, RANGE_WAIT)
        body = job.result()
        return Response(200, body, "application/json", {"Cache-Control": "no-store"})

    def publish(self, request: Request) -> Handler:
        """``POST /publish``: authenticated ingest of one event or a batch."""
        cors = self.check_origin(request)
        if request.method == "OPTIONS":  # an allowed page's preflight
            return Response(204, b"", "text/plain", {**cors, "Access-Control-Max-Age": "600"})
        # Cheapest refusals first: no body byte is read from a stranger or past the limit.
        check_token(self.config.token, request.headers.get("authorization"))
        check_length(request.content_length, self.config.max_body)
        check_content_type(request.headers.get("content-type"))
        body = yield ReadBody(self.config.max_body + 1)
        if body is None:
            return json_response(400, {"error": "the client went away before sending the body"})
        yield BLOCKING
        return json_response(200, ingest(self.hub, body, self.config.max_body), cors)

    def health(self, request: Request) -> Handler:
        """``GET /health``: 200 while the store answers, 503 while it does not (or never
        did). The store is read at most once a second (:meth:`~livedash.Hub.check_health`);
        other checks reuse the answer without leaving the event loop."""
        ok = self.hub.fresh_health()
        if ok is None:
            yield BLOCKING  # the probe waits for the store (a second or two at most)
            ok = self.hub.check_health()
        body: dict[str, Any] = {
            "store": "ok" if ok else "degraded",
            "subscribers": self.hub.subscriber_count(),
        }
        return json_response(200 if ok else 503, body)

    def static(self, request: Request) -> Handler:
        """``GET /static/NAME``: the browser client's scripts and styles."""
        name = request.path[len(self.config.prefix) + len("/static/") :]
        yield BLOCKING
        # Looked up by exact name in the folder's listing, so the requested name never reaches
        # the file system, which answers some names with an exception rather than "no such
        # file" (a NUL byte: ValueError; a name over 255 bytes: OSError), and nothing outside
        # the folder (dots, encoded slashes, backslashes) can match.
        files = {p.name: p for p in ASSETS.iterdir() if p.is_file()}
        path = files.get(name)
        if path is None:
            # Quote at most a line of the name: it may be 100 KB of hostile input.
            shown = name if len(name) <= 80 else name[:80] + "..."
            known = ", ".join(sorted(files))
            error = f"no livedash asset {shown!r}; the assets are {known}"
            return json_response(404, {"error": error})
        data = path.read_bytes()
        kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        if kind.startswith("text/") or kind.endswith("javascript"):
            kind += "; charset=utf-8"
        return Response(200, data, kind, {"Cache-Control": f"public, max-age={STATIC_MAX_AGE}"})
