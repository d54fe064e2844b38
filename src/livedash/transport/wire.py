"""The bytes on the wire: compact JSON batches, SSE message framing and the gzip encoding
shared by every transport.

An event stream speaks one of two formats, chosen by the client with ``?wire=``:

* **1** (the default, for any EventSource or SSE library): every batch is
  ``id: CURSOR`` + ``data: [[stream, seq, ts, data], ...]``; the browser's own reconnect sends
  the id back as ``Last-Event-ID``.
* **2** (asked for by livedash's own client, which tracks its cursor and reconnects itself):
  a ``hello`` names the streams once, then every event is ``[i, dt, data]``: the stream's
  index, milliseconds since the previous event of the connection, and the data; ``seq`` is
  the stream's previous one plus one, written as a 4th element only where it is not. No
  ``id:`` lines. A single text update costs ~16 B on the wire instead of ~29 B with gzip
  (``python -m bench.wire_bytes``).
"""

from __future__ import annotations

import json
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Protocol

from livedash.events import Cursor, Event, format_cursor
from livedash.transport.params import BadRequest

#: The formats ``?wire=`` may ask for.
WIRE_VERSIONS = (1, 2)
#: The first bytes of every event stream: reconnect after 1 s.
RETRY = "retry: 1000\n\n"


def wire(events: Iterable[Event]) -> list[list[object]]:
    """Events in the compact wire form ``[stream, seq, ts, data]``, ``ts`` in epoch seconds
    to the millisecond: the browser's clock and a chart axis resolve no finer, and the three
    digits dropped are the least compressible bytes of a small event."""
    return [[e.stream, e.seq, round(e.ts, 3), e.data] for e in events]


def dumps(obj: object) -> str:
    """Compact JSON, as sent on every transport."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def fragment(event: Event) -> str:
    """``event`` in its wire form as JSON text, built once however many connections it is
    sent to (the fan-out hands every subscriber the same :class:`Event`), around the data's
    text as the store holds it (never decoded and encoded again)."""
    text = event.wire_json
    if text is None:
        # A stream name is letters, digits and ``_ . -`` (validated on publish): its JSON is
        # itself in quotes; a finite float's JSON is its repr. No json.dumps per event.
        text = f'["{event.stream}",{event.seq},{round(event.ts, 3)!r},{event.data_json}]'
        object.__setattr__(event, "wire_json", text)  # a cache, not a change of the event
    return text


def data_text(event: Event) -> str:
    """``event.data`` as JSON text, as stored: the same text for every connection, in
    either format."""
    return event.data_json


def millis(ts: float) -> int:
    """``ts`` as whole milliseconds, the same instant format 1 sends as ``round(ts, 3)``:
    ``millis(ts) / 1000`` parses to the very float format 1 carries."""
    return round(round(ts, 3) * 1000)


def message(events: list[Event], cursor: Cursor) -> str:
    """One format-1 SSE message carrying a batch; its id is the cursor after the batch."""
    return f"id: {format_cursor(cursor)}\ndata: [{','.join(map(fragment, events))}]\n\n"


def control(kind: str, payload: object) -> str:
    """A named SSE event (``reset``, ``status``, ``hello``, ``sync``) that is not stream data."""
    return f"event: {kind}\ndata: {dumps(payload)}\n\n"


def parse_wire(value: str | None) -> int:
    """The format a ``?wire=`` query parameter asks for (1 when absent)."""
    if value is None or value == "":
        return 1
    # Compared as text: int() of a run of 4,301+ digits raises (Python's conversion limit).
    versions = {str(v): v for v in WIRE_VERSIONS}
    if value in versions:
        return versions[value]
    raise BadRequest(
        f"wire must be one of {', '.join(map(str, WIRE_VERSIONS))}, got {value!r}; "
        "leave it out for the standard format"
    )


class Encoder(Protocol):
    """One connection's writer of SSE messages, in one wire format."""

    def preamble(self) -> str:
        """The first chunk of the stream."""

    def batch(self, events: list[Event], cursor: Cursor) -> str:
        """A message carrying ``events``; ``cursor`` is the position after them."""

    def synced(self, cursor: Cursor) -> str:
        """The message telling the client every stream's position once it is known."""

    def reset(self, stream: str, seq: int) -> str:
        """The ``reset`` control: ``stream`` continues at ``seq``, reload its history."""


class WireV1:
    """Format 1: the cursor as every message's id, every event in full."""

    def preamble(self) -> str:
        """``retry`` only."""
        return RETRY

    def batch(self, events: list[Event], cursor: Cursor) -> str:
        """See :func:`message`."""
        return message(events, cursor)

    def synced(self, cursor: Cursor) -> str:
        """An empty batch whose id is the cursor."""
        return f"id: {format_cursor(cursor)}\ndata: []\n\n"

    def reset(self, stream: str, seq: int) -> str:
        """The ``reset`` control."""
        return control("reset", {"stream": stream, "seq": seq})


class WireV2:
    """Format 2 for one connection: what the client knows is tracked here, so that only what
    it cannot infer is sent (see the module docstring)."""

    def __init__(self, streams: Sequence[str], clock: Callable[[], float] = time.time) -> None:
        self.streams = list(streams)
        self.clock = clock
        self.index = {name: i for i, name in enumerate(self.streams)}
        #: stream -> the seq the client last learnt on this connection
        self.known: dict[str, int] = {}
        #: the ts of the previous event sent, in ms (0 before the first: its dt is absolute)
        self.last_ms = 0

    def preamble(self) -> str:
        """``retry`` and the ``hello`` naming the format, the streams (index by index) and the
        server's clock in ms (``now``), against which the client measures how far behind the
        events it receives are (its badge says so on a link slower than the feed)."""
        hello = {"wire": 2, "streams": self.streams, "now": millis(self.clock())}
        return RETRY + control("hello", hello)

    def batch(self, events: list[Event], cursor: Cursor) -> str:
        """``data:[[i,dt,data],...]``, with a 4th element ``seq`` where it does not follow."""
        parts: list[str] = []
        for event in events:
            ms = millis(event.ts)
            head = f"[{self.index[event.stream]},{ms - self.last_ms},{data_text(event)}"
            self.last_ms = ms
            if self.known.get(event.stream) == event.seq - 1:
                parts.append(head + "]")
            else:
                parts.append(f"{head},{event.seq}]")
            self.known[event.stream] = event.seq
        return f"data:[{','.join(parts)}]\n\n"

    def synced(self, cursor: Cursor) -> str:
        """``event: sync`` with the cursor as an object; later events follow from it."""
        self.known.update(cursor)
        return control("sync", cursor)

    def reset(self, stream: str, seq: int) -> str:
        """The ``reset`` control; the stream's next event carries its seq again."""
        self.known.pop(stream, None)
        return control("reset", {"stream": stream, "seq": seq})


def encoder(version: int, streams: Sequence[str]) -> Encoder:
    """A fresh encoder for one connection following ``streams`` in format ``version``."""
    return WireV2(streams) if version == 2 else WireV1()


#: gzip with a 512 B window and memLevel 1: each open stream keeps its own compressor, and
#: zlib's defaults (32 KiB window, memLevel 8) cost ~256 KiB per connection once warm. Small
#: events repeat what the last few messages said, which a 512 B window still sees. Measured:
#: 9.0 KiB per compressor (11.0 with a 1 KiB window, 12.0 at memLevel 2, 23.1 with a 4 KiB
#: window and memLevel 4); a seed update 27.7 B on the wire in format 1 (27.4 B with 1 KiB),
#: a 1,000-point history ~4% larger.
GZIP_WBITS = 16 + 9
GZIP_MEMLEVEL = 1


def gzip_chunks(chunks: Iterable[str], *, compact: bool = False) -> Iterator[bytes]:
    """gzip-encode a stream, flushing after every chunk so each event leaves at once.

    A partial flush ends the deflate block with a 10-bit empty block instead of a sync
    flush's 5-byte stored one: every inflater then has every byte of the message, and a
    small event costs 3-4 bytes less.

    ``compact`` (format 2, read by browsers) drops that empty block too: a block flush ends
    the block and holds back at most 7 bits, and with fixed Huffman codes those are always
    bits of the block's 7-bit end code, so an inflater that outputs each symbol as it
    decodes it (zlib, and so every browser) already has every byte of the message: 1-1.5 B
    less per message. Decoders that release output only at a block's end (Go's
    compress/flate) would lag one message behind, which is why format 1 keeps the partial
    flush. Fixed codes cost large batches 15-40% against dynamic ones (a 1,000-event
    catch-up), still less than format 1 sends for them."""
    if compact:
        strategy, mode = zlib.Z_FIXED, zlib.Z_BLOCK
    else:
        strategy, mode = zlib.Z_DEFAULT_STRATEGY, zlib.Z_PARTIAL_FLUSH
    compressor = zlib.compressobj(6, zlib.DEFLATED, GZIP_WBITS, GZIP_MEMLEVEL, strategy)
    iterator = iter(chunks)
    try:
        for chunk in iterator:
            yield compressor.compress(chunk.encode("utf-8")) + compressor.flush(mode)
    finally:
        close = getattr(iterator, "close", None)
        if close is not None:
            close()
