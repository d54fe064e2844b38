"""Event-stream clients for reliability tests, over livedash.testing's ``SSEClient``: a reader
thread, a client that stops reading (a small receive buffer), and a client in another process.
A headless tab that resumes by itself is livedash.testing's ``StreamClient``."""

from __future__ import annotations

import subprocess
import sys
import threading
from typing import Any

from livedash.testing import SSEClient

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


def connect(port: int, path: str, rcvbuf: int | None = None) -> SSEClient:
    """Open an event stream; ``rcvbuf`` shrinks its receive buffer before it connects (the
    kernel then neither grows it nor advertises a larger window)."""
    return SSEClient(port, path, timeout=60, rcvbuf=rcvbuf)


def first_message(client: SSEClient) -> Any:
    """The position message every stream starts with: the subscription is live after it."""
    for msg in client:
        if msg.event == "message" and msg.data == "[]":
            return msg
    raise AssertionError("stream closed before its position message")


CLIENT_PROCESS = """
import sys
from livedash.testing import SSEClient
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
