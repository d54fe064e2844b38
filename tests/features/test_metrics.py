"""GET /metrics: the Prometheus text format, parsed by prometheus-client, and counters move."""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest
from dash import Dash, html
from prometheus_client.parser import text_string_to_metric_families

from livedash import Hub, PublishError
from livedash.testing import LiveServer, SSEClient

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def _scrape(server: LiveServer) -> Samples:
    with urllib.request.urlopen(f"{server.url}/metrics", timeout=30) as r:
        assert r.status == 200
        assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = r.read().decode()
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def _serve(hub: Hub, live_server: Callable[[Any], LiveServer]) -> LiveServer:
    app = Dash(__name__)
    app.layout = html.Div("x")
    hub.init_app(app)
    return live_server(app)


def _value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_parse_and_count_publishes_deliveries_and_connections(
    hub_factory: Callable[..., Hub], live_server: Callable[[Any], LiveServer]
) -> None:
    hub = hub_factory()
    server = _serve(hub, live_server)
    before = _scrape(server)
    assert _value(before, "livedash_open_connections") == 0
    assert _value(before, "livedash_publish_latency_seconds_count") == 0
    assert _value(before, "livedash_store_healthy") == 1

    client = SSEClient(server.port, "/livedash/events?stream=m")
    messages = iter(client)
    try:
        # The first data message (empty batch) says the stream is set up and subscribed.
        next(m for m in messages if m.event == "message")
        assert _value(_scrape(server), "livedash_open_connections") == 1
        for i in range(5):
            hub.publish("m", {"i": i})
        hub.publish_many([("m", {"i": 5}), ("other", {"i": 0})])
        with pytest.raises(PublishError):
            hub.publish("bad name", {})
        got: list[int] = []
        while len(got) < 6:
            got += [e[3]["i"] for e in next(messages).json()]
        assert got == list(range(6))
        after = _scrape(server)
    finally:
        client.response.close()  # the response holds the socket open past conn.close()
        client.close()
    assert _value(after, "livedash_events_published_total", stream="m") == 6
    assert _value(after, "livedash_events_published_total", stream="other") == 1
    assert _value(after, "livedash_events_delivered_total", stream="m") == 6
    assert _value(after, "livedash_publish_rejected_total", reason="bad_stream") == 1
    assert _value(after, "livedash_publish_latency_seconds_count") == 6  # publish calls
    assert _value(after, "livedash_publish_latency_seconds_sum") > 0
    assert _value(after, "livedash_publish_latency_seconds_bucket", le="+Inf") == 6
    assert _value(after, "livedash_subscriptions") == 1

    # The server notices the closed stream at its next write; the gauge then drops to 0.
    deadline = time.monotonic() + 30
    while _value(_scrape(server), "livedash_open_connections") != 0:
        assert time.monotonic() < deadline, "closed event stream still counted as open"
        hub.publish("m", {"i": -1})  # gives the server a write that fails
        time.sleep(0.05)


def test_metrics_count_overflows_and_resyncs(
    hub_factory: Callable[..., Hub], live_server: Callable[[Any], LiveServer]
) -> None:
    hub = hub_factory(queue_size=1)
    server = _serve(hub, live_server)
    hub.stream("gap", max_events=3)
    for i in range(10):
        hub.publish("gap", {"i": i})
    # A client resuming behind retention gets a reset: a "gap" resync.
    client = SSEClient(server.port, "/livedash/events?stream=gap&cursor=gap:1")
    try:
        assert any(m.event == "reset" for m in client)
    finally:
        client.close()
    assert _value(_scrape(server), "livedash_resyncs_total", reason="gap") == 1

    # A queue of one event overflows when a burst arrives faster than it is drained.
    client = SSEClient(server.port, "/livedash/events?stream=burst")
    try:
        messages = iter(client)
        next(m for m in messages if m.event == "message")
        deadline = time.monotonic() + 30
        seen = 0
        while _value(_scrape(server), "livedash_queue_overflows_total") == 0:
            assert time.monotonic() < deadline, "no overflow after many bursts"
            hub.publish_many([("burst", {"i": i}) for i in range(200)])
            # Read everything sent so far, so the server never blocks on a full socket.
            while seen < hub.store.head("burst"):
                seen = max(e[1] for e in next(messages).json())
        samples = _scrape(server)
    finally:
        client.close()
    assert _value(samples, "livedash_resyncs_total", reason="overflow") >= 1
    # Nothing was lost: the resync read the dropped events from the store.
    assert seen == hub.store.head("burst")
