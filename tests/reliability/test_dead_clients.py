"""Clients that vanish without closing are cleaned up within a bounded time.

Three ways to vanish: a connection reset (the socket is aborted, no orderly close), a
client process killed with SIGKILL, and a client that is still connected but stopped reading
(a frozen tab, a suspended laptop), which the stall timeout cuts. Nothing is published while
the first two vanish, so only the heartbeat can notice them. The tests wait on the
subscription count, with a deadline, and check that the survivors still get every event.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from dash import Dash, html

from livedash import Hub, TransportConfig
from livedash.testing import LiveServer, wait_until
from tests.reliability.clients import (
    DONE,
    ClientProcesses,
    Reader,
    connect,
    first_message,
)

PATH = "/livedash/events?stream=d"


def _serve(hub: Hub, live_server: Callable[[Any], LiveServer], **config: Any) -> LiveServer:
    app = Dash(__name__)
    app.layout = html.Div("x")
    hub.init_app(app, TransportConfig(heartbeat=0.1, **config))
    return live_server(app)


@pytest.fixture
def processes() -> Iterator[ClientProcesses]:
    procs = ClientProcesses()
    yield procs
    procs.close()


def test_reset_and_killed_clients_are_unsubscribed_by_the_heartbeat(
    hub_factory: Callable[..., Hub],
    live_server: Callable[[Any], LiveServer],
    processes: ClientProcesses,
) -> None:
    hub = hub_factory()
    server = _serve(hub, live_server)
    survivor = connect(server.port, PATH)
    first_message(survivor)
    doomed = [connect(server.port, PATH) for _ in range(10)]
    for client in doomed:
        first_message(client)
    killed = [processes.start(server.port, PATH) for _ in range(3)]
    wait_until(lambda: hub.subscriber_count() == 14, 60, "all 14 clients are subscribed")

    for client in doomed:
        client.reset()
    for proc in killed:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)

    # Only the heartbeat writes to these connections now; each failed write ends one.
    wait_until(lambda: hub.subscriber_count() == 1, 60, "the vanished clients are unsubscribed")
    reader = Reader(survivor)
    for i in range(50):
        hub.publish("d", {"i": i})
    last = hub.publish("d", DONE).seq
    assert reader.finish() == list(range(1, last + 1))
    wait_until(
        lambda: hub.subscriber_count() == 0, 60, "the survivor is unsubscribed after closing"
    )


def test_a_client_that_stops_reading_is_cut_after_the_stall_timeout(
    hub_factory: Callable[..., Hub], live_server: Callable[[Any], LiveServer]
) -> None:
    hub = hub_factory(queue_size=64)
    server = _serve(hub, live_server, stall_timeout=0.5, compress=False)
    frozen = connect(server.port, PATH, rcvbuf=4096)
    first_message(frozen)  # ...and never reads again, but keeps its socket open
    [frozen_sub] = hub.subscriptions()
    survivor = connect(server.port, PATH)
    first_message(survivor)
    reader = Reader(survivor)

    # Events fill the frozen client's window until the server's write to it blocks (its
    # queue overflows). Nothing sent to it is acknowledged from then on, so after the stall
    # timeout the kernel aborts the connection and the stream is unsubscribed.
    published = 0
    while frozen_sub.overflows == 0 and published < 20_000:
        hub.publish_many([("d", {"i": published + i, "pad": "y" * 2000}) for i in range(100)])
        published += 100
    assert frozen_sub.overflows >= 1
    wait_until(lambda: hub.subscriber_count() == 1, 60, "the frozen client is cut")
    assert frozen_sub.closed
    last = hub.publish("d", DONE).seq
    assert reader.finish() == list(range(1, last + 1))
    frozen.close()
