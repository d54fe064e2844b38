"""What a text update costs on the wire, and which part of it is what.

``python -m bench.wire_cost --port P [--stream seed] [--events 12]``

Two event streams are read from a running livedash server at once: one with
``Accept-Encoding: gzip`` as a browser asks (the bytes counted are the real ones: HTTP chunk
framing plus the gzip payload), one with identity (the SSE text the server wrote). The SSE
messages of the identity stream are then compressed again as the server compresses them (its
``livedash.transport.wire`` settings, one compressor for the stream, a flush per message),
with parts taken out one at a time: the ``id:`` line (the cursor that makes resume exact),
the event's ``ts``, and everything but the event's own data (the batch framing: the
``[[stream, seq, ts, ...]]`` wrapper and the SSE field names). The differences say what each
part costs once compressed, which is what a connection pays.

The rules that find the ``id`` and ``ts`` are the only format-specific part
(:func:`strip_ts`, :func:`bare_data`): a new wire format needs its rule there, the rest
stays. The first messages of a stream (retry, history) are not counted. Prints one JSON
object; used by ``bench.run``'s ``bytes`` scenario.
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import threading
import time
import zlib
from typing import Any

from livedash.testing import EventStreamDecoder

#: Messages at the start of a stream that are not steady-state updates (the position or
#: history, the first update a fresh compressor sees; ``retry`` is skipped too, but the
#: decoder counts no message for it).
SKIP = 2
#: Messages of the identity stream that warm the model's compressor before it counts.
WARM = 3


def read_stream(
    port: int, stream: str, gzip: bool, messages: int, timeout: float
) -> dict[str, Any]:
    """Read ``messages`` SSE messages after :data:`SKIP`; the chunks as raw bytes."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    sock.sendall(
        f"GET /livedash/events?stream={stream} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Accept: text/event-stream\r\nAccept-Encoding: {'gzip' if gzip else 'identity'}\r\n"
        "\r\n".encode()
    )
    raw = b""
    while b"\r\n\r\n" not in raw:
        raw += sock.recv(65536)
    head, raw = raw.split(b"\r\n\r\n", 1)
    encoded = b"content-encoding: gzip" in head.lower()
    if b"chunked" not in head.lower():
        raise RuntimeError(f"expected a chunked event stream, got {head[:300]!r}")
    decoder = EventStreamDecoder(chunked=True, gzip=encoded)
    chunks: list[tuple[int, bytes]] = []  # (framing bytes, payload) per HTTP chunk
    seen = 0
    deadline = time.monotonic() + timeout
    pending = raw
    while seen < SKIP + messages and time.monotonic() < deadline and not decoder.ended:
        for chunk in decoder.chunks(pending):
            if seen >= SKIP:
                chunks.append((chunk.wire_bytes - len(chunk.payload), chunk.payload))
            seen += len(decoder.messages(chunk.text))
        if seen < SKIP + messages:
            pending = sock.recv(65536)
    sock.close()
    return {"encoded": encoded, "chunks": chunks, "messages": seen - SKIP}


def split_messages(chunks: list[tuple[int, bytes]]) -> list[str]:
    """The SSE messages of an identity stream's chunks."""
    text = "".join(payload.decode() for _, payload in chunks)
    return [m + "\n\n" for m in text.split("\n\n") if m]


def fields(message: str) -> list[tuple[str, str]]:
    """An SSE message's (field, value) lines."""
    out = []
    for line in message.rstrip("\n").split("\n"):
        name, _, value = line.partition(": ")
        out.append((name, value))
    return out


def unfields(pairs: list[tuple[str, str]]) -> str:
    return "".join(f"{n}: {v}\n" for n, v in pairs) + "\n"


def strip_ts(data: str) -> str:
    """The ``data`` field without each event's ``ts``: ``[stream, seq, ts, data]`` items
    (the wire form today) lose their third element; object items lose ``ts`` / ``t``."""
    batch = json.loads(data)
    items = batch if isinstance(batch, list) else [batch]
    out: list[Any] = []
    for item in items:
        if isinstance(item, list) and len(item) >= 4:
            out.append([*item[:2], *item[3:]])
        elif isinstance(item, dict):
            out.append({k: v for k, v in item.items() if k not in ("ts", "t")})
        else:
            out.append(item)
    return json.dumps(out if isinstance(batch, list) else out[0], separators=(",", ":"))


def bare_data(data: str) -> str:
    """Only the events' own data objects (no stream, seq, ts, batch brackets)."""
    batch = json.loads(data)
    items = batch if isinstance(batch, list) else [batch]
    parts = []
    for item in items:
        obj = item[-1] if isinstance(item, list) else item.get("data", item)
        parts.append(json.dumps(obj, separators=(",", ":"), ensure_ascii=False))
    return "\n".join(parts)


def compressed(messages: list[str], flush: int, wbits: int, memlevel: int) -> float:
    """Mean gzip bytes per message: one compressor for the stream, a flush per message; the
    first :data:`WARM` messages warm it (as a stream's history does) and are not counted."""
    c = zlib.compressobj(6, zlib.DEFLATED, wbits, memlevel)
    total = counted = 0
    for i, m in enumerate(messages):
        size = len(c.compress(m.encode()) + c.flush(flush))
        if i >= WARM:
            total += size
            counted += 1
    return total / max(1, counted)


def measure(port: int, stream: str, events: int, timeout: float) -> dict[str, Any]:
    """Both streams at once; the breakdown (see the module docstring)."""
    try:
        from livedash.transport import wire

        wbits = int(getattr(wire, "GZIP_WBITS", 31))
        memlevel = int(getattr(wire, "GZIP_MEMLEVEL", 8))
    except ImportError:
        wbits, memlevel = 31, 8
    got: dict[bool, dict[str, Any]] = {}

    def read(gzip: bool) -> None:
        got[gzip] = read_stream(port, stream, gzip, events, timeout)

    threads = [threading.Thread(target=read, args=(g,)) for g in (True, False)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout + 10)
    if True not in got or False not in got:
        raise RuntimeError("an event stream did not deliver in time")
    gz, plain = got[True], got[False]
    n = max(1, gz["messages"])
    framing = sum(f for f, _ in gz["chunks"]) / n
    gz_payload = sum(len(p) for _, p in gz["chunks"]) / n
    messages = [m for m in split_messages(plain["chunks"]) if not m.startswith(":")]
    data_msgs = [m for m in messages if any(name == "data" for name, _ in fields(m))]

    def variant(fn: Any) -> list[str]:
        return [unfields(fn(fields(m))) for m in data_msgs]

    no_id = variant(lambda fs: [(k, v) for k, v in fs if k != "id"])
    no_ts = variant(lambda fs: [(k, strip_ts(v) if k == "data" else v) for k, v in fs])
    neither = variant(lambda fs: [(k, strip_ts(v)) for k, v in fs if k == "data"])
    bare = [f"data: {bare_data(dict(fields(m))['data'])}\n\n" for m in data_msgs]
    # The flush the server uses is whichever models its real bytes closest.
    flush = min(
        (zlib.Z_PARTIAL_FLUSH, zlib.Z_SYNC_FLUSH),
        key=lambda f: abs(compressed(data_msgs, f, wbits, memlevel) - gz_payload),
    )

    def cost(msgs: list[str]) -> float:
        return round(compressed(msgs, flush, wbits, memlevel), 1)

    full = cost(data_msgs)
    return {
        "messages": gz["messages"],
        "encoded": gz["encoded"],
        "down_bytes_per_message": round(framing + gz_payload, 1),
        "http_chunk_framing": round(framing, 1),
        "gzip_payload": round(gz_payload, 1),
        "model_gzip_payload": full,
        "flush": "partial" if flush == zlib.Z_PARTIAL_FLUSH else "sync",
        "id_costs": round(full - cost(no_id), 1),
        "ts_costs": round(full - cost(no_ts), 1),
        "id_and_ts_cost": round(full - cost(neither), 1),
        # Everything that is not the event's own data: id, stream, seq, ts, brackets, fields.
        "envelope_costs": round(full - cost(bare), 1),
        "bare_data_gzip": cost(bare),
        "sse_text_bytes_per_message": round(sum(len(m) for m in data_msgs) / len(data_msgs), 1)
        if data_msgs
        else None,
        "example_message": data_msgs[-1] if data_msgs else None,
        "gzip_settings": {"wbits": wbits, "memlevel": memlevel},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--stream", default="seed")
    parser.add_argument("--events", type=int, default=12, help="messages counted per stream")
    parser.add_argument("--timeout", type=float, default=60)
    args = parser.parse_args(argv)
    print(json.dumps(measure(args.port, args.stream, args.events, args.timeout)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
