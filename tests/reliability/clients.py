"""Event-stream clients for reliability tests: a reader thread, a client that stops reading,
and a client in another process."""

from __future__ import annotations

import contextlib
import http.client
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from tests.sse_client import SSEClient

#: The event a test publishes last, so readers know they have everything.
DONE = {"done": True}


class Reader(threading.Thread):
    """Follows one stream in a thread and records every seq it receives, in order, until the
    :data:`DONE` event. Duplicates and gaps stay visible in :attr:`seqs`."""

    def __init__(self, client: SSEClient) -> None:
        super().__init__(daemon=True)
        self.client = client
        self.seqs: list[int] = []
        self.resets = 0
        self.error: BaseException | None = None
        self.start()

    def run(self) -> None:
        try:
            for msg in self.client:
                if msg.event == "reset":
                    self.resets += 1
                if msg.event != "message":
                    continue
                for _stream, seq, _ts, data in msg.json():
                    self.seqs.append(seq)
                    if data == DONE:
                        return
        except BaseException as exc:  # reported by finish()
            self.error = exc

    def finish(self, timeout: float = 90) -> list[int]:
        """Wait for the :data:`DONE` event; the seqs received."""
        self.join(timeout)
        assert not self.is_alive(), f"reader still waiting after {len(self.seqs)} events"
        assert self.error is None, self.error
        self.client.close()
        return self.seqs


class StreamClient(SSEClient):
    """An :class:`SSEClient` that keeps its socket at hand (to reset it, or to shrink its
    receive buffer before connecting, so the kernel neither grows it nor advertises a larger
    window)."""

    def __init__(
        self,
        port: int,
        path: str,
        rcvbuf: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.sock = socket.socket()
        try:
            if rcvbuf is not None:
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            self.sock.settimeout(60)
            self.sock.connect(("127.0.0.1", port))
            self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            self.conn.sock = self.sock
            self.conn.request("GET", path, headers=headers or {})
            self.response = self.conn.getresponse()
        except BaseException:
            # A refused or dropped connect (a reconnecting reader meets many) must not leave
            # the socket to the garbage collector: its ResourceWarning fails whichever test
            # is running when it is collected.
            self.sock.close()
            raise
        self.last_id = None

    def reset(self) -> None:
        """Abort the connection: SO_LINGER 0 makes close() send RST instead of FIN."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close()
        self.sock.close()


def connect(port: int, path: str, rcvbuf: int | None = None) -> StreamClient:
    """Open an event stream (see :class:`StreamClient`)."""
    return StreamClient(port, path, rcvbuf)


def first_message(client: SSEClient) -> Any:
    """The position message every stream starts with: the subscription is live after it."""
    for msg in client:
        if msg.event == "message" and msg.data == "[]":
            return msg
    raise AssertionError("stream closed before its position message")


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 60) -> None:
    """Poll ``condition`` until it holds (for states no event announces)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.02)


CLIENT_PROCESS = """
import sys
from tests.sse_client import SSEClient
client = SSEClient(int(sys.argv[1]), sys.argv[2])
for msg in client:
    if msg.data == "[]":
        print("ready", flush=True)
"""


class ClientProcesses:
    """Event-stream clients in processes of their own; all are killed at :meth:`close`."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[str]] = []

    def start(self, port: int, path: str) -> subprocess.Popen[str]:
        """Start one; returns once it is subscribed."""
        proc = subprocess.Popen(
            [sys.executable, "-c", CLIENT_PROCESS, str(port), path],
            stdout=subprocess.PIPE,
            text=True,
        )
        self.procs.append(proc)
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.strip() == "ready", line
        return proc

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=30)
            if proc.stdout:
                proc.stdout.close()


class ResumingReader(threading.Thread):
    """A headless tab: follows ``stream`` and, whenever its connection drops or fails,
    reconnects with ``Last-Event-ID`` as a browser's EventSource does. Records every seq
    received until the :data:`DONE` event."""

    def __init__(self, port: int, stream: str, *, retry: float = 0.2) -> None:
        super().__init__(daemon=True)
        self.port, self.stream, self.retry = port, stream, retry
        self.seqs: list[int] = []
        self.reconnects = 0
        self.statuses: list[str] = []
        self.last_id: str | None = None
        #: the local port of the current connection (to tell which server process holds it)
        self.local_port = 0
        self.done = threading.Event()
        self.stop = threading.Event()
        self.connected = threading.Event()
        self.start()

    def run(self) -> None:
        while not (self.done.is_set() or self.stop.is_set()):
            # A dropped or refused connection is what this client exists to survive.
            with contextlib.suppress(OSError, http.client.HTTPException, ValueError):
                self._follow()
            if not (self.done.is_set() or self.stop.is_set()):
                self.reconnects += 1
                self.stop.wait(self.retry)

    def _follow(self) -> None:
        headers = {"Last-Event-ID": self.last_id} if self.last_id else {}
        client = StreamClient(self.port, f"/livedash/events?stream={self.stream}", None, headers)
        self.local_port = client.sock.getsockname()[1]
        try:
            if client.response.status != 200:
                return
            for msg in client:
                if msg.id is not None:
                    self.last_id = msg.id
                if msg.event == "status":
                    self.statuses.append(msg.json()["store"])
                if msg.event != "message":
                    continue
                self.connected.set()
                for _stream, seq, _ts, data in msg.json():
                    self.seqs.append(seq)
                    if data == DONE:
                        self.done.set()
                        return
        finally:
            client.close()

    def finish(self, timeout: float = 90) -> list[int]:
        """Wait for the :data:`DONE` event; the seqs received."""
        finished = self.done.wait(timeout)
        self.stop.set()
        self.join(30)
        assert finished, f"no DONE after {len(self.seqs)} events"
        return self.seqs
