"""The route table on Flask, Dash's default server backend (WSGI): a thin adapter.

Used when a Flask app is served by a WSGI server (``app.run()``, Werkzeug, gunicorn), where
each open event stream holds a thread. ``livedash run`` and ``livedash serve`` serve Flask
apps through :mod:`livedash.transport.serving` instead, where a stream is a coroutine.
"""

from __future__ import annotations

import contextlib
import socket
from typing import Any

import flask
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Request

from livedash.hub import Hub
from livedash.transport import Mount, TransportConfig, add_client, mounts_of, record_mount
from livedash.transport.guard import ASK_HEADER, is_question, secret_of, yes_headers
from livedash.transport.routes import METRICS_PATH, Routes, header_map, json_response
from livedash.transport.routes import Request as TableRequest
from livedash.transport.steps import Response, run_blocking
from livedash.transport.wire import gzip_chunks

#: Every method a route of the table may answer (it says 405 to the rest itself).
METHODS = ["GET", "HEAD", "POST", "OPTIONS", "PUT", "PATCH", "DELETE"]


def mount_flask(app: Any, server: flask.Flask, hub: Hub, config: TransportConfig) -> None:
    """Route ``{prefix}/...`` and ``/metrics`` of ``server`` to the table, and add the client
    script to ``app``'s pages.

    The routes are Flask views, so the app's ``before_request`` hooks and WSGI middleware
    guard them as they guard its pages; :class:`OpenDoor` answers the two requests that pass
    without them (``/health``, and a publish with the valid token) in front of Flask."""
    routes = Routes(hub, config, secret=secret_of(server))

    def view(rest: str = "") -> flask.Response:
        req = flask.request
        if is_question(req.headers.get(ASK_HEADER), routes.secret):
            # Served on an ASGI server, livedash asks the app's stack before serving a
            # request natively: reaching this view means nothing in front refused it.
            return flask.Response(b"", 204, yes_headers(routes.secret))
        return serve_request(routes, req)

    endpoint = "livedash" + config.prefix.replace("/", ".")
    server.add_url_rule(f"{config.prefix}/<path:rest>", endpoint, view, methods=METHODS)
    if not any(rule.rule == METRICS_PATH for rule in server.url_map.iter_rules()):
        server.add_url_rule(METRICS_PATH, "livedash.metrics", view, methods=METHODS)
    first = not mounts_of(server)
    # Also what serving the app under uvicorn reads to put the ASGI routes in front of it.
    record_mount(server, Mount(hub, config, routes))
    if first:
        server.wsgi_app = OpenDoor(server.wsgi_app, server)  # type: ignore[method-assign]
    add_client(app, config)


def serve_request(routes: Routes, req: Request) -> flask.Response:
    """Answer a werkzeug request for one of ``routes``' paths with the route table."""
    headers = header_map(req.headers.items())
    request = TableRequest(req.method, req.path, req.args.to_dict(flat=False), headers)
    try:
        result = run_blocking(
            routes.handle(request), lambda limit: _read_at_most(req.stream, limit)
        )
    except HTTPException as exc:
        # Werkzeug's own refusals (client went away mid-body) as JSON too.
        result = json_response(exc.code or 400, {"error": exc.description or exc.name})
    if isinstance(result, Response):
        return flask.Response(
            result.body, result.status, result.headers, content_type=result.content_type
        )
    start, chunks = result
    limit_stall(req.environ, routes.config.stall_timeout)
    body = gzip_chunks(chunks, compact=start.compact) if start.gzip else chunks
    return flask.Response(body, 200, start.headers)


class OpenDoor:
    """WSGI middleware in front of a Flask app's own stack (``server.wsgi_app``) that answers
    the livedash requests the app's guards must not decide: ``/health`` (a load balancer's
    probe, which says only ok or 503) and a publish with the valid bearer token (a feed has
    no session; the token is its credential). Everything else goes through the app, its
    ``before_request`` hooks included, as under ``livedash run`` / ``serve``
    (:meth:`~livedash.transport.routes.Routes.guarded` decides for both)."""

    def __init__(self, app: Any, server: flask.Flask) -> None:
        self.app = app
        self.server = server

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        path = environ.get("PATH_INFO", "")
        for routes in (m.routes for m in mounts_of(self.server)):
            if not routes.owns(path):
                continue
            req = Request(environ)
            headers = header_map(req.headers.items())
            request = TableRequest(req.method, path, {}, headers)
            asked = is_question(headers.get(ASK_HEADER), routes.secret)
            if not asked and not routes.guarded(request):
                return serve_request(routes, req)(environ, start_response)
        return self.app(environ, start_response)


def limit_stall(environ: dict[str, Any], seconds: float | None) -> None:
    """Make the kernel cut this connection when sent data stays unacknowledged for
    ``seconds`` (a stopped reader fills its window, a vanished host stops acknowledging), so
    a stuck client cannot hold a worker thread and a subscription forever. Needs the
    server's socket, which Werkzeug and gunicorn put in the WSGI environ."""
    option = getattr(socket, "TCP_USER_TIMEOUT", None)  # Linux only
    sock = environ.get("werkzeug.socket") or environ.get("gunicorn.socket")
    if seconds is None or option is None or sock is None:
        return
    with contextlib.suppress(OSError, AttributeError, ValueError):  # not TCP (a unix socket)
        sock.setsockopt(socket.IPPROTO_TCP, option, max(1, int(seconds * 1000)))


def _read_at_most(stream: Any, limit: int) -> bytes:
    """Read a request body up to ``limit`` bytes (chunked bodies declare no length)."""
    chunks: list[bytes] = []
    size = 0
    while size < limit:
        chunk = stream.read(min(65536, limit - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)
