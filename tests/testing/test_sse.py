"""livedash.testing's decoder: an event-stream body however it is cut, chunked and gzipped
as servers send it, gives the messages that were written."""

from __future__ import annotations

import random

from livedash.events import Event
from livedash.testing import EventStreamDecoder, Message, parse_message
from livedash.transport.wire import WireV1, WireV2, gzip_chunks


def _event(stream: str, seq: int, data: dict[str, object]) -> Event:
    return Event(stream=stream, seq=seq, ts=1_796_297_796.0 + seq, data=data)


def _texts() -> list[str]:
    v1, v2 = WireV1(), WireV2(["a", "b"])
    events = [_event("a", i, {"i": i, "s": "é€😀" * (i % 4)}) for i in range(1, 40)]
    texts = [v1.preamble(), v1.batch(events[:3], {"a": 3}), v1.synced({"a": 3, "b": 0})]
    texts += [v2.preamble(), v2.synced({"a": 3, "b": 0}), v2.reset("b", 7), ":\n\n"]
    texts += [v2.batch([e], {}) for e in events[3:]]
    return texts


def _chunked(parts: list[bytes]) -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\n\r\n"


def _expected(texts: list[str]) -> list[Message]:
    blocks = "".join(texts).split("\n\n")
    return [m for m in map(parse_message, blocks) if m is not None]


def test_chunked_gzip_stream_cut_anywhere_gives_every_message() -> None:
    texts = _texts()
    body = _chunked(list(gzip_chunks(texts)))
    rng = random.Random(3)
    for _ in range(20):
        decoder = EventStreamDecoder(chunked=True, gzip=True)
        got: list[Message] = []
        wire = 0
        rest = body
        while rest:
            cut = rng.randint(1, 40)
            piece, rest = rest[:cut], rest[cut:]
            for chunk in decoder.chunks(piece):
                wire += chunk.wire_bytes
                got += decoder.messages(chunk.text)
        assert got == _expected(texts)
        assert decoder.ended
        assert wire == len(body) - len(b"0\r\n\r\n")  # every chunk's bytes, framing included


def test_identity_stream_split_inside_a_character() -> None:
    texts = _texts()
    body = "".join(texts).encode()
    decoder = EventStreamDecoder()
    got = [m for i in range(len(body)) for m in decoder.feed(body[i : i + 1])]
    assert got == _expected(texts)
    assert [m.event for m in got[:4]] == ["message", "message", "hello", "sync"]
