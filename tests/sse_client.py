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


class SSEClient:
    """Opens ``path`` on ``host:port`` and yields messages; ``timeout`` bounds every read."""

    def __init__(
        self, port: int, path: str, headers: dict[str, str] | None = None, timeout: float = 30
    ) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        self.conn.request("GET", path, headers=headers or {})
        self.response = self.conn.getresponse()
        self.last_id: str | None = None

    def __iter__(self) -> Iterator[Message]:
        event, mid = "message", None
        data: list[str] = []
        while True:
            raw = self.response.readline()
            if not raw:
                return
            line = raw.decode("utf-8").rstrip("\n")
            if line == "":
                if data:
                    if mid is not None:
                        self.last_id = mid
                    yield Message(event, mid, "\n".join(data))
                event, data, mid = "message", [], None
            elif line.startswith(":"):
                continue
            else:
                field, _, value = line.partition(":")
                value = value[1:] if value.startswith(" ") else value
                if field == "data":
                    data.append(value)
                elif field == "event":
                    event = value
                elif field == "id":
                    mid = value

    def close(self) -> None:
        # The response holds its own reference to the socket: closing only the connection
        # would leave the socket open and the server streaming to nobody.
        self.response.close()
        self.conn.close()
