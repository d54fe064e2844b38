"""The transport routes on Flask, Dash's default server backend."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Blueprint, Flask, Response, jsonify, request, send_from_directory

import livedash
from livedash.hub import Hub
from livedash.transport import TransportConfig
from livedash.transport.ingest import check_token, ingest
from livedash.transport.metrics import CONTENT_TYPE, hub_registry, render
from livedash.transport.params import BadRequest, StreamRequest, parse_float, parse_stream_request
from livedash.transport.poll import MAX_WAIT, poll
from livedash.transport.range import parse_range_request, read_range
from livedash.transport.sse import EventStream, gzip_chunks

ASSETS = Path(livedash.__file__).parent / "assets"


def mount_flask(app: Any, server: Flask, hub: Hub, config: TransportConfig) -> None:
    """Register the routes on ``server`` and add the client script to ``app``'s pages."""
    bp = Blueprint("livedash", __name__, url_prefix=config.prefix)

    def stream_request() -> StreamRequest:
        req = parse_stream_request(request.args.getlist, request.headers.get("Last-Event-ID"))
        if config.can_read is not None:
            refused = [s for s in req.streams if not config.can_read(s)]
            if refused:
                raise BadRequest(f"not allowed to read streams {refused}", 403)
        return req

    @bp.errorhandler(BadRequest)
    def bad_request(exc: BadRequest) -> tuple[Response, int]:
        return jsonify(error=str(exc)), exc.status

    @bp.get("/events")
    def events() -> Response:
        req = stream_request()
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
        if config.can_read is not None and not config.can_read(req.stream):
            raise BadRequest(f"not allowed to read stream {req.stream!r}", 403)
        response = jsonify(read_range(hub, req))
        response.headers["Cache-Control"] = "no-store"
        return response

    @bp.post("/publish")
    def publish() -> tuple[Response, int]:
        check_token(config.token, request.headers.get("Authorization"))
        return jsonify(ingest(hub, request.get_data(cache=False))), 200

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
    script = app.get_relative_path(f"{config.prefix}/static/livedash.js")
    base = app.get_relative_path(config.prefix)
    app.config.external_scripts.append(f"{script}?v={livedash.__version__}&base={base}")
    # Extra widget kinds live in assets/widget-*.js and register themselves with the client.
    for extra in sorted(ASSETS.glob("widget-*.js")):
        url = app.get_relative_path(f"{config.prefix}/static/{extra.name}")
        app.config.external_scripts.append(f"{url}?v={livedash.__version__}")
    app.config.external_stylesheets.append(
        app.get_relative_path(f"{config.prefix}/static/livedash.css") + f"?v={livedash.__version__}"
    )
