"""The loop's one timer for open streams wakes for the nearest deadline, not every second: a
stream whose events keep arriving moves its heartbeat on and costs no timer wake-up, over a
real uvicorn."""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial

import pytest
from dash import Dash, html

from livedash import Hub, TransportConfig
from livedash.testing import UvicornServer, wait_until
from livedash.transport.driver import Ticker
from livedash.transport.serving import asgi_server
from tests.reliability.clients import DONE, Reader, connect, first_message

#: Seconds the stream is kept busy: the fixed one-second tick it replaces ran at least twice.
BUSY = 2.5


def _more_than(seqs: list[int], n: int) -> bool:
    return len(seqs) > n


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
    app = Dash(__name__)
    app.layout = html.Div("x")
    hub.init_app(app, TransportConfig(heartbeat=30))
    server = UvicornServer(asgi_server(app))
    try:
        client = connect(server.port, "/livedash/events?stream=busy")
        first_message(client)
        reader = Reader(client)
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
        server.stop()
