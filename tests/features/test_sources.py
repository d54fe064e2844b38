"""Sources deliver real messages: a timer, a real MQTT broker, a file being written, a real
HTTP server. Each test waits on the hub's own subscription queue, with a deadline."""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from livedash import Event, Hub
from livedash.fanout import Subscription
from livedash.sources import Every
from livedash.sources.file import FileTail, parse_cell
from livedash.sources.http import HTTPPoll, select_path
from livedash.sources.mqtt import MQTTSource, decode_payload, topic_stream


def _take(sub: Subscription, n: int, timeout: float = 30.0) -> list[Event]:
    """The next ``n`` events of ``sub`` (fails after ``timeout`` seconds)."""
    out: list[Event] = []
    deadline = time.monotonic() + timeout
    while len(out) < n:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"only {len(out)} of {n} events arrived: {out}"
        events, _ = sub.get(min(remaining, 1.0))
        out += events
    return out


def test_every_publishes_on_its_period(hub_factory: Callable[..., Hub]) -> None:
    hub = hub_factory()
    sub = hub.subscribe(["tick"])
    count = iter(range(1_000_000))
    hub.add_source(Every(0.02, lambda: {"n": next(count)}, "tick"))
    hub.start()
    assert [e.data["n"] for e in _take(sub, 5)][:5] == [0, 1, 2, 3, 4]


def test_a_source_runs_in_one_process_of_a_deployment(
    hub_factory: Callable[..., Hub], tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    hubs = [hub_factory(url), hub_factory(url)]
    sub = hubs[0].subscribe(["who"])
    for hub in hubs:
        marker = {"by": hub.instance_id}
        hub.add_source(Every(0.02, marker.copy, "who"))
        hub.start()
    authors = {e.data["by"] for e in _take(sub, 20)}
    assert len(authors) == 1
    # The holder stops (its process "dies"): the other takes over once the lease expires.
    holder = next(h for h in hubs if h.instance_id in authors)
    other = next(h for h in hubs if h is not holder)
    for source in holder.sources:
        source.stop()
    sub2 = other.subscribe(["who"])
    deadline = time.monotonic() + 30
    while True:
        events = _take(sub2, 1)
        if any(e.data["by"] == other.instance_id for e in events):
            break
        assert time.monotonic() < deadline


def test_a_failing_every_keeps_ticking(hub_factory: Callable[..., Hub]) -> None:
    hub = hub_factory()
    sub = hub.subscribe(["flaky"])
    calls = iter(range(1_000_000))

    def flaky() -> dict[str, int]:
        n = next(calls)
        if n % 2:
            raise RuntimeError("sensor hiccup")
        return {"n": n}

    source = Every(0.02, flaky, "flaky")
    hub.add_source(source)
    hub.start()
    assert [e.data["n"] for e in _take(sub, 3)][:3] == [0, 2, 4]
    assert source.errors >= 2


# -- MQTT ------------------------------------------------------------------------------------
def test_payloads_and_topic_names() -> None:
    assert decode_payload(b'{"t": 21.5}') == {"t": 21.5}
    assert decode_payload(b"21.5") == {"value": 21.5}
    assert decode_payload(b"on") == {"value": "on"}
    assert decode_payload(b"\xff\xfe") is None
    assert topic_stream("sensors/+/temperature") == "sensors.temperature"
    assert topic_stream("#") == "mqtt"


@pytest.fixture
def mqtt_publisher(mqtt_broker: tuple[str, int]) -> Iterator[mqtt.Client]:
    client = mqtt.Client(CallbackAPIVersion.VERSION2)
    client.connect(*mqtt_broker)
    client.loop_start()
    yield client
    client.disconnect()
    client.loop_stop()


def test_mqtt_messages_become_events(
    hub_factory: Callable[..., Hub], mqtt_broker: tuple[str, int], mqtt_publisher: mqtt.Client
) -> None:
    base = f"livedash-test/{uuid.uuid4().hex}"
    hub = hub_factory()
    sub = hub.subscribe(["temps", "doors"])
    source = MQTTSource(
        {f"{base}/+/temperature": "temps", f"{base}/door": "doors"},
        host=mqtt_broker[0],
        port=mqtt_broker[1],
        with_topic=True,
    )
    hub.add_source(source)
    hub.start()
    assert source.connected.wait(30), "never connected to the broker"
    sent = [
        (f"{base}/kitchen/temperature", b'{"c": 21.5}'),
        (f"{base}/hall/temperature", b"19"),
        (f"{base}/door", b"open"),
        (f"{base}/kitchen/humidity", b"40"),  # matches no filter
        (f"{base}/kitchen/temperature", b'{"c": 22.0}'),
    ]
    for topic, payload in sent:
        mqtt_publisher.publish(topic, payload, qos=1).wait_for_publish(timeout=10)
    events = _take(sub, 4)
    temps = [e.data for e in events if e.stream == "temps"]
    assert temps == [
        {"c": 21.5, "topic": f"{base}/kitchen/temperature"},
        {"value": 19, "topic": f"{base}/hall/temperature"},
        {"c": 22.0, "topic": f"{base}/kitchen/temperature"},
    ]
    assert [e.data for e in events if e.stream == "doors"] == [
        {"value": "open", "topic": f"{base}/door"}
    ]
    assert source.published == 4
    hub.close()
    assert not source.connected.is_set()


# -- files -----------------------------------------------------------------------------------
def test_parse_cell() -> None:
    assert [parse_cell(c) for c in ["3", "2.5", "", "abc", "nan"]] == [3, 2.5, None, "abc", "nan"]


def test_tailing_jsonl_follows_appends_partial_lines_and_rotation(
    hub_factory: Callable[..., Hub], tmp_path: Path
) -> None:
    path = tmp_path / "feed.jsonl"
    path.write_text('{"old": 1}\n')  # already there: not published by default
    hub = hub_factory()
    sub = hub.subscribe(["feed"])
    source = FileTail(path, "feed", poll=0.02)
    hub.add_source(source)
    hub.start()
    assert source.ready.wait(10)
    with path.open("a") as f:
        f.write('{"i": 1}\n{"i": 2}\n{"i": ')
        f.flush()
        assert [e.data for e in _take(sub, 2)] == [{"i": 1}, {"i": 2}]
        f.write("3}\nnot json\n4\n")
    assert [e.data for e in _take(sub, 2)] == [{"i": 3}, {"value": 4}]
    assert source.errors == 1
    # Rotation: the file is replaced by a new one; its lines are read from the start.
    rotated = tmp_path / "feed.jsonl.1"
    os.rename(path, rotated)
    path.write_text('{"i": 5}\n')
    assert [e.data for e in _take(sub, 1)] == [{"i": 5}]
    # Truncation in place (shorter than what was read): read again from the start.
    path.write_text("7\n")
    assert [e.data for e in _take(sub, 1)] == [{"value": 7}]


def test_tailing_csv_uses_the_header_and_numbers(
    hub_factory: Callable[..., Hub], tmp_path: Path
) -> None:
    path = tmp_path / "readings.csv"
    path.write_text("sensor,value,note\ns0,1,\n")
    hub = hub_factory()
    sub = hub.subscribe(["readings"])
    source = FileTail(path, "readings", poll=0.02, from_start=True)
    hub.add_source(source)
    hub.start()
    assert [e.data for e in _take(sub, 1)] == [{"sensor": "s0", "value": 1, "note": None}]
    with path.open("a") as f:
        f.write('s1,2.5,"a, b"\ns2,oops\n')
    assert [e.data for e in _take(sub, 1)] == [{"sensor": "s1", "value": 2.5, "note": "a, b"}]
    deadline = time.monotonic() + 30
    while source.errors == 0:  # the short row is counted, not published
        assert time.monotonic() < deadline
        time.sleep(0.02)


# -- HTTP ------------------------------------------------------------------------------------
class _Endpoint(BaseHTTPRequestHandler):
    hits = 0
    fail_next = False

    def do_GET(self) -> None:
        cls = type(self)
        cls.hits += 1
        if cls.fail_next:
            cls.fail_next = False
            self.send_response(500)
            self.end_headers()
            return
        body = json.dumps({"status": {"load": cls.hits, "ok": True}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_http_poll_publishes_each_answer_and_survives_errors(
    hub_factory: Callable[..., Hub],
) -> None:
    handler = type("Handler", (_Endpoint,), {"hits": 0, "fail_next": True})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        hub = hub_factory()
        sub = hub.subscribe(["status"])
        url = f"http://127.0.0.1:{server.server_address[1]}/status.json"
        source = HTTPPoll(url, "status", 0.05, select="status")
        hub.add_source(source)
        hub.start()
        events = _take(sub, 3)
        # The first request failed (HTTP 500); the next ones were published in order.
        assert [e.data for e in events][:3] == [{"load": n, "ok": True} for n in (2, 3, 4)]
        assert source.errors == 1
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_select_path() -> None:
    doc = {"a": {"b": [10, {"c": 3}]}}
    assert select_path(doc, "a.b.1.c") == 3
    assert select_path(doc, "a.x") is None
    assert select_path(doc, None) is doc
