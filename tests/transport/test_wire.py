"""The wire formats without a server: format 1 byte for byte as before, format 2 decoding to
exactly the same events, and gzip chunks that each inflate to whole messages."""

from __future__ import annotations

import random
import zlib
from datetime import datetime

import pytest

from livedash.events import Event
from livedash.testing import decode_stream
from livedash.transport.params import BadRequest
from livedash.transport.wire import (
    RETRY,
    WireV1,
    WireV2,
    control,
    gzip_chunks,
    millis,
    parse_wire,
    wire,
)


def _event(stream: str, seq: int, ts: float, data: dict[str, object]) -> Event:
    return Event(stream, seq, ts, data)


def test_format_1_is_byte_for_byte_what_plain_clients_always_got() -> None:
    v1 = WireV1()
    events = [_event("a", 3, 1796297796.0278935, {"x": 1}), _event("b", 7, 1796297796.5, {})]
    assert v1.preamble() == "retry: 1000\n\n"
    assert v1.batch(events, {"a": 3, "b": 7}) == (
        'id: a:3,b:7\ndata: [["a",3,1796297796.028,{"x":1}],["b",7,1796297796.5,{}]]\n\n'
    )
    assert v1.synced({"a": 3, "b": 0}) == "id: a:3,b:0\ndata: []\n\n"
    assert v1.reset("a", 9) == 'event: reset\ndata: {"stream":"a","seq":9}\n\n'


def test_format_2_sends_what_the_client_cannot_infer_and_nothing_else() -> None:
    v2 = WireV2(["a", "b"], clock=lambda: 1000.0)
    hello = 'event: hello\ndata: {"wire":2,"streams":["a","b"],"now":1000000}\n\n'
    assert v2.preamble() == RETRY + hello
    first = v2.batch([_event("a", 4, 1000.0016, {"x": 1}), _event("a", 5, 1001.0, {})], {})
    # The first event of a stream carries its seq and an absolute ts; the next follow it.
    assert first == 'data:[[0,1000002,{"x":1},4],[0,998,{}]]\n\n'
    assert v2.synced({"a": 5, "b": 10}) == 'event: sync\ndata: {"a":5,"b":10}\n\n'
    assert v2.batch([_event("b", 11, 1000.999, {"y": 2})], {}) == 'data:[[1,-1,{"y":2}]]\n\n'
    assert v2.batch([_event("b", 13, 1001.0, {})], {}) == "data:[[1,1,{},13]]\n\n"
    v2.reset("b", 20)
    assert v2.batch([_event("b", 14, 1001.0, {})], {}) == "data:[[1,0,{},14]]\n\n"


def test_format_2_decodes_to_exactly_the_events_format_1_carries() -> None:
    """Random streams, seq jumps, resets and sync positions: seq, ts (as floats), data equal."""
    rng = random.Random(7)
    streams = ["seed", "ticks", "b.c-d_1"]
    v2 = WireV2(streams)
    heads = dict.fromkeys(streams, 0)
    sent: list[Event] = []
    text = v2.preamble()
    ts = 1_796_297_796.0
    for step in range(400):
        roll = rng.random()
        if roll < 0.05:
            stream = rng.choice(streams)
            heads[stream] += rng.randint(2, 50)  # retention dropped some: the seq jumps
            text += v2.reset(stream, heads[stream] + 1)
            continue
        if step == 20:
            text += v2.synced(dict(heads))
        batch = []
        for _ in range(rng.randint(1, 6)):
            stream = rng.choice(streams)
            heads[stream] += 1
            ts += rng.choice([0.0, 0.0004, 0.0015, 1.0, 0.9994, rng.uniform(-0.5, 3.0)])
            data = {"i": step, "v": rng.random(), "s": 'é\n"x"', "n": [1, {"k": None}]}
            batch.append(_event(stream, heads[stream], ts, data))
        sent += batch
        text += v2.batch(batch, {})
    _, got = decode_stream(text)
    assert got == wire(sent)
    assert [type(e[2]) for e in got] == [float] * len(got)


@pytest.mark.parametrize("ts", [0.0, 0.0005, 1.0015, 1_796_297_796.0278935, 4_102_444_800.9995])
def test_millis_is_the_millisecond_format_1_rounds_to(ts: float) -> None:
    assert millis(ts) / 1000 == round(ts, 3)


def _seed_events(n: int, seed: int = 1) -> list[Event]:
    """The seed page's stream: one event a second, jitter of a few ms, its text payload."""
    rng = random.Random(seed)
    ts = 1_796_297_796.028
    events = []
    for seq in range(1, n + 1):
        ts += 1 + rng.choice([0, 0, 0.001, -0.001, 0.002, -0.002, 0.005, -0.005])
        stamp = f"{datetime.fromtimestamp(ts):%Y-%m-%d %H:%M:%S}"
        events.append(_event("seed", seq, ts, {"time": stamp, "number": rng.randint(0, 100)}))
    return events


def _wire_bytes(chunks: list[str], compact: bool) -> list[int]:
    """Bytes each chunk takes in a chunked gzip response: the compressed bytes and the
    ``SIZE\\r\\n`` ... ``\\r\\n`` around them."""
    out = []
    for body in gzip_chunks(chunks, compact=compact):
        out.append(len(f"{len(body):x}\r\n") + len(body) + 2)
    return out


def test_a_seed_update_costs_at_most_17_bytes_in_format_2() -> None:
    events = _seed_events(200)
    v1, v2 = WireV1(), WireV2(["seed"])
    old = [v1.preamble()] + [v1.batch([e], {"seed": e.seq}) for e in events]
    new = [v2.preamble(), v2.synced({"seed": 0})] + [v2.batch([e], {}) for e in events]
    # Steady state: after the first events of the connection.
    old_bytes = _wire_bytes(old, compact=False)[50:]
    new_bytes = _wire_bytes(new, compact=True)[51:]
    assert sum(new_bytes) / len(new_bytes) <= 17
    assert sum(new_bytes) / len(new_bytes) < sum(old_bytes) / len(old_bytes) - 8


def _varied_chunks(rng: random.Random) -> list[str]:
    """Messages zlib would code in every block type: tiny, repetitive, few-symbol, large."""
    chunks = []
    for i in range(600):
        kind = i % 4
        if kind == 0:
            body = "".join(rng.choice("01") for _ in range(rng.randint(1, 600)))
        elif kind == 1:
            body = ",".join(str(rng.randint(990, 1010)) for _ in range(rng.randint(1, 400)))
        elif kind == 2:
            body = bytes(rng.randrange(256) for _ in range(rng.randint(1, 300))).hex()
        else:
            body = "x" * rng.randint(1, 5000)
        chunks.append(f"data:[{body}]\n\n")
    chunks.append(control("status", {"store": "ok"}))
    chunks.append(":\n\n")
    return chunks


@pytest.mark.parametrize("compact", [False, True])
def test_every_gzip_chunk_inflates_to_its_whole_message_at_once(compact: bool) -> None:
    """What a browser needs to dispatch each event on arrival: no bit of a message is held
    back until the next one (format 2's block flush included)."""
    chunks = _varied_chunks(random.Random(3))
    inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
    for chunk, body in zip(chunks, gzip_chunks(chunks, compact=compact), strict=True):
        assert body, "an empty chunk would end a chunked response"
        assert inflate.decompress(body).decode() == chunk


def test_parse_wire_accepts_the_known_formats_only() -> None:
    assert parse_wire(None) == 1
    assert parse_wire("") == 1
    assert parse_wire("1") == 1
    assert parse_wire("2") == 2
    for bad in ("3", "0", "two", "²", "-1"):
        with pytest.raises(BadRequest, match="wire must be one of 1, 2"):
            parse_wire(bad)
