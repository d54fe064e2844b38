"""Headless clients, many per process, on asyncio: no browser, so they measure the server.

``python -m bench.clients KIND --port P -n N --seconds S --out FILE``

- ``livedash``: an event stream (``GET /livedash/events``) per client, gzip like a browser's,
  over a raw socket, decoded by livedash.testing's ``EventStreamDecoder`` (chunks, gzip, SSE).
- ``dashws``: a WebSocket per client speaking Dash's callback protocol: one
  ``callback_request`` for the page's persistent callback, then ``set_props`` frames.
- ``poll``: what a recipe tab does: ``POST /_dash-update-component`` once per second on a
  keep-alive connection, each client at its own phase.

Every client records ``(seq, receive time)`` for each value it gets. After all clients are
connected (or failed), the run lasts ``--seconds``; then the file gets one JSON object with the
window and every client's deliveries, and the process exits. Everything is bounded in time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import random
import re
import sys
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from typing import Any

from bench.contenders import TEXT_ID, raise_fd_limit
from livedash.testing import EventStreamDecoder

SEQ_RE = re.compile(r"\(#(\d+)\)")
CONNECT_TIMEOUT = 20.0


@dataclass
class Client:
    """One headless client's record."""

    connected: bool = False
    failed: str | None = None
    got: list[tuple[int, float]] = field(default_factory=list)
    bytes_in: int = 0
    delivered: int = 0
    count_only: bool = False

    def add(self, seq: int, now: float) -> None:
        self.delivered += 1
        if not self.count_only:
            self.got.append((seq, now))


class Stopped(Exception):
    """The run is over."""


# ---- livedash: SSE over a raw socket --------------------------------------------------------
async def read_headers(reader: asyncio.StreamReader) -> dict[str, str]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = lines[0].split(" ")
    if len(status) < 2 or status[1] != "200":
        raise ConnectionError(f"HTTP status {lines[0]!r}")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name:
            headers[name.strip().lower()] = value.strip()
    return headers


async def sse_client(
    port: int, client: Client, ready: asyncio.Event, stream: str, gzip: bool = True
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(
            f"GET /livedash/events?stream={stream} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Accept: text/event-stream\r\nAccept-Encoding: {'gzip' if gzip else 'identity'}"
            "\r\n\r\n".encode()
        )
        headers = await asyncio.wait_for(read_headers(reader), CONNECT_TIMEOUT)
        decoder = EventStreamDecoder(
            chunked=headers.get("transfer-encoding") == "chunked",
            gzip=headers.get("content-encoding") == "gzip",
        )
        while True:
            data = await reader.read(65536)
            if not data:
                raise ConnectionError("server closed the stream")
            now = time.time()
            client.bytes_in += len(data)
            for message in decoder.feed(data):
                if message.event != "message":
                    continue
                if not client.connected:  # the first message: positions are known, we are in
                    client.connected = True
                    ready.set()
                for event in message.json():
                    client.add(int(event[1]), now)
    finally:
        writer.close()


# ---- Dash WebSocket callbacks ---------------------------------------------------------------
def persistent_callback(port: int) -> str:
    """The output key Dash gave the page's persistent WebSocket callback."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/_dash-dependencies", timeout=30) as r:
        deps = json.load(r)
    for dep in deps:
        if dep.get("persistent") and dep.get("websocket"):
            return str(dep["output"])
    raise RuntimeError("the page has no persistent WebSocket callback")


async def ws_client(port: int, client: Client, ready: asyncio.Event, output: str) -> None:
    import websockets

    async with websockets.connect(
        f"ws://127.0.0.1:{port}/_dash-ws-callback",
        origin=f"http://127.0.0.1:{port}",  # type: ignore[arg-type]
        open_timeout=CONNECT_TIMEOUT,
        max_size=None,
    ) as ws:
        await ws.send(
            json.dumps(
                {
                    "type": "callback_request",
                    "requestId": uuid.uuid4().hex,
                    "rendererId": uuid.uuid4().hex,
                    "payload": {
                        "output": output,
                        "outputs": [],
                        "inputs": [],
                        "state": [],
                        "changedPropIds": [],
                    },
                }
            )
        )
        client.connected = True
        ready.set()
        async for frame in ws:
            now = time.time()
            client.bytes_in += len(frame)
            parsed = json.loads(frame)
            for msg in parsed if isinstance(parsed, list) else [parsed]:
                if msg.get("type") != "set_props":
                    continue
                props = msg["payload"]["props"]
                if "children" in props:
                    m = SEQ_RE.search(str(props["children"]))
                    if m:
                        client.add(int(m.group(1)), now)


# ---- the polling recipe ---------------------------------------------------------------------
async def poll_client(port: int, client: Client, ready: asyncio.Event, stop: asyncio.Event) -> None:
    await asyncio.sleep(random.random())  # tabs open at different moments
    loop = asyncio.get_running_loop()
    next_at = loop.time()
    n = 0
    while not stop.is_set():
        n += 1
        body = json.dumps(
            {
                "output": f"{TEXT_ID}.children",
                "outputs": {"id": TEXT_ID, "property": "children"},
                "inputs": [{"id": "interval-component", "property": "n_intervals", "value": n}],
                "changedPropIds": ["interval-component.n_intervals"],
                "state": [],
            }
        ).encode()
        # The dev server answers "Connection: close", so each poll is a new connection.
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(
                f"POST /_dash-update-component HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
            headers = await asyncio.wait_for(read_headers(reader), CONNECT_TIMEOUT)
            payload = await reader.readexactly(int(headers.get("content-length", "0")))
        finally:
            writer.close()
        now = time.time()
        client.bytes_in += len(payload)
        if not client.connected:
            client.connected = True
            ready.set()
        m = SEQ_RE.search(payload.decode())
        if m:
            client.add(int(m.group(1)), now)
        next_at += 1.0
        await asyncio.sleep(max(0.0, next_at - loop.time()))


# ---- the run --------------------------------------------------------------------------------
async def run(args: argparse.Namespace) -> dict[str, Any]:
    clients = [Client(count_only=args.count_only) for _ in range(args.n)]
    stop = asyncio.Event()
    gate = asyncio.Semaphore(args.concurrency)
    output = persistent_callback(args.port) if args.kind == "dashws" else ""

    async def one(client: Client) -> None:
        ready = asyncio.Event()
        async with gate:  # connect a bounded number at a time, like a crowd arriving
            if args.kind == "livedash":
                task = asyncio.create_task(
                    sse_client(args.port, client, ready, args.stream, not args.no_gzip)
                )
            elif args.kind == "dashws":
                task = asyncio.create_task(ws_client(args.port, client, ready, output))
            else:
                task = asyncio.create_task(poll_client(args.port, client, ready, stop))
            waiter = asyncio.create_task(ready.wait())
            await asyncio.wait(
                {task, waiter}, timeout=CONNECT_TIMEOUT, return_when="FIRST_COMPLETED"
            )
            waiter.cancel()
        if not client.connected:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
            client.failed = client.failed or "connect timeout or error"
            return
        stopper = asyncio.create_task(stop.wait())
        await asyncio.wait({task, stopper}, return_when="FIRST_COMPLETED")
        if task.done() and not stop.is_set():
            exc = task.exception()
            client.failed = f"dropped: {exc!r}"
        task.cancel()
        stopper.cancel()
        with contextlib.suppress(BaseException):
            await task

    t_begin = time.time()
    runners = [asyncio.create_task(one(c)) for c in clients]
    deadline = time.monotonic() + args.ramp_timeout
    while time.monotonic() < deadline:
        settled = sum(1 for c in clients if c.connected or c.failed)
        if settled == len(clients):
            break
        await asyncio.sleep(0.1)
    # The clients' own objects (5,000 connections: tasks, buffers, decoders) last the whole
    # run; a full collection over them paused this process for 80-190 ms at 5,000 during a
    # window, and each event then read late counted as the server's latency.
    gc.collect()
    gc.freeze()
    t_start = time.time()
    print(f"connected {sum(c.connected for c in clients)}/{len(clients)}", flush=True)
    await asyncio.sleep(args.seconds)
    t_end = time.time()
    stop.set()
    await asyncio.wait(runners, timeout=10)
    return {
        "kind": args.kind,
        "n": args.n,
        "t_begin": t_begin,
        "t_start": t_start,
        "t_end": t_end,
        "connected": sum(c.connected for c in clients),
        "failed": [c.failed for c in clients if c.failed][:20],
        "failed_count": sum(1 for c in clients if c.failed),
        "bytes_in": sum(c.bytes_in for c in clients),
        "delivered": sum(c.delivered for c in clients),
        "clients": [c.got for c in clients],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=["poll", "dashws", "livedash"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("-n", type=int, default=10, help="clients")
    parser.add_argument("--seconds", type=float, default=10, help="measured window")
    parser.add_argument("--ramp-timeout", type=float, default=60, help="longest connect phase")
    parser.add_argument("--concurrency", type=int, default=64, help="connects in flight")
    parser.add_argument("--stream", default="seed")
    parser.add_argument("--no-gzip", action="store_true", help="livedash: ask for identity")
    parser.add_argument("--count-only", action="store_true", help="count, keep no times")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    raise_fd_limit()
    try:
        import uvloop

        result = uvloop.run(run(args))
    except ImportError:  # pragma: no cover - uvicorn[standard] brings uvloop
        result = asyncio.run(run(args))
    with open(args.out, "w") as f:
        json.dump(result, f)
    return 0


if __name__ == "__main__":
    sys.exit(main())
