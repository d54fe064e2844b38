"""The event stream over real HTTP: order, completeness, resume."""

from __future__ import annotations

import json
import threading
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest
from dash import Dash, html

from livedash import Hub
from livedash.testing import LiveServer, SSEClient


def _app(hub: Hub) -> Dash:
    app = Dash(__name__)
    app.layout = html.Div("x")
    hub.init_app(app)
    return app


def test_burst_of_1000_arrives_in_order_none_missing(
    hub_factory: Callable[..., Hub], live_server: Callable[[Any], LiveServer]
) -> None:
    hub = hub_factory()
    server = live_server(_app(hub))
    client = SSEClient(server.port, "/livedash/events?stream=burst")
    messages = iter(client)
    first = next(messages)  # the position message: the subscription is live from here
    assert first.id == "burst:0"
    publisher = threading.Thread(
        target=lambda: [hub.publish("burst", {"i": i}) for i in range(1000)]
    )
    publisher.start()
    seqs = client.seqs("burst", 1000)
    publisher.join()
    client.close()
    assert seqs == list(range(1, 1001))


def test_reconnect_with_last_event_id_resumes_without_gap_or_duplicate(
    hub_factory: Callable[..., Hub], live_server: Callable[[Any], LiveServer]
) -> None:
    hub = hub_factory()
    server = live_server(_app(hub))
    for i in range(50):
        hub.publish("r", {"i": i})
    first = SSEClient(server.port, "/livedash/events?stream=r&last=r:50")
    seen = first.seqs("r", 50)
    hub.publish_many([("r", {"i": i}) for i in range(50, 60)])
    seen += first.seqs("r", 60)[:5]  # drop mid-stream, having kept 5 of the 10
    last_id = f"r:{seen[-1]}"
    first.close()
    for i in range(60, 100):
        hub.publish("r", {"i": i})
    second = SSEClient(server.port, "/livedash/events?stream=r", {"Last-Event-ID": last_id})
    seen += second.seqs("r", 100)
    second.close()
    assert seen == list(range(1, 101))


def test_history_then_live_for_several_streams(
    hub_factory: Callable[..., Hub], live_server: Callable[[Any], LiveServer]
) -> None:
    hub = hub_factory()
    server = live_server(_app(hub))
    for i in range(5):
        hub.publish("a", {"i": i})
    client = SSEClient(server.port, "/livedash/events?stream=a&stream=b&last=a:2,b:10")
    got: list[tuple[str, int]] = []
    for msg in client:
        got += [(s, q) for s, q, _t, _d in msg.json()]
        if msg.id == "a:5,b:0":
            break
    hub.publish("b", {"i": 0})
    for msg in client:
        got += [(s, q) for s, q, _t, _d in msg.json()]
        if ("b", 1) in got:
            break
    client.close()
    assert got == [("a", 4), ("a", 5), ("b", 1)]


def test_gzip_stream_decodes_to_the_same_events(
    hub_factory: Callable[..., Hub], live_server: Callable[[Any], LiveServer]
) -> None:
    import zlib

    hub = hub_factory()
    server = live_server(_app(hub))
    for i in range(3):
        hub.publish("z", {"i": i})
    client = SSEClient(
        server.port, "/livedash/events?stream=z&last=z:3", {"Accept-Encoding": "gzip"}
    )
    assert client.response.getheader("Content-Encoding") == "gzip"
    inflate = zlib.decompressobj(31)
    text = ""
    while "data: []" not in text:
        text += inflate.decompress(client.response.read1(65536)).decode()
    client.close()
    payload = [line[6:] for line in text.splitlines() if line.startswith("data: [[")]
    assert [e[3]["i"] for e in json.loads(payload[0])] == [0, 1, 2]


@pytest.mark.parametrize(
    "query",
    [
        "",
        "?stream=",
        "?stream=bad%20name",
        "?stream=a&cursor=a:x",
        "?stream=a&last=b:3",
        "?stream=a&last=a:999999999",
    ],
)
def test_bad_requests_get_400_with_a_reason(
    hub_factory: Callable[..., Hub], live_server: Callable[[Any], LiveServer], query: str
) -> None:
    server = live_server(_app(hub_factory()))
    for route in ("events", "poll"):
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(f"{server.url}/livedash/{route}{query}", timeout=10)
        assert info.value.code == 400
        assert json.loads(info.value.read())["error"]
