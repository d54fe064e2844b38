"""A client that stops reading delays nobody, and the server keeps only a bounded queue for it.

The stalled clients have tiny receive buffers and read nothing while events flow, so the
server's writes to them block. Their subscriptions fill to the bound and overflow (dropping
the queue); once they read again they resync from the store. Assertions are about what was
delivered and how full the queues got, never about how long anything took.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from dash import Dash, html

from livedash import Hub, TransportConfig
from livedash.fanout import Overflow, Subscription
from livedash.testing import LiveServer, wait_until
from tests.reliability.clients import DONE, Reader, connect, first_message

QUEUE = 64
STALLED = 5
FAST = 3
#: Publishing stops after this many events even if some stalled client never overflowed.
MAX_EVENTS = 40_000
PAD = "x" * 2000


def _serve(hub: Hub, live_server: Callable[[Any], LiveServer], **config: Any) -> LiveServer:
    app = Dash(__name__)
    app.layout = html.Div("x")
    hub.init_app(app, TransportConfig(heartbeat=0.2, **config))
    return live_server(app)


def test_stalled_clients_do_not_delay_others_and_their_queues_stay_bounded(
    hub_factory: Callable[..., Hub], live_server: Callable[[Any], LiveServer]
) -> None:
    hub = hub_factory(queue_size=QUEUE)
    hub.stream("load", max_events=None)  # keep everything, so a resync can be complete
    # No stall timeout here: these clients must survive being stuck, to show the resync.
    server = _serve(hub, live_server, stall_timeout=None, compress=False)
    path = "/livedash/events?stream=load"

    stalled = [connect(server.port, path, rcvbuf=4096) for _ in range(STALLED)]
    for client in stalled:
        first_message(client)  # ...and then read nothing more for a while
    stalled_subs = set(hub.subscriptions())
    assert len(stalled_subs) == STALLED
    fast = [connect(server.port, path) for _ in range(FAST)]
    for client in fast:
        first_message(client)
    readers = [Reader(client) for client in fast]

    peak = 0
    published = 0

    def all_stalled_overflowed() -> bool:
        return all(sub.overflows >= 1 for sub in stalled_subs)

    while published < MAX_EVENTS and not all_stalled_overflowed():
        hub.publish_many([("load", {"i": published + i, "pad": PAD}) for i in range(200)])
        published += 200
        peak = max([peak, *(sub.pending() for sub in hub.subscriptions())])
    last = hub.publish("load", DONE).seq

    # Every stalled subscription was cut from live delivery, and none ever held more than
    # the bound: what a stuck client costs the server does not grow with what is published.
    assert all_stalled_overflowed(), [s.overflows for s in stalled_subs]
    assert peak <= QUEUE
    assert all(sub.pending() <= QUEUE for sub in hub.subscriptions())
    # The clients that kept reading got everything, in order, once, while the stalled ones
    # still had not read a byte more.
    for reader in readers:
        assert reader.finish() == list(range(1, last + 1))
    # A stalled client that reads again resyncs from the store: nothing lost, nothing twice.
    late = [Reader(client) for client in stalled]
    for reader in late:
        assert reader.finish() == list(range(1, last + 1))
        assert reader.resets == 0
    wait_until(lambda: hub.subscriber_count() == 0, 60, "every closed stream is unsubscribed")


def test_an_overflowing_subscription_drops_its_queue_and_is_told_to_resync(
    hub_factory: Callable[..., Hub],
) -> None:
    hub = hub_factory(queue_size=QUEUE)
    sub: Subscription = hub.subscribe(["q"])
    hub.publish_many([("q", {"i": i}) for i in range(QUEUE * 10)])
    wait_until(lambda: sub.overflows >= 1, 60, "the subscription overflows")
    assert sub.pending() <= QUEUE
    with pytest.raises(Overflow):
        sub.get(0)
    # After the resync signal it queues again, from the next event on.
    hub.publish("q", {"after": True})
    wait_until(lambda: sub.pending() == 1, 60, "the next event is queued")
    events, _ = sub.get(0)
    assert [e.data for e in events] == [{"after": True}]
    hub.unsubscribe(sub)
