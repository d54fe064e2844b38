"""Live events leave from the fan-out's wake-up itself, with no task step per stream, over a
real uvicorn; a send that must wait for a full socket is finished by the stream's task, and
nothing is lost or repeated either way. The loop's one timer for open streams wakes for the
nearest deadline, not every second: a busy stream moves its heartbeat on and costs none."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import pytest
from dash import Dash, html

from livedash import Hub, TransportConfig
from livedash.events import Event
from livedash.stores import MemoryStore
from livedash.testing import UvicornServer, wait_until
from livedash.transport.asgi_types import ASGIApp, Receive, Scope, Send
from livedash.transport.driver import Ticker
from livedash.transport.serving import asgi_server
from tests.reliability.clients import DONE, Reader, connect, first_message

#: Events of 4 KB after which a socket that is never read must have filled (kernel buffers
#: are a few MB at most).
MAX_EVENTS = 20_000


class SendRecorder:
    """ASGI middleware that passes everything through and notes, for each body chunk of an
    event stream, whether it was sent from inside a task (asyncio.current_task()) when it
    began and when it ended."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.begun = 0  # body chunks whose send began
        self.inline = 0  # began outside any task: sent by the wake-up itself
        self.in_task = 0
        self.waiting = 0  # began outside a task and not finished yet
        self.handed_over = 0  # began outside a task, finished by the stream's task

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("path", "") != "/livedash/events":
            await self.app(scope, receive, send)
            return

        async def recording(message: Any) -> None:
            if message["type"] != "http.response.body":
                await send(message)
                return
            self.begun += 1
            began = asyncio.current_task()
            self.waiting += began is None
            await send(message)
            if began is None:
                self.waiting -= 1
                self.inline += 1
                if asyncio.current_task() is not None:
                    self.handed_over += 1
            else:
                self.in_task += 1

        await self.app(scope, receive, recording)


def _began(recorder: SendRecorder, before: int) -> bool:
    return recorder.begun > before


def _more_than(seqs: list[int], n: int) -> bool:
    return len(seqs) > n


def _serve(hub: Hub, servers: list[UvicornServer]) -> tuple[UvicornServer, SendRecorder]:
    app = Dash(__name__)
    app.layout = html.Div("x")
    hub.init_app(app, TransportConfig(heartbeat=30))
    recorder = SendRecorder(asgi_server(app))
    server = UvicornServer(recorder)
    servers.append(server)
    return server, recorder


def _follow(server: UvicornServer, stream: str) -> Reader:
    """A reader of ``stream``'s event stream, started once its subscription is live."""
    client = connect(server.port, f"/livedash/events?stream={stream}")
    first_message(client)
    return Reader(client)


def test_live_events_are_sent_by_the_wake_up_in_order_exactly_once(
    hub_factory: Callable[..., Hub],
) -> None:
    hub = hub_factory()
    servers: list[UvicornServer] = []
    try:
        server, recorder = _serve(hub, servers)
        reader = _follow(server, "live")
        for i in range(30):
            hub.publish("live", {"i": i})
            wait_until(partial(_more_than, reader.seqs, i), 30, f"event {i + 1} delivered")
        hub.publish("live", DONE)
        assert reader.finish() == list(range(1, 32))
        # One at a time, each event found its stream waiting: sent from the wake-up (the old
        # path resumed each stream's task for it, which would count here as in_task).
        assert recorder.inline >= 1, (recorder.inline, recorder.in_task)
    finally:
        for server in servers:
            server.stop()


def test_a_send_blocked_by_a_full_socket_is_finished_by_the_task_and_nothing_is_lost(
    hub_factory: Callable[..., Hub],
) -> None:
    hub = hub_factory()
    hub.stream("full", max_events=None)
    servers: list[UvicornServer] = []
    try:
        server, recorder = _serve(hub, servers)
        # A tiny receive buffer, nothing read, 4 KB events one at a time: each send begins
        # in the wake-up (the stream's task parked itself in the same loop step that sent
        # the one before) until the socket is full and uvicorn's send waits for it to drain.
        client = connect(server.port, "/livedash/events?stream=full", rcvbuf=4096)
        first_message(client)
        pad = "x" * 4000
        published = 0
        while not recorder.waiting:
            assert published < MAX_EVENTS, "the socket never filled"
            begun = recorder.begun
            hub.publish("full", {"i": published, "pad": pad})
            published += 1
            wait_until(partial(_began, recorder, begun), 30, f"send {published} begun", 0.001)
        hub.publish("full", DONE)
        # Now read: the waiting send completes in the stream's task, the rest follows.
        seqs = Reader(client).finish()
        assert seqs == list(range(1, published + 2))
        assert recorder.handed_over == 1, (recorder.inline, recorder.in_task)
    finally:
        for server in servers:
            server.stop()


class ReadThreads(MemoryStore):
    """The memory store, noting the thread of every read (where a follower's catch-up ran)."""

    def __init__(self) -> None:
        super().__init__()
        self.read_threads: list[str] = []

    def read(self, stream: str, after_seq: int, limit: int = 1000) -> list[Event]:
        self.read_threads.append(threading.current_thread().name)
        return super().read(stream, after_seq, limit)


def test_an_overflow_met_by_the_wake_up_catches_up_in_a_thread_not_on_the_loop() -> None:
    store = ReadThreads()
    hub = Hub(store, queue_size=8)
    servers: list[UvicornServer] = []
    try:
        server, _ = _serve(hub, servers)
        reader = _follow(server, "burst")
        hub.publish("burst", {"i": 0})
        wait_until(partial(_more_than, reader.seqs, 0), 30, "the first event delivered")
        # Parked again (in the step that sent it): a burst far past the queue's 8 overflows
        # it, the wake-up meets the overflow, and the follower catches up from the store.
        store.read_threads.clear()
        hub.publish_many([("burst", {"i": i}) for i in range(1, 2001)])
        hub.publish("burst", DONE)
        assert reader.finish() == list(range(1, 2003))
        assert hub.stats.snapshot().overflows >= 1
        # The catch-up read the store on its threads; nothing read it on the event loop's
        # thread (the process's fan-out reader reads it too, on its own).
        names = set(store.read_threads)
        assert any(n.startswith("livedash-catch-up") for n in names), names
        assert all(n.startswith("livedash-catch-up") or n == "livedash-fanout" for n in names), (
            names
        )
    finally:
        for server in servers:
            server.stop()
        hub.close()


#: Seconds the stream is kept busy: the fixed one-second tick it replaces ran at least twice.
BUSY = 2.5


def test_a_busy_stream_costs_no_ticker_wake_up_until_its_heartbeat(
    hub_factory: Callable[..., Hub], monkeypatch: pytest.MonkeyPatch
) -> None:
    runs: list[float] = []
    real_run = Ticker._run

    def counted(ticker: Ticker) -> None:
        runs.append(time.monotonic())
        real_run(ticker)

    monkeypatch.setattr(Ticker, "_run", counted)
    hub = hub_factory()
    servers: list[UvicornServer] = []
    try:
        server, _ = _serve(hub, servers)  # heartbeat 30 s
        reader = _follow(server, "busy")
        started = time.monotonic()
        sent = 0
        # One event at a time, each awaited, for BUSY seconds of an open, busy stream.
        while time.monotonic() - started < BUSY:
            hub.publish("busy", {"i": sent})
            sent += 1
            wait_until(partial(_more_than, reader.seqs, sent - 1), 30, f"event {sent}")
        assert runs == [], f"the ticker woke {len(runs)} times with no deadline due"
        hub.publish("busy", DONE)
        assert reader.finish() == list(range(1, sent + 2))
    finally:
        for server in servers:
            server.stop()
