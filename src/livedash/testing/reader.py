"""Both wire formats decoded to events, with the cursor a client keeps for itself.

Format 1 (any EventSource): each batch is ``id: CURSOR`` + ``data: [[stream, seq, ts, data],
...]``. Format 2 (``?wire=2``, livedash's own client): a ``hello`` names the streams, then each
event is ``[i, dt, data]`` (stream index, milliseconds since the previous event of the
connection) with ``seq`` as a 4th element only where it is not the previous one plus one;
``sync`` says where every stream is. See :mod:`livedash.transport.wire` for the encoders.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from livedash.testing.sse import Message, parse_message

#: An event in the wire form ``[stream, seq, ts, data]`` (what ``transport.wire.wire`` gives).
WireEvent = list[Any]


class WireReader:
    """Events of either wire format as ``[stream, seq, ts, data]``, and the client's own
    cursor: what the livedash worker keeps, to reconnect with ``?cursor=``."""

    def __init__(self, cursor: Mapping[str, int] | None = None) -> None:
        self.cursor: dict[str, int] = dict(cursor or {})
        self.version = 1
        #: the ``reset`` controls received, in order (``{"stream": ..., "seq": ...}``)
        self.resets: list[dict[str, Any]] = []
        #: events decoded, also those the cursor already had (sent twice)
        self.decoded = 0
        self._new_connection()

    def _new_connection(self) -> None:
        self.streams: list[str] = []
        self.seq: dict[str, int] = {}
        self.ms = 0

    def decode(self, message: Message) -> list[WireEvent]:
        """Every event ``message`` carries (none for controls), also those the cursor already
        had; the cursor moved past them."""
        if message.event == "hello":
            hello = message.json()
            self._new_connection()
            self.version, self.streams = hello["wire"], hello["streams"]
            return []
        if message.event == "sync":
            for name, seq in message.json().items():
                self.seq[name] = seq
                self.cursor[name] = max(self.cursor.get(name, 0), seq)
            return []
        if message.event == "reset":
            reset = message.json()
            self.resets.append(reset)
            name = reset["stream"]
            self.cursor[name] = min(self.cursor.get(name, 0), reset["seq"] - 1)
            return []
        if message.event != "message":
            return []
        events = message.json() if self.version == 1 else self._decode(message.json())
        self.decoded += len(events)
        for e in events:
            self.cursor[e[0]] = max(self.cursor.get(e[0], 0), e[1])
        if self.version == 1 and message.id:
            for part in message.id.split(","):
                name, _, seq = part.rpartition(":")
                self.cursor[name] = max(self.cursor.get(name, 0), int(seq))
        return list(events)

    def read(self, message: Message) -> list[WireEvent]:
        """The events ``message`` carries that the cursor did not have yet (those sent twice
        are dropped, as livedash's client drops them), the cursor moved past them."""
        before = dict(self.cursor)
        return [e for e in self.decode(message) if e[1] > before.get(e[0], 0)]

    def _decode(self, batch: list[list[Any]]) -> list[WireEvent]:
        out = []
        for e in batch:
            name = self.streams[e[0]]
            if len(e) > 3:
                seq = e[3]
            else:
                assert name in self.seq, f"event of {name!r} with no seq and none known: {e}"
                seq = self.seq[name] + 1
            self.seq[name] = seq
            self.ms += e[1]
            out.append([name, seq, self.ms / 1000, e[2]])
        return out

    def query(self) -> str:
        """``cursor=...`` for a reconnect from where this client is."""
        return "cursor=" + ",".join(f"{name}:{seq}" for name, seq in self.cursor.items())


def decode_stream(text: str) -> tuple[WireReader, list[WireEvent]]:
    """Every event of a whole stream's text (several messages), and the reader after it."""
    reader = WireReader()
    events: list[WireEvent] = []
    for block in text.split("\n\n"):
        message = parse_message(block)
        if message is not None:
            events += reader.read(message)
    return reader, events
