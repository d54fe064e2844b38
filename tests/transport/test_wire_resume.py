"""Wire format 2 over real servers (the Flask app threaded under werkzeug, and on uvicorn
with the native ASGI routes): a client that tracks its own cursor and reconnects with it
gets every event once, in order, with the very seq, ts and data of the store; through
dropped connections, several streams, history, overflow resyncs and resets. Format 1 is
what plain clients always got."""

from __future__ import annotations

import json
import random
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from dash import Dash, html

from livedash import Hub, TransportConfig
from livedash.testing import LiveServer, RawStream, UvicornServer, WireReader, decode_stream
from livedash.transport.params import StreamRequest
from livedash.transport.serving import asgi_server
from livedash.transport.sse import EventStream
from livedash.transport.steps import Wait
from livedash.transport.wire import wire

Serve = Callable[[Hub], Any]
#: Longest wait for a condition (a loaded 2-core machine is slow).
DEADLINE = 30.0


def _app(hub: Hub) -> Dash:
    app = Dash(__name__)
    app.layout = html.Div("x")
    hub.init_app(app, TransportConfig(heartbeat=0.5))
    return app


@pytest.fixture(params=["werkzeug", "uvicorn"])
def serve(
    request: pytest.FixtureRequest, live_server: Callable[[Any], LiveServer]
) -> Iterator[Serve]:
    """Factory: ``serve(hub)`` serves a Dash app on ``hub`` on each server; its port."""
    servers: list[UvicornServer] = []

    def start(hub: Hub) -> int:
        if request.param == "werkzeug":
            return live_server(_app(hub)).port
        server = UvicornServer(asgi_server(_app(hub)))
        servers.append(server)
        return server.port

    yield start
    for server in servers:
        server.stop()


def _stored(hub: Hub, *streams: str) -> list[list[Any]]:
    """Every stored event of ``streams`` in the wire form, stream by stream."""
    return [e for s in streams for e in wire(hub.read(s, 0, 10_000))]


def _by_stream(events: list[list[Any]], *streams: str) -> list[list[Any]]:
    return [e for s in streams for e in events if e[0] == s]


def _read(stream: RawStream, reader: WireReader, count: int) -> list[list[Any]]:
    """``count`` more events from ``stream``; the first ``count`` if more came at once."""
    got: list[list[Any]] = []
    for message in stream.messages():
        got += reader.read(message)
        if len(got) >= count:
            return got
    raise AssertionError(f"the stream ended after {len(got)} of {count} events")


def test_dropped_mid_stream_and_resumed_from_its_own_cursor_every_event_once(
    serve: Serve, hub_factory: Callable[..., Hub]
) -> None:
    hub = hub_factory()
    port = serve(hub)
    streams = ("a", "b", "c")
    rng = random.Random(5)
    hub.publish_many([("a", {"i": i}) for i in range(30)])
    reader = WireReader(dict.fromkeys(streams, 0))
    got: list[list[Any]] = []
    paths = []
    for round_ in range(8):
        path = f"/livedash/events?stream=a&stream=b&stream=c&wire=2&{reader.query()}"
        paths.append(path)
        stream = RawStream(port, path)
        assert stream.headers["content-encoding"] == "gzip"
        # A burst across the streams, then the connection is dropped with part of it read
        # (the rest is in flight in the socket) and the client reconnects from its cursor.
        hub.publish_many(
            [(rng.choice(streams), {"r": round_, "i": i, "x": rng.random()}) for i in range(60)]
        )
        got += _read(stream, reader, 25)
        stream.close()
    total = 30 + 8 * 60
    stream = RawStream(port, f"/livedash/events?stream=a&stream=b&stream=c&wire=2&{reader.query()}")
    got += _read(stream, reader, total - len(got))
    stream.close()
    assert len(got) == total
    assert _by_stream(got, *streams) == _stored(hub, *streams)
    # Nothing was sent twice: each reconnect asked for exactly what the client had.
    assert reader.decoded == total
    assert len(set(paths)) == len(paths)


def test_history_then_live_on_several_streams(
    serve: Serve, hub_factory: Callable[..., Hub]
) -> None:
    hub = hub_factory()
    port = serve(hub)
    hub.publish_many([("h", {"i": i}) for i in range(20)] + [("k", {"j": 0})])
    reader = WireReader()
    stream = RawStream(port, "/livedash/events?stream=h&stream=k&stream=q&last=h:5&wire=2")
    got = _read(stream, reader, 5)
    for message in stream.messages():  # up to the sync: k and q at their heads
        reader.read(message)
        if message.event == "sync":
            assert message.json() == {"h": 20, "k": 1, "q": 0}
            break
    hub.publish_many([("q", {"n": 1}), ("k", {"j": 1}), ("h", {"i": 20}), ("q", {"n": 2})])
    got += _read(stream, reader, 4)
    stream.close()
    # In order within each stream (the order across streams is the fan-out's).
    assert [(e[0], e[1]) for e in _by_stream(got, "h", "k", "q")] == [
        *(("h", seq) for seq in range(16, 22)),
        *[("k", 2), ("q", 1), ("q", 2)],
    ]
    stored = _stored(hub, "h", "k", "q")
    assert _by_stream(got, "h", "k", "q") == [e for e in stored if e in got]


def test_reset_after_a_retention_gap_and_after_the_store_went_backwards(
    serve: Serve, hub_factory: Callable[..., Hub]
) -> None:
    hub = hub_factory()
    hub.stream("g", max_events=10)
    port = serve(hub)
    hub.publish_many([("g", {"i": i}) for i in range(30)])
    # Behind the retention (the client had seq 5, the store keeps 21-30), and ahead of the
    # store (seq 500: a Redis restarted empty, and refilled to 30): both continue at 21.
    for cursor in (5, 500):
        reader = WireReader({"g": cursor})
        stream = RawStream(port, f"/livedash/events?stream=g&wire=2&{reader.query()}")
        got = _read(stream, reader, 10)
        stream.close()
        assert reader.resets == [{"stream": "g", "seq": 21}]
        assert got == _stored(hub, "g")


def test_a_resync_after_overflow_continues_exactly(hub_factory: Callable[..., Hub]) -> None:
    """The stream's own steps, driven here: its queue overflows while it is not read, it
    resyncs from the store, and format 2's implied seqs stay right across it."""
    hub = hub_factory(queue_size=8)
    hub.publish_many([("o", {"i": -1}), ("p", {"i": -1})])
    body = EventStream(hub, StreamRequest(["o", "p"], {"o": 0, "p": 0}), 0.5, wire=2).steps()
    text = ""

    def to_next_wait() -> Wait:
        nonlocal text
        while not isinstance(step := next(body), Wait):
            if isinstance(step, str):
                text += step
        return step

    waiting = to_next_wait()  # started: the client has o:1 and p:1, live from here
    for burst in range(3):
        sub, before = waiting.sub, waiting.sub.overflows
        # Unread, the queue of 8 overflows; the stream finds that and resyncs from the store.
        hub.publish_many([(("o", "p")[i % 2], {"b": burst, "i": i}) for i in range(20)])
        deadline = time.monotonic() + DEADLINE
        while sub.overflows == before:
            assert time.monotonic() < deadline, "the subscription never overflowed"
            time.sleep(0.01)
        waiting = to_next_wait()
    body.close()
    assert waiting.sub.overflows == 3
    reader, got = decode_stream(text)
    assert _by_stream(got, "o", "p") == _stored(hub, "o", "p")
    assert reader.decoded == 62


def test_plain_clients_get_format_1_unchanged(
    serve: Serve, hub_factory: Callable[..., Hub]
) -> None:
    hub = hub_factory()
    port = serve(hub)
    events = hub.publish_many([("u", {"i": 0}), ("u", {"i": 1})])
    stream = RawStream(port, "/livedash/events?stream=u&stream=v&last=u:2", gzip=False)
    chunks = stream.chunks()
    first = [next(chunks)[1] for _ in range(3)]
    stream.close()
    a, b = (round(e.ts, 3) for e in events)
    assert first == [
        "retry: 1000\n\n",
        f'id: u:2\ndata: [["u",1,{a!r},{{"i":0}}],["u",2,{b!r},{{"i":1}}]]\n\n',
        "id: u:2,v:0\ndata: []\n\n",
    ]


@pytest.mark.parametrize("version", ["1", "2"])
def test_each_gzip_chunk_of_a_real_stream_is_whole_messages(
    serve: Serve, hub_factory: Callable[..., Hub], version: str
) -> None:
    hub = hub_factory()
    port = serve(hub)
    stream = RawStream(port, f"/livedash/events?stream=w&wire={version}")
    chunks = stream.chunks()
    texts = [next(chunks)[1]]
    while not texts[-1].startswith(("id: w:0\ndata: []", "event: sync")):  # subscribed
        texts.append(next(chunks)[1])
    hub.publish_many([("w", {"i": i, "pad": "y" * (i % 50)}) for i in range(300)])
    while texts[-1].count('"i":299') == 0:
        texts.append(next(chunks)[1])
    stream.close()
    # Each chunk inflated alone (after those before it) ends a message: nothing of an
    # event waits in the inflater for a later chunk.
    assert all(t.endswith("\n\n") for t in texts), [t[-20:] for t in texts]
    _, got = decode_stream("".join(texts))
    assert got == _stored(hub, "w")


@pytest.mark.parametrize("query", ["wire=3", "wire=v2", "wire=01x"])
def test_an_unknown_wire_format_is_refused(
    serve: Serve, hub_factory: Callable[..., Hub], query: str
) -> None:
    port = serve(hub_factory())
    url = f"http://127.0.0.1:{port}/livedash/events?stream=x&{query}"
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(url, timeout=10)
    assert info.value.code == 400
    assert "wire must be one of 1, 2" in json.loads(info.value.read())["error"]
