"""Read access: an app lists the streams tabs may follow; others answer 403 on every route."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest
from dash import Dash, html
from flask import request

from livedash import ConfigError, Hub, TransportConfig
from livedash.testing import LiveServer, SSEClient, UvicornServer
from livedash.transport.serving import asgi_server

PRIVATE_QUERIES = [
    "stream=private",
    "stream=pub&stream=private",
    "stream=pub,private",
    "stream=pubx",  # a pattern "pub" is the whole name, not a prefix
    "stream=ticker",  # "ticker.*" needs the dot
    "stream=pub&stream=admin.log&last=admin.log:5",
]


def _serve(
    hub: Hub, serve: Callable[[Any], LiveServer | UvicornServer], config: TransportConfig
) -> str:
    app = Dash(__name__)
    app.layout = html.Div("x")
    hub.init_app(app, config)
    for stream in ("pub", "pubx", "private", "admin.log", "ticker", "ticker.AAPL", "room.blue"):
        hub.publish(stream, {"secret": f"{stream} data"})
    return serve(app).url


def _status(url: str, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            if r.headers.get_content_type() == "text/event-stream":
                return r.status, r.readline().decode()
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.mark.parametrize("query", PRIVATE_QUERIES)
@pytest.mark.parametrize("route", ["events", "poll"])
def test_streams_outside_the_readable_patterns_are_403(
    hub_factory: Callable[..., Hub],
    live_server: Callable[[Any], LiveServer],
    route: str,
    query: str,
) -> None:
    url = _serve(hub_factory(), live_server, TransportConfig(readable=["pub", "ticker.*"]))
    status, reply = _status(f"{url}/livedash/{route}?{query}")
    assert status == 403
    assert reply["reason"] == "forbidden" and "not allowed to read" in reply["error"]
    assert "data" not in json.dumps(reply)  # nothing of the stream itself leaks


def test_readable_streams_are_served_on_both_routes(
    hub_factory: Callable[..., Hub], live_server: Callable[[Any], LiveServer]
) -> None:
    url = _serve(hub_factory(), live_server, TransportConfig(readable=["pub", "ticker.*"]))
    status, body = _status(f"{url}/livedash/poll?stream=pub&stream=ticker.AAPL&last=pub:1")
    assert status == 200 and body["events"][0][3] == {"secret": "pub data"}
    port = int(url.rsplit(":", 1)[1])
    client = SSEClient(port, "/livedash/events?stream=ticker.AAPL&last=ticker.AAPL:1")
    message = next(iter(client))
    client.close()
    assert message.json()[0][3] == {"secret": "ticker.AAPL data"}


def test_range_route_obeys_the_same_rule(
    hub_factory: Callable[..., Hub], live_server: Callable[[Any], LiveServer]
) -> None:
    url = _serve(hub_factory(), live_server, TransportConfig(readable=["pub"]))
    status, reply = _status(f"{url}/livedash/range?stream=private&span=60&points=0")
    assert status == 403 and reply["reason"] == "forbidden"
    status, reply = _status(f"{url}/livedash/range?stream=pub&span=60&points=0")
    assert status == 200, reply
    status, reply = _status(f"{url}/livedash/range?stream=private&span=60&points=0")
    assert status == 403 and reply["reason"] == "forbidden"


@pytest.mark.parametrize("server", ["wsgi", "uvicorn"])
def test_a_predicate_can_decide_per_request(
    hub_factory: Callable[..., Hub], live_server: Callable[[Any], LiveServer], server: str
) -> None:
    # Rooms are private to their members; the predicate runs inside the request, so it can
    # look at a cookie (here: which room the visitor joined). The same on a WSGI server and
    # on uvicorn (how `livedash run` and `livedash serve` serve a Flask app).
    def member_of_room(stream: str) -> bool:
        return not stream.startswith("room.") or request.cookies.get("room") == stream

    config = TransportConfig(readable=["pub", "room.*"], can_read=member_of_room)
    started: list[UvicornServer] = []

    def on_uvicorn(app: Any) -> UvicornServer:
        started.append(UvicornServer(asgi_server(app)))
        return started[-1]

    try:
        _check_rooms(_serve(hub_factory(), live_server if server == "wsgi" else on_uvicorn, config))
    finally:
        for running in started:
            running.stop()


def _check_rooms(url: str) -> None:
    poll = f"{url}/livedash/poll?stream=room.blue&last=room.blue:1"
    assert _status(poll)[0] == 403
    assert _status(poll, {"Cookie": "room=room.red"})[0] == 403
    status, body = _status(poll, {"Cookie": "room=room.blue"})
    assert status == 200 and body["events"][0][0] == "room.blue"
    # Both rules apply: the predicate cannot open what the patterns close.
    assert _status(f"{url}/livedash/poll?stream=private", {"Cookie": "room=private"})[0] == 403


def test_by_default_every_stream_is_readable(
    hub_factory: Callable[..., Hub], live_server: Callable[[Any], LiveServer]
) -> None:
    url = _serve(hub_factory(), live_server, TransportConfig())
    status, body = _status(f"{url}/livedash/poll?stream=private&last=private:1")
    assert status == 200 and body["events"][0][3] == {"secret": "private data"}


@pytest.mark.parametrize("readable", ["pub", ["pub", ""], [None]])
def test_bad_readable_settings_are_refused(readable: Any) -> None:
    with pytest.raises(ConfigError, match="readable must be a list of stream-name patterns"):
        TransportConfig(readable=readable)
