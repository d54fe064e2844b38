"""An event-stream reader at the level of the wire, for tests and benchmarks.

:class:`RawStream` reads the HTTP/1.1 response off the socket itself, so it sees each chunk
the server wrote (and how many bytes it took on the wire) and inflates gzip chunk by chunk as
a browser does. :class:`WireReader` turns SSE messages of either wire format into events
``[stream, seq, ts, data]`` and keeps the cursor a client tracks for itself.
"""

from __future__ import annotations

import socket
import zlib
from collections.abc import Iterator
from typing import Any

from tests.sse_client import Message, parse_message

Event = list[Any]


class RawStream:
    """``GET path`` on ``127.0.0.1:port``; iterate :meth:`chunks` or :meth:`messages`."""

    def __init__(
        self, port: int, path: str, *, gzip: bool = True, timeout: float = 30, **headers: str
    ) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        lines = [f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{port}"]
        if gzip:
            lines.append("Accept-Encoding: gzip")
        lines += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        self.file = self.sock.makefile("rb")
        status = self.file.readline().decode("latin-1").split()
        self.status = int(status[1])
        self.headers: dict[str, str] = {}
        while (line := self.file.readline().decode("latin-1").strip()) != "":
            name, _, value = line.partition(":")
            self.headers[name.strip().lower()] = value.strip()
        self.gzip = self.headers.get("content-encoding") == "gzip"
        self.inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
        self._text = ""

    def chunks(self) -> Iterator[tuple[int, str]]:
        """``(bytes on the wire, text)`` per HTTP chunk, the text inflated from that chunk
        alone (with what came before), as a browser sees it; ends with the response."""
        assert self.headers.get("transfer-encoding") == "chunked", self.headers
        while True:
            size_line = self.file.readline()
            if not size_line:
                return
            size = int(size_line.split(b";")[0], 16)
            if size == 0:
                return
            body = self.file.read(size)
            crlf = self.file.read(2)
            assert len(body) == size and crlf == b"\r\n", "a chunk was cut short"
            text = self.inflate.decompress(body) if self.gzip else body
            yield len(size_line) + size + 2, text.decode("utf-8")

    def messages(self) -> Iterator[Message]:
        """The SSE messages, each as soon as the chunk that completes it arrives."""
        for _, text in self.chunks():
            self._text += text
            while "\n\n" in self._text:
                block, self._text = self._text.split("\n\n", 1)
                message = parse_message(block)
                if message is not None:
                    yield message

    def close(self) -> None:
        self.file.close()
        self.sock.close()


class WireReader:
    """Events of either wire format as ``[stream, seq, ts, data]``, and the client's own
    cursor: what the livedash worker keeps, to reconnect with ``?cursor=``."""

    def __init__(self, cursor: dict[str, int] | None = None) -> None:
        self.cursor: dict[str, int] = dict(cursor or {})
        self.version = 1
        self.resets: list[dict[str, Any]] = []
        #: events decoded, also those the cursor already had (sent twice)
        self.decoded = 0
        self._new_connection()

    def _new_connection(self) -> None:
        self.streams: list[str] = []
        self.seq: dict[str, int] = {}
        self.ms = 0

    def read(self, message: Message) -> list[Event]:
        """The events ``message`` carries (none for controls), the cursor moved past them."""
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
        fresh = [e for e in events if e[1] > self.cursor.get(e[0], 0)]
        for e in fresh:
            self.cursor[e[0]] = e[1]
        if self.version == 1 and message.id:
            for part in message.id.split(","):
                name, _, seq = part.rpartition(":")
                self.cursor[name] = max(self.cursor.get(name, 0), int(seq))
        return fresh

    def _decode(self, batch: list[list[Any]]) -> list[Event]:
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


def decode_stream(text: str) -> tuple[WireReader, list[Event]]:
    """Every event of a whole stream's text (several messages), and the reader after it."""
    reader = WireReader()
    events: list[Event] = []
    for block in text.split("\n\n"):
        message = parse_message(block)
        if message is not None:
            events += reader.read(message)
    return reader, events
