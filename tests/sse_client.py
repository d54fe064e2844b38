"""A minimal Server-Sent Events reader over http.client, for tests and benchmarks."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any


@dataclass
class Message:
    event: str
    id: str | None
    data: str

    def json(self) -> Any:
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


class SSEClient:
    """Opens ``path`` on ``host:port`` and yields messages; ``timeout`` bounds every read."""

    def __init__(
        self, port: int, path: str, headers: dict[str, str] | None = None, timeout: float = 30
    ) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        try:
            self.conn.request("GET", path, headers=headers or {})
            self.response = self.conn.getresponse()
        except BaseException:
            self.conn.close()  # not left to the garbage collector (see StreamClient)
            raise
        self.last_id: str | None = None

    def __iter__(self) -> Iterator[Message]:
        lines: list[str] = []
        while True:
            raw = self.response.readline()
            if not raw:
                return
            line = raw.decode("utf-8").rstrip("\n")
            if line:
                lines.append(line)
                continue
            message = parse_message("\n".join(lines))
            lines = []
            if message is not None:
                if message.id is not None:
                    self.last_id = message.id
                yield message

    def collect(
        self, stream: str, until_seq: int, *, others: bool = False
    ) -> list[tuple[int, Any]]:
        """``(seq, data)`` of ``stream``'s events, read until one with seq >= ``until_seq``.

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

    def close(self) -> None:
        # The response holds its own reference to the socket: closing only the connection
        # would leave the socket open and the server streaming to nobody.
        self.response.close()
        self.conn.close()
