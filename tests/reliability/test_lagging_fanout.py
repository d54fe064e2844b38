"""When the server itself falls behind a stream's retention, clients are told (reset), never
silently handed a stream with a hole in it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dash import Dash, html

from livedash import Hub, TransportConfig
from livedash.testing import LiveServer
from tests.reliability.clients import connect, first_message


def test_events_dropped_before_the_fanout_read_them_make_the_client_reset(
    hub_factory: Callable[..., Hub], live_server: Callable[[Any], LiveServer]
) -> None:
    hub = hub_factory()
    hub.stream("r", max_events=100)
    app = Dash(__name__)
    app.layout = html.Div("x")
    hub.init_app(app, TransportConfig(heartbeat=0.2))
    server = live_server(app)
    client = connect(server.port, "/livedash/events?stream=r")
    first_message(client)
    # One batch larger than the retention: by the time the fan-out reads the stream, events
    # 1..900 are gone, as they are when a busy server lags by more than the retention.
    hub.publish_many([("r", {"i": i}) for i in range(1000)])
    seen: list[tuple[str, int]] = []
    for msg in client:
        if msg.event == "reset":
            seen.append(("reset", msg.json()["seq"]))
        elif msg.event == "message":
            seen += [("event", seq) for _s, seq, _t, _d in msg.json()]
            if seen[-1:] == [("event", 1000)]:
                break
    client.close()
    assert seen == [("reset", 901)] + [("event", seq) for seq in range(901, 1001)]
