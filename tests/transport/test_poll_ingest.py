"""Polling and HTTP ingest over real HTTP."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest
from dash import Dash, html

from livedash import Hub, TransportConfig
from livedash.testing import LiveServer


def _serve(hub: Hub, live_server: Callable[[Any], LiveServer], **config: Any) -> LiveServer:
    app = Dash(__name__)
    app.layout = html.Div("x")
    hub.init_app(app, TransportConfig(**config))
    return live_server(app)


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=30) as r:
        return json.loads(r.read())


def _post(url: str, body: bytes, token: str | None = None) -> tuple[int, Any]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_poll_pages_through_events_with_the_cursor(
    hub_factory: Callable[..., Hub], live_server: Callable[[Any], LiveServer]
) -> None:
    hub = hub_factory()
    server = _serve(hub, live_server)
    for i in range(5):
        hub.publish("p", {"i": i})
    body = _get(f"{server.url}/livedash/poll?stream=p&last=p:2")
    assert [e[1] for e in body["events"]] == [4, 5]
    assert body["cursor"] == "p:5"
    hub.publish("p", {"i": 5})
    body = _get(f"{server.url}/livedash/poll?stream=p&cursor={body['cursor']}")
    assert [(e[1], e[3]) for e in body["events"]] == [(6, {"i": 5})]
    assert _get(f"{server.url}/livedash/poll?stream=p&cursor=p:6")["events"] == []


def test_ingest_publishes_batches_all_or_nothing(
    hub_factory: Callable[..., Hub], live_server: Callable[[Any], LiveServer]
) -> None:
    hub = hub_factory()
    server = _serve(hub, live_server, token="s3cret")
    url = f"{server.url}/livedash/publish"
    batch = json.dumps(
        {"events": [{"stream": "t", "data": {"p": 1}}, {"stream": "t", "data": {"p": 2}}]}
    ).encode()
    assert _post(url, batch)[0] == 401
    assert _post(url, batch, "wrong")[0] == 401
    status, body = _post(url, batch, "s3cret")
    assert status == 200
    assert body == {"published": [{"stream": "t", "seq": 1}, {"stream": "t", "seq": 2}]}
    bad = json.dumps(
        {"events": [{"stream": "t", "data": {"p": 3}}, {"stream": "bad name", "data": {}}]}
    ).encode()
    status, body = _post(url, bad, "s3cret")
    assert status == 422 and "invalid stream name" in body["error"]
    assert _post(url, b"{not json", "s3cret")[0] == 400
    assert hub.store.head("t") == 2


@pytest.mark.parametrize("body", [b"[]", b'{"stream": "t"}', b'{"events": []}', b'"x"'])
def test_ingest_rejects_malformed_events(
    hub_factory: Callable[..., Hub], live_server: Callable[[Any], LiveServer], body: bytes
) -> None:
    hub = hub_factory()
    server = _serve(hub, live_server, token=None)
    status, reply = _post(f"{server.url}/livedash/publish", body)
    assert status == 422 and reply["error"]
    assert hub.store.head("t") == 0
