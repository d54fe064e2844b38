"""A slow link on 127.0.0.1: a TCP proxy that adds latency and caps bandwidth, switchable
while connections are open.

CDP's network emulation applies to the target it is sent to (a page); livedash's event stream
is opened by a SharedWorker, a target of its own. This proxy slows every connection whichever
target opens it, and records which connection carried the event stream, so a test can check
that the stream itself was slowed.

Each direction is a delay line: a chunk read at ``t`` leaves at ``max(t + latency, the end of
the previous chunk)`` and then holds the line for ``len / rate`` seconds. At most
``buffer`` bytes wait in the line; past that the proxy stops reading, so the sender's socket
fills as it would behind a real slow link.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from dataclasses import dataclass, field

from livedash.testing import free_port

CHUNK = 4096


@dataclass
class Link:
    """What the line does now; read at every chunk, so a change applies to open connections."""

    latency: float = 0.0
    rate: float = 0.0  # bytes/s; 0 is unlimited


@dataclass
class Conn:
    """One proxied connection, as seen from its first request."""

    request: str = ""
    #: bytes read from the server, and sent on to the browser
    fetched: int = 0
    #: bytes sent to the browser while the link was throttled
    throttled_down: int = 0
    down: int = 0
    #: how long the downstream line was busy pacing (the sum of len / rate)
    paced_s: float = 0.0
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    writers: list[asyncio.StreamWriter] = field(default_factory=list)


class ThrottleProxy:
    """``ThrottleProxy(target_port)`` listens on a free port of 127.0.0.1 until ``close()``."""

    def __init__(self, target_port: int, buffer: int = 64 * 1024) -> None:
        self.target_port = target_port
        self.buffer = buffer
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.link = Link()
        self.refusing = False
        self.conns: list[Conn] = []
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the throttling proxy did not start in 10 s")

    # -- control, from the test's thread -----------------------------------------------------
    def throttle(self, latency: float, rate: float) -> None:
        """Slow the link down (or speed it up) for open and new connections alike."""
        self.link = Link(latency, rate)

    def cut(self) -> None:
        """Drop every open connection and refuse new ones until :meth:`restore`."""
        self.refusing = True
        asyncio.run_coroutine_threadsafe(self._drop_all(), self._loop).result(10)

    def restore(self) -> None:
        """Accept connections again."""
        self.refusing = False

    def event_streams(self) -> list[Conn]:
        """The connections that carried ``GET .../livedash/events``."""
        return [c for c in self.conns if c.request.startswith("GET ") and "/events?" in c.request]

    def close(self) -> None:
        self.refusing = True
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    # -- the loop ------------------------------------------------------------------------------
    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._accept, "127.0.0.1", self.port)
        )
        self._ready.set()
        self._loop.run_forever()
        self._loop.close()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.refusing:
            writer.close()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        conn = Conn(writers=[writer, up_writer])
        self.conns.append(conn)
        conn.tasks = [
            asyncio.ensure_future(self._pump(reader, up_writer, conn, down=False)),
            asyncio.ensure_future(self._pump(up_reader, writer, conn, down=True)),
        ]

    async def _pump(
        self, src: asyncio.StreamReader, dst: asyncio.StreamWriter, conn: Conn, *, down: bool
    ) -> None:
        line: asyncio.Queue[tuple[float, bytes] | None] = asyncio.Queue()
        queued = [0]
        room = asyncio.Event()
        room.set()

        async def send() -> None:
            free_at = 0.0
            while (item := await line.get()) is not None:
                arrived, chunk = item
                link = self.link
                now = time.monotonic()
                wait = max(arrived + link.latency, free_at) - now
                if wait > 0:
                    await asyncio.sleep(wait)
                dst.write(chunk)
                await dst.drain()
                queued[0] -= len(chunk)
                if queued[0] <= self.buffer:
                    room.set()
                hold = len(chunk) / link.rate if link.rate else 0.0
                free_at = time.monotonic() + hold
                if down:
                    conn.down += len(chunk)
                    if link.rate:
                        conn.throttled_down += len(chunk)
                        conn.paced_s += hold

        sender = asyncio.ensure_future(send())
        try:
            while chunk := await src.read(CHUNK):
                if not down and not conn.request:
                    conn.request = chunk.split(b"\r\n", 1)[0].decode("latin-1")
                if down:
                    conn.fetched += len(chunk)
                await room.wait()
                queued[0] += len(chunk)
                if queued[0] > self.buffer:
                    room.clear()
                line.put_nowait((time.monotonic(), chunk))
            line.put_nowait(None)
            await sender
        except (ConnectionError, asyncio.CancelledError):
            sender.cancel()
        finally:
            with contextlib.suppress(Exception):
                dst.close()

    async def _drop_all(self) -> None:
        for conn in self.conns:
            for w in conn.writers:
                w.close()
            for t in conn.tasks:
                t.cancel()

    async def _shutdown(self) -> None:
        self._server.close()
        await self._drop_all()
