"""The route table as ASGI middleware, for every ASGI server (uvicorn).

It answers ``{prefix}/...`` and ``/metrics`` itself and passes every other request to the
app behind it: a FastAPI or Quart server (Dash's ASGI backends), or a Flask server wrapped
by a WSGI-to-ASGI adapter (:mod:`livedash.transport.serving`). The framework's own
middleware (Dash's GZip among them) never sees an event stream. Before serving a request
natively it asks the app's own guards (:mod:`livedash.transport.guard`); the handlers run on
the event loop through :func:`~livedash.transport.driver.drive`.
"""

from __future__ import annotations

import asyncio
import weakref
from typing import Any
from urllib.parse import parse_qs

from livedash.hub import Hub, WakeBatch
from livedash.transport import Mount, TransportConfig, add_client, record_mount
from livedash.transport.asgi_types import (
    DISCONNECT_WATCH,
    SHUTDOWN_WATCH,
    ASGIApp,
    Receive,
    Scope,
    Send,
)
from livedash.transport.driver import Ticker, drive, respond
from livedash.transport.fairpool import FairPool
from livedash.transport.guard import ASK_HEADER, ask, is_question, secret_of, yes_headers
from livedash.transport.routes import METRICS_PATH, Request, Routes, header_map

#: Threads per event loop for event streams' catch-up reads (history, a backlog).
CATCH_UP_THREADS = 2


def path_of(scope: Scope) -> str:
    """An ASGI request's path below the app's root."""
    path: str = scope["path"]
    root = scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root) :]
    return path


def request_of(scope: Scope, path: str) -> Request:
    """The route table's view of an ASGI HTTP request whose :func:`path_of` is ``path``."""
    query = scope.get("query_string", b"").decode("latin-1")
    headers = header_map(
        (name.decode("latin-1"), value.decode("latin-1"))
        for name, value in scope.get("headers", [])
    )
    return Request(scope["method"], path, parse_qs(query, keep_blank_values=True), headers)


class LivedashASGI:
    """ASGI middleware serving the livedash routes under ``config.prefix`` and
    ``/metrics``; everything else goes to ``app``.

    Starlette/FastAPI: ``server.add_middleware(LivedashASGI, hub=hub, config=config)``.
    Any other ASGI app: ``LivedashASGI(app, hub, config)``. :func:`mount_asgi` does either."""

    def __init__(
        self, app: ASGIApp, hub: Hub, config: TransportConfig, routes: Routes | None = None
    ) -> None:
        self.app = app
        self.routes = routes or Routes(hub, config)
        self.config = config
        # One of each per event loop that serves this app (uvicorn runs one per worker).
        self._loops: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, tuple[WakeBatch, Ticker, FairPool]
        ] = weakref.WeakKeyDictionary()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = path_of(scope)
        if not self.routes.owns(path) or _is_question(scope):
            # The app's pages and callbacks: no request view built for them. A question from
            # a livedash in front of this one is for the app's stack, not for this table.
            await self.app(scope, receive, send)
            return
        request = request_of(scope, path)
        if self.routes.guarded(request):
            refused = await ask(self.app, scope, self.routes.secret)
            if refused is not None:
                await respond(send, refused, request.method == "HEAD")
                return
        loop = asyncio.get_running_loop()
        state = self._loops.get(loop)
        if state is None:
            state = self._loops[loop] = (
                WakeBatch(loop.call_soon_threadsafe),
                Ticker(loop),
                # Event streams' history and backlog pages: a few threads of their own, so
                # that hundreds of streams catching up at once leave the default pool (pages,
                # subscribing, publishing) free. A reader that does not read holds none; the
                # least-served stream goes first, so a new one is not queued behind backlogs.
                FairPool(CATCH_UP_THREADS, "livedash-catch-up"),
            )
        head = request.method == "HEAD"
        handler = self.routes.handle(request)
        # Not kept here while the response lasts (an event stream: for hours): its query and
        # headers (~1 KiB from a browser) are read by now or held by the handler if needed.
        del request
        extensions = scope.get("extensions", {})
        await drive(
            handler,
            batch=state[0],
            ticker=state[1],
            head=head,
            receive=receive,
            send=send,
            stall_timeout=self.config.stall_timeout,
            catch_up=state[2],
            watch_disconnect=extensions.get(DISCONNECT_WATCH),
            watch_shutdown=extensions.get(SHUTDOWN_WATCH),
        )


def _is_question(scope: Scope) -> bool:
    name = ASK_HEADER.encode()
    return any(k.lower() == name for k, _ in scope.get("headers", ()))


def mount_asgi(app: Any, server: Any, hub: Hub, config: TransportConfig) -> None:
    """Put :class:`LivedashASGI` in front of a Dash app's ASGI server (FastAPI or Quart)
    and add the client script to ``app``'s pages."""
    routes = Routes(hub, config, secret=secret_of(server))
    if hasattr(server, "add_middleware"):
        # Starlette: the last middleware added is the outermost, so this one runs before
        # Dash's GZip and catch-all route. It must be added before the app serves a request.
        # The yes-view is an ordinary route of the app, behind its middleware and, on
        # FastAPI, its app-level dependencies: what a question passes through.
        _add_fastapi_yes_view(server, routes)
        server.add_middleware(LivedashASGI, hub=hub, config=config, routes=routes)
    elif hasattr(server, "asgi_app"):
        _add_quart_yes_view(server, routes)
        server.asgi_app = LivedashASGI(server.asgi_app, hub, config, routes)
    else:  # pragma: no cover - mount() dispatches only these two
        raise TypeError(f"not an ASGI server: {type(server).__name__}")
    record_mount(server, Mount(hub, config, routes))
    add_client(app, config)


#: Every method a route of the table may answer; a question keeps the request's method.
YES_METHODS = ["GET", "HEAD", "POST", "OPTIONS", "PUT", "PATCH", "DELETE"]


def _add_fastapi_yes_view(server: Any, routes: Routes) -> None:
    from starlette.requests import Request as StarletteRequest
    from starlette.responses import Response as StarletteResponse

    async def yes(request: StarletteRequest) -> StarletteResponse:
        if is_question(request.headers.get(ASK_HEADER), routes.secret):
            return StarletteResponse(status_code=204, headers=yes_headers(routes.secret))
        # Only a question reaches here: the middleware in front answers the rest.
        return StarletteResponse(status_code=404)

    # FastAPI reads the parameter's type to pass the request; this module's annotations are
    # strings (postponed), naming a class imported here only, so give it the class itself.
    yes.__annotations__ = {"request": StarletteRequest, "return": StarletteResponse}

    paths = [f"{routes.config.prefix}/{{rest:path}}"]
    if not any(getattr(route, "path", None) == METRICS_PATH for route in server.router.routes):
        paths.append(METRICS_PATH)
    for path in paths:
        server.add_api_route(path, yes, methods=YES_METHODS, include_in_schema=False)


def _add_quart_yes_view(server: Any, routes: Routes) -> None:
    import quart

    async def yes(rest: str = "") -> quart.Response:
        if is_question(quart.request.headers.get(ASK_HEADER), routes.secret):
            return quart.Response(b"", 204, yes_headers(routes.secret))
        return quart.Response(b"", 404)

    endpoint = "livedash" + routes.config.prefix.replace("/", ".")
    server.add_url_rule(f"{routes.config.prefix}/<path:rest>", endpoint, yes, methods=YES_METHODS)
    if not any(rule.rule == METRICS_PATH for rule in server.url_map.iter_rules()):
        server.add_url_rule(METRICS_PATH, "livedash.metrics", yes, methods=YES_METHODS)
