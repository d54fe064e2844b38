"""The transport routes on Flask, Dash's default server backend."""

from __future__ import annotations

import contextlib
import socket
from typing import Any

from flask import Blueprint, Flask, Response, jsonify, request, send_from_directory
from werkzeug.exceptions import HTTPException

from livedash.errors import StoreError
from livedash.hub import Hub
from livedash.transport import ASSETS, TransportConfig, add_client, configs_of
from livedash.transport.ingest import check_length, check_token, ingest
from livedash.transport.metrics import CONTENT_TYPE, hub_registry, render
from livedash.transport.params import BadRequest, StreamRequest, parse_float, parse_stream_request
from livedash.transport.poll import MAX_WAIT, poll
from livedash.transport.range import parse_range_request, read_range
from livedash.transport.sse import EventStream
from livedash.transport.wire import gzip_chunks


def mount_flask(app: Any, server: Flask, hub: Hub, config: TransportConfig) -> None:
    """Register the routes on ``server`` and add the client script to ``app``'s pages."""
    bp = Blueprint("livedash", __name__, url_prefix=config.prefix)

    def stream_request() -> StreamRequest:
        req = parse_stream_request(request.args.getlist, request.headers.get("Last-Event-ID"))
        config.check_read(req.streams)
        return req

    @bp.errorhandler(BadRequest)
    def bad_request(exc: BadRequest) -> tuple[Response, int]:
        response = jsonify(exc.to_json())
        if exc.status == 401:
            response.headers["WWW-Authenticate"] = 'Bearer realm="livedash"'
        return response, exc.status

    @bp.errorhandler(StoreError)
    def store_error(exc: StoreError) -> tuple[Response, int]:
        # The store is down (Redis restarting, disk full): a retryable condition, not a bug.
        response = jsonify(error=f"store unavailable, retry later: {exc}", reason="store")
        response.headers["Retry-After"] = "1"
        return response, 503

    @bp.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> tuple[Response, int]:
        # Werkzeug's own refusals (client went away mid-body, MAX_CONTENT_LENGTH) as JSON too.
        return jsonify(error=exc.description or exc.name), exc.code or 400

    @bp.get("/events")
    def events() -> Response:
        req = stream_request()
        limit_stall(request.environ, config.stall_timeout)
        body = EventStream(hub, req, config.heartbeat)
        headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        if config.compress and "gzip" in request.headers.get("Accept-Encoding", ""):
            headers["Content-Encoding"] = "gzip"
            return Response(gzip_chunks(body), mimetype="text/event-stream", headers=headers)
        return Response(iter(body), mimetype="text/event-stream", headers=headers)

    @bp.get("/poll")
    def poll_route() -> Response:
        req = stream_request()
        wait = parse_float(request.args.get("wait"), "wait", 0.0, MAX_WAIT, 0.0)
        response = jsonify(poll(hub, req, wait))
        response.headers["Cache-Control"] = "no-store"
        return response

    @bp.get("/range")
    def range_route() -> Response:
        req = parse_range_request(request.args.get, request.args.getlist)
        config.check_read([req.stream])
        response = jsonify(read_range(hub, req))
        response.headers["Cache-Control"] = "no-store"
        return response

    @bp.post("/publish")
    def publish() -> tuple[Response, int]:
        # Cheapest refusals first: no body byte is read from a stranger or past the limit.
        check_token(config.token, request.headers.get("Authorization"))
        check_length(request.content_length, config.max_body)
        body = _read_at_most(request.stream, config.max_body + 1)
        return jsonify(ingest(hub, body, config.max_body)), 200

    @bp.get("/health")
    def health() -> tuple[Response, int]:
        ok = hub.healthy
        return jsonify(store="ok" if ok else "degraded", subscribers=hub.subscriber_count()), (
            200 if ok else 503
        )

    @bp.get("/static/<path:name>")
    def static(name: str) -> Response:
        return send_from_directory(ASSETS, name, max_age=3600)

    server.register_blueprint(bp)
    # Prometheus scrapes /metrics by convention, outside the livedash prefix.
    registry = hub_registry(hub)
    server.add_url_rule(
        "/metrics",
        "livedash_metrics",
        lambda: Response(render(registry), mimetype=None, content_type=CONTENT_TYPE),
    )
    configs_of(server)[config.prefix] = config
    add_client(app, config)


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
