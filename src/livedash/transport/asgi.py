"""The transport routes as ASGI middleware, for Dash's fastapi and quart backends.

The same routes, status codes, JSON bodies and headers as :mod:`~livedash.transport.flask_routes`,
on the same framework-free core. The middleware sits in front of the framework's app: it
answers ``{prefix}/...`` and ``/metrics`` itself and passes every other request through, so
the framework's own middleware (Dash's GZip among them) never sees an event stream.

An open event stream holds no thread: :class:`~livedash.transport.sse.EventStream` names its
waits as steps, and this module awaits them on the event loop, woken by the subscription's
waker (``loop.call_soon_threadsafe``). The short blocking store work (subscribe, history and
catch-up reads, polls, range reads, ingest) runs in the loop's default thread pool.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import mimetypes
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from typing import Any
from urllib.parse import parse_qs

from livedash.errors import StoreError
from livedash.events import parse_cursor
from livedash.fanout import Subscription
from livedash.hub import Hub
from livedash.transport import ASSETS, TransportConfig, add_client, configs_of
from livedash.transport.ingest import check_length, check_token, ingest
from livedash.transport.metrics import CONTENT_TYPE, hub_registry, render
from livedash.transport.params import BadRequest, StreamRequest, parse_float, parse_stream_request
from livedash.transport.poll import MAX_WAIT, poll
from livedash.transport.range import parse_range_request, read_range
from livedash.transport.sse import Blocking, EventStream, Sleep, Wait
from livedash.transport.wire import gzip_chunks

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: Seconds browsers may cache the client script and styles (they are versioned by ``?v=``).
STATIC_MAX_AGE = 3600
#: Longest an event stream waits to end its body (a stalled client must not hold a shutdown).
LAST_SEND_TIMEOUT = 1.0


class Request:
    """The parts of an ASGI HTTP request the routes read."""

    def __init__(self, scope: Scope) -> None:
        self.method: str = scope["method"]
        query = scope.get("query_string", b"").decode("latin-1")
        self.args = parse_qs(query, keep_blank_values=True)
        headers: dict[str, str] = {}
        for raw_name, raw_value in scope.get("headers", []):
            name = raw_name.decode("latin-1").lower()
            value = raw_value.decode("latin-1")
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        self.headers = headers

    def get_list(self, name: str) -> list[str]:
        """Every value of query parameter ``name``."""
        return self.args.get(name, [])

    def get(self, name: str) -> str | None:
        """The first value of query parameter ``name``, or None."""
        values = self.args.get(name)
        return values[0] if values else None

    @property
    def content_length(self) -> int | None:
        """The declared body length, None when absent or not a number (as Werkzeug)."""
        raw = self.headers.get("content-length")
        if raw is None or not raw.strip().isdigit():
            return None
        return int(raw)


class LivedashASGI:
    """ASGI middleware serving the livedash routes under ``config.prefix`` and
    ``/metrics``; everything else goes to ``app``.

    Starlette/FastAPI: ``server.add_middleware(LivedashASGI, hub=hub, config=config)``.
    Any other ASGI app: ``LivedashASGI(app, hub, config)``. :func:`mount_asgi` does either."""

    def __init__(self, app: ASGIApp, hub: Hub, config: TransportConfig) -> None:
        self.app = app
        self.hub = hub
        self.config = config
        self.registry = hub_registry(hub)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        root = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root) :]
        prefix = self.config.prefix
        if path == "/metrics":
            await _respond(send, 200, render(self.registry), CONTENT_TYPE)
            return
        if not path.startswith(prefix + "/"):
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        try:
            await self._route(path[len(prefix) :], request, receive, send)
        except BadRequest as exc:
            extra = [(b"www-authenticate", b'Bearer realm="livedash"')] if exc.status == 401 else []
            await _json(send, exc.status, exc.to_json(), extra)
        except StoreError as exc:
            # The store is down (Redis restarting, disk full): a retryable condition, not a bug.
            body = {"error": f"store unavailable, retry later: {exc}", "reason": "store"}
            await _json(send, 503, body, [(b"retry-after", b"1")])

    async def _route(self, route: str, request: Request, receive: Receive, send: Send) -> None:
        post = route == "/publish"
        allowed = ("POST",) if post else ("GET", "HEAD")
        known = post or route in ("/events", "/poll", "/range", "/health")
        if not known and not route.startswith("/static/"):
            await _json(send, 404, {"error": f"no livedash route {route!r}"})
            return
        if request.method not in allowed:
            await _json(
                send,
                405,
                {"error": f"{request.method} not allowed; use {' or '.join(allowed)}"},
                [(b"allow", ", ".join(allowed).encode())],
            )
            return
        if route == "/events":
            await self._events(request, receive, send)
        elif route == "/poll":
            await self._poll(request, send)
        elif route == "/range":
            await self._range(request, send)
        elif post:
            await self._publish(request, receive, send)
        elif route == "/health":
            ok = self.hub.healthy
            body = {"store": "ok" if ok else "degraded", "subscribers": self.hub.subscriber_count()}
            await _json(send, 200 if ok else 503, body)
        else:
            await self._static(route[len("/static/") :], send)

    def _stream_request(self, request: Request) -> StreamRequest:
        req = parse_stream_request(request.get_list, request.headers.get("last-event-id"))
        self.config.check_read(req.streams)
        return req

    async def _events(self, request: Request, receive: Receive, send: Send) -> None:
        req = self._stream_request(request)
        stream = EventStream(self.hub, req, self.config.heartbeat)
        headers = [
            (b"content-type", b"text/event-stream; charset=utf-8"),
            (b"cache-control", b"no-cache"),
            (b"x-accel-buffering", b"no"),
        ]
        encode: Callable[[str], bytes] = _utf8
        if self.config.compress and "gzip" in request.headers.get("accept-encoding", ""):
            headers.append((b"content-encoding", b"gzip"))
            encode = _gzip_encoder()
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        if request.method == "HEAD":  # the headers say it all; do not subscribe for nobody
            await send({"type": "http.response.body", "body": b""})
            return
        await relay(stream, encode, receive, send, self.config.stall_timeout)

    async def _poll(self, request: Request, send: Send) -> None:
        req = self._stream_request(request)
        wait = parse_float(request.get("wait"), "wait", 0.0, MAX_WAIT, 0.0)
        body = await asyncio.to_thread(poll, self.hub, req, 0.0)
        if wait > 0 and not body["events"] and not body["resets"]:
            # A long poll: wait on the event loop, not in a thread. Subscribing after the
            # first read is safe because the second read starts from that read's cursor.
            sub = await asyncio.to_thread(self.hub.subscribe, req.streams)
            try:
                after = StreamRequest(req.streams, parse_cursor(body["cursor"]), {})
                body = await asyncio.to_thread(poll, self.hub, after, 0.0)
                if not body["events"] and not body["resets"]:
                    await _until_ready(sub, wait)
                    body = await asyncio.to_thread(poll, self.hub, after, 0.0)
            finally:
                self.hub.unsubscribe(sub)
        await _json(send, 200, body, [(b"cache-control", b"no-store")])

    async def _range(self, request: Request, send: Send) -> None:
        req = parse_range_request(request.get, request.get_list)
        self.config.check_read([req.stream])
        body = await asyncio.to_thread(read_range, self.hub, req)
        await _json(send, 200, body, [(b"cache-control", b"no-store")])

    async def _publish(self, request: Request, receive: Receive, send: Send) -> None:
        # Cheapest refusals first: no body byte is read from a stranger or past the limit.
        check_token(self.config.token, request.headers.get("authorization"))
        check_length(request.content_length, self.config.max_body)
        body = await _read_at_most(receive, self.config.max_body + 1)
        if body is None:
            await _json(send, 400, {"error": "the client went away before sending the body"})
            return
        result = await asyncio.to_thread(ingest, self.hub, body, self.config.max_body)
        await _json(send, 200, result)

    async def _static(self, name: str, send: Send) -> None:
        path = (ASSETS / name).resolve()
        if not name or ASSETS.resolve() not in path.parents or not path.is_file():
            await _json(send, 404, {"error": f"no livedash asset {name!r}"})
            return
        data = await asyncio.to_thread(path.read_bytes)
        kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        if kind.startswith("text/") or kind.endswith("javascript"):
            kind += "; charset=utf-8"
        cache = f"public, max-age={STATIC_MAX_AGE}".encode()
        await _respond(send, 200, data, kind, [(b"cache-control", cache)])


async def relay(
    stream: EventStream,
    encode: Callable[[str], bytes],
    receive: Receive,
    send: Send,
    stall_timeout: float | None,
) -> None:
    """Send ``stream``'s body (the response has started) until it ends or the client goes.

    Waits are awaited; steps after a :class:`~livedash.transport.sse.Blocking` marker run in
    a thread until the next wait. The client is gone when ``receive`` says
    ``http.disconnect`` or a send fails; a client that reads nothing for ``stall_timeout``
    seconds is cut (the ASGI twin of ``TCP_USER_TIMEOUT`` on the Flask side). Either way the
    generator is closed, which unsubscribes."""
    loop = asyncio.get_running_loop()
    woken = asyncio.Event()
    gone = asyncio.Event()

    async def watch() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        gone.set()
        woken.set()

    def wake() -> None:
        loop.call_soon_threadsafe(woken.set)

    watcher = asyncio.create_task(watch())
    steps = stream.steps()
    in_thread: asyncio.Future[Any] | None = None
    offload = False
    waker: Subscription | None = None
    try:
        try:
            while not gone.is_set():
                if offload:
                    in_thread = loop.run_in_executor(None, next, steps, None)
                    # shield: if this task is cancelled the thread still owns the generator, and
                    # closing it must wait for that step to finish (see finally).
                    step = await asyncio.shield(in_thread)
                    in_thread = None
                else:
                    step = next(steps, None)
                if step is None:
                    break
                if isinstance(step, str):
                    try:
                        async with asyncio.timeout(stall_timeout):
                            await send(
                                {
                                    "type": "http.response.body",
                                    "body": encode(step),
                                    "more_body": True,
                                }
                            )
                    except (OSError, TimeoutError):
                        # The client is gone, or stopped reading: nothing more can be sent, and
                        # returning without ending the body makes the server drop the connection.
                        return
                elif isinstance(step, Blocking):
                    offload = True
                elif isinstance(step, Wait):
                    offload = False
                    if waker is None and stream.sub is not None:
                        waker = stream.sub
                        waker.set_waker(wake)
                    woken.clear()
                    if stream.sub is not None and not stream.sub.ready:
                        with contextlib.suppress(TimeoutError):
                            async with asyncio.timeout(step.timeout):
                                await woken.wait()
                elif isinstance(step, Sleep):
                    offload = False
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(step.seconds):
                            await gone.wait()
        except asyncio.CancelledError:
            # The server cancels the streams still open when its graceful shutdown runs out
            # (uvicorn --timeout-graceful-shutdown). The client reconnects and resumes anyway:
            # end the body cleanly rather than have the server log a traceback per stream.
            # A cancel that insists (a cancel scope) interrupts the last send and propagates.
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()
        if not gone.is_set():
            with contextlib.suppress(OSError, TimeoutError):
                async with asyncio.timeout(LAST_SEND_TIMEOUT):
                    await send({"type": "http.response.body", "body": b"", "more_body": False})
    finally:
        watcher.cancel()
        if waker is not None:
            waker.set_waker(None)
        if in_thread is not None and not in_thread.done():
            in_thread.add_done_callback(lambda _: steps.close())
        else:
            steps.close()


async def _until_ready(sub: Subscription, timeout: float) -> None:
    loop = asyncio.get_running_loop()
    ready = asyncio.Event()

    def wake() -> None:
        loop.call_soon_threadsafe(ready.set)

    sub.set_waker(wake)
    try:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await ready.wait()
    finally:
        sub.set_waker(None)


def _utf8(chunk: str) -> bytes:
    return chunk.encode("utf-8")


def _gzip_encoder() -> Callable[[str], bytes]:
    """One stream's gzip encoder: each call compresses and flushes one chunk, through the
    same :func:`~livedash.transport.wire.gzip_chunks` the WSGI side uses (fed one chunk at
    a time, so both sides send the same bytes)."""
    pending: list[str] = []

    def feed() -> Iterator[str]:
        while True:
            yield pending.pop()

    compressed = gzip_chunks(feed())

    def encode(chunk: str) -> bytes:
        pending.append(chunk)
        return next(compressed)

    return encode


async def _read_at_most(receive: Receive, limit: int) -> bytes | None:
    """The request body up to ``limit`` bytes (chunked bodies declare no length); None if
    the client disconnected first."""
    chunks: list[bytes] = []
    size = 0
    while size < limit:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        chunks.append(chunk[: limit - size])
        size += len(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def _respond(
    send: Send,
    status: int,
    body: bytes,
    content_type: str,
    headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type.encode("latin-1")),
                (b"content-length", str(len(body)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _json(
    send: Send, status: int, body: object, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    data = (json.dumps(body, separators=(",", ":")) + "\n").encode()
    await _respond(send, status, data, "application/json", headers)


def mount_asgi(app: Any, server: Any, hub: Hub, config: TransportConfig) -> None:
    """Put :class:`LivedashASGI` in front of a Dash app's ASGI server (FastAPI or Quart)
    and add the client script to ``app``'s pages."""
    if hasattr(server, "add_middleware"):
        # Starlette: the last middleware added is the outermost, so this one runs before
        # Dash's GZip and catch-all route. It must be added before the app serves a request.
        server.add_middleware(LivedashASGI, hub=hub, config=config)
    elif hasattr(server, "asgi_app"):
        server.asgi_app = LivedashASGI(server.asgi_app, hub, config)
    else:  # pragma: no cover - mount() dispatches only these two
        raise TypeError(f"not an ASGI server: {type(server).__name__}")
    configs_of(server)[config.prefix] = config
    add_client(app, config)
