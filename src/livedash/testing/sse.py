"""Server-Sent Events off the wire: one decoder, and two clients over it.

:class:`EventStreamDecoder` does no I/O: bytes of an event-stream body in (HTTP/1.1 chunked
framing and gzip undone when asked), :class:`Message` objects out. :class:`SSEClient` opens a
stream with ``http.client`` and iterates its messages; :class:`RawStream` speaks HTTP/1.1 on
the socket itself, so it also sees each chunk the server wrote and what it cost on the wire.
Both read gzip-encoded streams as a browser does, chunk by chunk.
"""

from __future__ import annotations

import codecs
import contextlib
import http.client
import json
import socket
import struct
import zlib
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass
class Message:
    """One SSE message: its ``event`` name (``message`` unless named), ``id`` and ``data``."""

    event: str
    id: str | None
    data: str

    def json(self) -> Any:
        """``data`` parsed as JSON."""
        return json.loads(self.data)


def parse_message(block: str) -> Message | None:
    """One SSE message from the lines before its blank line (None for comments, ``retry``)."""
    event, mid, data = "message", None, []
    for line in block.split("\n"):
        field, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if field == "data":
            data.append(value)
        elif field == "event":
            event = value
        elif field == "id":
            mid = value
    return Message(event, mid, "\n".join(data)) if data else None


@dataclass(frozen=True)
class Chunk:
    """One HTTP chunk of a stream: its size on the wire (size line, payload and CRLF), the
    payload as sent (gzip data on a gzip stream) and its text (inflated)."""

    wire_bytes: int
    payload: bytes
    text: str


class EventStreamDecoder:
    """An event-stream body in, messages out, with no I/O.

    ``chunked``: the bytes still carry HTTP/1.1 chunked framing (a raw socket's; an
    ``http.client`` response has removed it). ``gzip``: the body is gzip-encoded; each piece
    is inflated as it comes, as a browser does. Feed bytes in the order they arrived."""

    def __init__(self, *, chunked: bool = False, gzip: bool = False) -> None:
        self.chunked = chunked
        self.inflate = zlib.decompressobj(16 + zlib.MAX_WBITS) if gzip else None
        self.utf8 = codecs.getincrementaldecoder("utf-8")()
        #: the terminating zero-size chunk was read: the response is complete
        self.ended = False
        self._raw = b""
        self._text = ""

    def chunks(self, data: bytes) -> list[Chunk]:
        """Add ``data``; the chunks it completes (without chunked framing: one per call)."""
        if not self.chunked:
            return [self._chunk(len(data), data)] if data else []
        self._raw += data
        out = []
        while not self.ended:
            end = self._raw.find(b"\r\n")
            if end < 0:
                break
            size = int(self._raw[:end].split(b";")[0], 16)
            if len(self._raw) < end + 2 + size + 2:
                break
            payload = self._raw[end + 2 : end + 2 + size]
            if self._raw[end + 2 + size : end + 4 + size] != b"\r\n":
                raise ValueError("a chunk was cut short or overran its size")
            self._raw = self._raw[end + 4 + size :]
            if size == 0:
                self.ended = True
                break
            out.append(self._chunk(end + 4 + size, payload))
        return out

    def _chunk(self, wire_bytes: int, payload: bytes) -> Chunk:
        body = self.inflate.decompress(payload) if self.inflate else payload
        return Chunk(wire_bytes, payload, self.utf8.decode(body))

    def messages(self, text: str) -> list[Message]:
        """Add decoded ``text``; the messages it completes (comments and ``retry`` skipped)."""
        self._text += text
        out = []
        while "\n\n" in self._text:
            block, self._text = self._text.split("\n\n", 1)
            message = parse_message(block)
            if message is not None:
                out.append(message)
        return out

    def feed(self, data: bytes) -> list[Message]:
        """Add ``data``; the messages it completes."""
        return self.messages("".join(chunk.text for chunk in self.chunks(data)))


def _linger_zero(sock: socket.socket) -> None:
    """Make closing ``sock`` send a reset (RST) instead of a FIN, as a dropped link or a
    killed client leaves it."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


class SSEClient:
    """``GET path`` on ``host:port`` over ``http.client``; iterate it for its messages.

    ``timeout`` bounds every read; ``rcvbuf`` shrinks the socket's receive buffer before it
    connects (the kernel then neither grows it nor advertises a larger window: a client that
    stops reading is felt by the server at once). A gzip-encoded response is inflated."""

    def __init__(
        self,
        port: int,
        path: str,
        headers: Mapping[str, str] | None = None,
        timeout: float = 30,
        *,
        host: str = "127.0.0.1",
        rcvbuf: int | None = None,
    ) -> None:
        self.sock = socket.socket()
        try:
            if rcvbuf is not None:
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            self.sock.settimeout(timeout)
            self.sock.connect((host, port))
            self.conn = http.client.HTTPConnection(host, port, timeout=timeout)
            self.conn.sock = self.sock
            self.conn.request("GET", path, headers=dict(headers or {}))
            self.response = self.conn.getresponse()
        except BaseException:
            # A refused or dropped connect (a reconnecting client meets many) must not leave
            # the socket to the garbage collector: its ResourceWarning fails whichever test
            # is running when it is collected.
            self.sock.close()
            raise
        gzip = self.response.getheader("Content-Encoding") == "gzip"
        self.decoder = EventStreamDecoder(gzip=gzip)
        #: the id of the last message read that had one (what ``Last-Event-ID`` would send)
        self.last_id: str | None = None
        self._pending: deque[Message] = deque()

    def __iter__(self) -> Iterator[Message]:
        """The messages, each as soon as it is complete; ends with the response. Iterating
        again continues where the last iteration stopped."""
        while True:
            while self._pending:
                message = self._pending.popleft()
                if message.id is not None:
                    self.last_id = message.id
                yield message
            data = self.response.read1(65536)
            if not data:
                return
            self._pending.extend(self.decoder.feed(data))

    def collect(
        self, stream: str, until_seq: int, *, others: bool = False
    ) -> list[tuple[int, Any]]:
        """``(seq, data)`` of ``stream``'s events (format 1), read until one with seq >=
        ``until_seq``.

        Events of other streams are skipped when ``others``, and fail the test otherwise; a
        response that ends first fails it too."""
        got: list[tuple[int, Any]] = []
        for msg in self:
            if msg.event != "message":
                continue
            for s, seq, _ts, data in msg.json():
                assert others or s == stream, f"event of stream {s!r} on a {stream!r} stream"
                if s == stream:
                    got.append((seq, data))
            if got and got[-1][0] >= until_seq:
                return got
        raise AssertionError(f"stream ended after {len(got)} events: {got[-5:]}")

    def seqs(self, stream: str, until_seq: int) -> list[int]:
        """The seqs of :meth:`collect` (``stream``'s events only)."""
        return [seq for seq, _ in self.collect(stream, until_seq)]

    def reset(self) -> None:
        """Abort the connection: the server sees a reset (RST), not an orderly close."""
        _linger_zero(self.sock)
        self.close()

    def close(self) -> None:
        """Close the response and the connection."""
        # The response holds its own reference to the socket: closing only the connection
        # would leave the socket open and the server streaming to nobody.
        self.response.close()
        self.conn.close()
        self.sock.close()


class RawStream:
    """``GET path`` on ``host:port`` with HTTP/1.1 spoken on the socket; iterate
    :meth:`chunks` or :meth:`messages`.

    ``gzip`` asks for a gzip-encoded stream (as browsers do); ``headers`` are sent as given."""

    def __init__(
        self,
        port: int,
        path: str,
        *,
        gzip: bool = True,
        timeout: float = 30,
        host: str = "127.0.0.1",
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        try:
            lines = [f"GET {path} HTTP/1.1", f"Host: {host}:{port}"]
            if gzip:
                lines.append("Accept-Encoding: gzip")
            lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
            self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
            self.file = self.sock.makefile("rb")
            status = self.file.readline().decode("latin-1").split()
            if len(status) < 2:
                raise http.client.BadStatusLine(" ".join(status))
            self.status = int(status[1])
            self.headers: dict[str, str] = {}
            while (line := self.file.readline().decode("latin-1").strip()) != "":
                name, _, value = line.partition(":")
                self.headers[name.strip().lower()] = value.strip()
        except BaseException:
            self.sock.close()
            raise
        self.gzip = self.headers.get("content-encoding") == "gzip"
        chunked = self.headers.get("transfer-encoding") == "chunked"
        self.decoder = EventStreamDecoder(chunked=chunked, gzip=self.gzip)
        self._chunks: deque[Chunk] = deque()
        self._messages: deque[Message] = deque()

    def chunks(self) -> Iterator[tuple[int, str]]:
        """``(bytes on the wire, text)`` per HTTP chunk, the text inflated from that chunk
        alone (with what came before), as a browser sees it; ends with the response."""
        assert self.decoder.chunked, f"not a chunked response: {self.headers}"
        for chunk in self._raw_chunks():
            yield chunk.wire_bytes, chunk.text

    def _raw_chunks(self) -> Iterator[Chunk]:
        while True:
            while self._chunks:
                yield self._chunks.popleft()
            if self.decoder.ended:
                return
            data = self.file.read1(65536)
            if not data:
                return
            self._chunks.extend(self.decoder.chunks(data))

    def messages(self) -> Iterator[Message]:
        """The SSE messages, each as soon as the chunk that completes it arrives."""
        while True:
            while self._messages:
                yield self._messages.popleft()
            chunk = next(self._raw_chunks(), None)
            if chunk is None:
                return
            self._messages.extend(self.decoder.messages(chunk.text))

    @property
    def local_port(self) -> int:
        """This end's port (tells which server process holds the connection)."""
        return int(self.sock.getsockname()[1])

    def reset(self) -> None:
        """Abort the connection with a reset (RST)."""
        _linger_zero(self.sock)
        self.close()

    def shut(self, *, abort: bool = False) -> None:
        """End the connection from any thread: a read blocked in another thread returns
        (closing alone would not wake it). With ``abort``, the close that follows sends a
        reset (RST)."""
        with contextlib.suppress(OSError):  # already closed by the reading thread
            if abort:
                _linger_zero(self.sock)
            self.sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        """Close the connection."""
        self.file.close()
        self.sock.close()
