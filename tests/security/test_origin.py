"""Cross-site publish: a web page on another site cannot write into the dashboard, on the
Flask backend (a threaded WSGI server) and on the ASGI backends (uvicorn) alike."""

from __future__ import annotations

import http.client
import json
from collections.abc import Callable
from typing import Any

import pytest
from dash import Dash, html

from livedash import ConfigError, Hub, TransportConfig
from livedash.testing import LiveServer, UvicornServer

EVENT = json.dumps({"stream": "pub", "data": {"v": 1}}).encode()


@pytest.fixture(params=["flask", "fastapi"])
def serve(
    request: pytest.FixtureRequest,
    live_server: Callable[[Any], LiveServer],
    uvicorn_server: Callable[[Any], UvicornServer],
) -> Callable[..., tuple[Hub, int]]:
    """``serve(hub, **config)``: the app on the backend under test, with no token (open
    ingest on loopback, the case a foreign page could abuse); returns its port."""
    backend = str(request.param)

    def start(hub: Hub, **config: Any) -> tuple[Hub, int]:
        app = Dash(__name__) if backend == "flask" else Dash(__name__, backend=backend)
        app.layout = html.Div("x")
        hub.init_app(app, TransportConfig(token=None, **config))
        server = live_server(app) if backend == "flask" else uvicorn_server(app)
        return hub, server.port

    return start


def _post(
    port: int, headers: dict[str, str], method: str = "POST"
) -> tuple[int, dict[str, str], Any]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(
            method, "/livedash/publish", body=EVENT if method == "POST" else None, headers=headers
        )
        resp = conn.getresponse()
        raw = resp.read()
        return (
            resp.status,
            {k.lower(): v for k, v in resp.getheaders()},
            (json.loads(raw) if raw else None),
        )
    finally:
        conn.close()


def test_a_text_plain_publish_from_a_foreign_page_stores_nothing(
    hub_factory: Callable[..., Hub], serve: Callable[..., tuple[Hub, int]]
) -> None:
    hub, port = serve(hub_factory())
    # What any page may send cross-site without a preflight: text/plain, foreign Origin.
    status, _, body = _post(port, {"Content-Type": "text/plain", "Origin": "http://evil.example"})
    assert status == 403 and body["reason"] == "foreign_origin"
    assert "allowed_origins" in body["error"]
    # The same without the Origin (not a browser): still not JSON, so 415 says what to send.
    status, _, body = _post(port, {"Content-Type": "text/plain"})
    assert status == 415 and body["reason"] == "unsupported_media_type"
    assert "application/json" in body["error"]
    status, _, body = _post(port, {"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 415
    assert hub.store.head("pub") == 0


def test_json_from_a_foreign_origin_is_refused_and_from_the_own_page_accepted(
    hub_factory: Callable[..., Hub], serve: Callable[..., tuple[Hub, int]]
) -> None:
    hub, port = serve(hub_factory())
    status, _, body = _post(
        port, {"Content-Type": "application/json", "Origin": "http://evil.example"}
    )
    assert status == 403 and hub.store.head("pub") == 0
    own = f"http://127.0.0.1:{port}"
    status, headers, body = _post(
        port, {"Content-Type": "application/json; charset=utf-8", "Origin": own}
    )
    assert status == 200 and body == {"published": [{"stream": "pub", "seq": 1}]}
    assert "access-control-allow-origin" not in headers
    status, _, body = _post(port, {"Content-Type": "application/json"})  # curl, a feed
    assert status == 200 and hub.store.head("pub") == 2


def test_an_allowed_origin_may_publish_and_gets_cors_headers(
    hub_factory: Callable[..., Hub], serve: Callable[..., tuple[Hub, int]]
) -> None:
    hub, port = serve(hub_factory(), allowed_origins=["https://feeds.example.com/"])
    origin = {"Origin": "https://feeds.example.com"}
    status, headers, _ = _post(
        port,
        {
            **origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
        method="OPTIONS",
    )
    assert status == 204
    assert headers["access-control-allow-origin"] == "https://feeds.example.com"
    assert "Content-Type" in headers["access-control-allow-headers"]
    status, headers, body = _post(port, {**origin, "Content-Type": "application/json"})
    assert status == 200 and body["published"][0]["seq"] == 1
    assert headers["access-control-allow-origin"] == "https://feeds.example.com"
    status, _, _ = _post(
        port, {"Origin": "https://other.example", "Content-Type": "application/json"}
    )
    assert status == 403 and hub.store.head("pub") == 1
    status, _, _ = _post(port, {"Origin": "https://other.example"}, method="OPTIONS")
    assert status == 403


def test_allowed_origins_are_checked_when_configured() -> None:
    with pytest.raises(ConfigError, match="allowed_origins"):
        TransportConfig(allowed_origins="https://a.example")
    with pytest.raises(ConfigError, match="scheme://host"):
        TransportConfig(allowed_origins=["feeds.example.com"])
    assert TransportConfig(allowed_origins=["*"]).allowed_origins == ("*",)
