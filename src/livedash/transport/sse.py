"""Server-Sent Events: a resumable, batched, optionally gzip-compressed event stream."""

from __future__ import annotations

import time
from collections.abc import Generator

from livedash.events import Cursor
from livedash.follow import PAGE_EVENTS, Events, Follower, Idle, Reset, Status, Synced
from livedash.hub import Hub
from livedash.transport.params import StreamRequest
from livedash.transport.steps import Step
from livedash.transport.wire import control, encoder

#: Seconds between comment lines that keep proxies from closing an idle stream and
#: let the server notice a vanished client.
HEARTBEAT = 15.0
#: Largest number of events sent in one SSE message (a page of catch-up).
BATCH_LIMIT = PAGE_EVENTS


class EventStream:
    """The body of one ``/livedash/events`` response: the core :class:`~livedash.follow.
    Follower`'s items, written in the wire format the client asked for.

    :meth:`steps` passes the follower's waits on as steps instead of blocking, so the same
    stream runs on a thread (:func:`~livedash.transport.steps.run_blocking`, for WSGI) or on
    an event loop (:mod:`livedash.transport.driver` awaits the waits). Catch-up goes out a page
    at a time, each read from the store once the one before it was sent."""

    def __init__(
        self,
        hub: Hub,
        req: StreamRequest,
        heartbeat: float = HEARTBEAT,
        wire: int = 1,
        lifetime: float | None = None,
    ) -> None:
        #: this connection's writer of messages, in the wire format the client asked for
        self.wire = encoder(wire, req.streams)
        # ``lifetime``: the response ends by itself then, so that the client's reconnect
        # passes the app's guards again (TransportConfig.reauth).
        until = None if lifetime is None else time.monotonic() + lifetime
        self.follower = Follower(
            hub, req.streams, req.cursor, req.last, heartbeat=heartbeat, until=until
        )

    @property
    def cursor(self) -> Cursor:
        """Where this stream's client is, per stream."""
        return self.follower.cursor

    def steps(self) -> Generator[Step, object, None]:
        """The body as chunks, interleaved with the waits between them (see :data:`Step`)."""
        yield self.wire.preamble()
        cursor = self.follower.cursor
        for item in self.follower.steps():
            if isinstance(item, Events):
                # Nothing kept here while the client takes the text: neither the events nor
                # the text (a reader that does not read holds one page, encoded, once).
                held = [item]
                del item
                yield self.wire.batch(held.pop().events, cursor)
            elif isinstance(item, Idle):
                yield ":\n\n"
            elif isinstance(item, Status):
                yield control("status", {"store": item.store})
            elif isinstance(item, Reset):
                yield self.wire.reset(item.stream, item.seq)
            elif isinstance(item, Synced):
                yield self.wire.synced(cursor)
            else:
                yield item
