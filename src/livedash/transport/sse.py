"""Server-Sent Events: a resumable, batched, optionally gzip-compressed event stream."""

from __future__ import annotations

import time
from collections.abc import Generator, Iterable, Iterator

from livedash.errors import StoreError
from livedash.events import Cursor, Event
from livedash.hub import RETRY_MAX, RETRY_MIN, Hub, Overflow, Resync, Subscription
from livedash.transport.params import StreamRequest
from livedash.transport.steps import BLOCKING, Sleep, Step, Wait
from livedash.transport.wire import control, encoder

#: Seconds between comment lines that keep proxies from closing an idle stream and
#: let the server notice a vanished client.
HEARTBEAT = 15.0
#: Largest number of events sent in one SSE message.
BATCH_LIMIT = 1000


class EventStream:
    """The body of one ``/livedash/events`` response.

    Order of work: subscribe first, then read history/catch-up from the store, then relay
    the subscription; per-stream seq filtering removes the overlap, so no event is missed
    or sent twice.

    :meth:`steps` holds the logic and names every wait as a step instead of blocking, so
    the same stream runs on a thread (:func:`~livedash.transport.steps.run_blocking`, for
    WSGI) or on an event loop (:mod:`livedash.transport.asgi` awaits the waits)."""

    def __init__(
        self,
        hub: Hub,
        req: StreamRequest,
        heartbeat: float = HEARTBEAT,
        wire: int = 1,
        lifetime: float | None = None,
    ) -> None:
        self.hub = hub
        self.req = req
        self.heartbeat = heartbeat
        #: when this response ends by itself (monotonic clock), so that the client's
        #: reconnect passes the app's guards again (:attr:`TransportConfig.reauth`)
        self.ends_at = None if lifetime is None else time.monotonic() + lifetime
        #: this connection's writer of messages, in the wire format the client asked for
        self.wire = encoder(wire, req.streams)
        self.cursor: Cursor = {}
        self.sub: Subscription | None = None

    def steps(self) -> Generator[Step, object, None]:
        """The body as chunks, interleaved with the waits between them (see :data:`Step`)."""
        yield self.wire.preamble()
        # Subscribing inside the generator ties the subscription to the response's life.
        # With the store down the stream stays open and says so, rather than failing and
        # making the browser reconnect in a loop; it subscribes once the store is back.
        delay = RETRY_MIN
        while True:
            yield BLOCKING
            try:
                sub = self.sub = self.hub.subscribe(self.req.streams)
                break
            except StoreError:
                yield control("status", {"store": "degraded"})
                yield Sleep(delay)
                delay = min(RETRY_MAX, delay * 2)
        self.hub.stats.connection_opened()
        try:
            if not self.hub.healthy:
                yield control("status", {"store": "degraded"})
            started = synced = False
            while not sub.closed:
                try:
                    if not started:
                        yield BLOCKING
                        yield from self._start()
                        started = synced = True
                    elif not synced:
                        yield BLOCKING
                        yield from self._catch_up(self.req.streams)
                        synced = True
                    if self.ends_at is not None and time.monotonic() >= self.ends_at:
                        return  # the client resumes from its cursor, asked again
                    yield Wait(sub, self.heartbeat)
                    events, status = sub.get(0)
                except Resync:
                    synced = False  # a stream went backwards: _catch_up starts it over
                    continue
                except Overflow:
                    self.hub.stats.overflowed()
                    self.hub.stats.resynced("overflow")
                    synced = False
                    continue
                except StoreError:
                    # The store failed mid-stream: tell the client, wait for the fan-out to
                    # report it back (or a few seconds), then catch up from the cursor.
                    yield control("status", {"store": "degraded"})
                    synced = False
                    yield Wait(sub, RETRY_MAX)
                    try:
                        _, status = sub.get(0)
                    except Overflow:
                        status = None
                    if status:
                        yield control("status", {"store": status})
                    continue
                if status:
                    yield control("status", {"store": status})
                fresh, gap = self._advance(events)
                if fresh:
                    self.hub.stats.delivered(fresh)
                    yield self.wire.batch(fresh, self.cursor)
                elif not status and not gap:
                    yield ":\n\n"
                if gap:
                    synced = False  # _catch_up fills the gap from the store, or resets
        finally:
            self.hub.stats.connection_closed()
            self.hub.unsubscribe(sub)

    def _start(self) -> Iterator[str]:
        # Streams already in self.cursor were started before a store failure interrupted this.
        resume = [s for s in self.req.streams if s in self.req.cursor or s in self.cursor]
        for stream in self.req.streams:
            if stream in resume:
                self.cursor.setdefault(stream, self.req.cursor.get(stream, 0))
                continue
            head = self.hub.store.head(stream)
            n = self.req.last.get(stream, 0)
            history = self.hub.history(stream, n) if n else []
            self.cursor[stream] = history[-1].seq if history else head
            if history:
                self.hub.stats.delivered(history)
                yield self.wire.batch(history, self.cursor)
        yield from self._catch_up(resume)
        # Every stream's position is now known; tell the client even if nothing was sent.
        yield self.wire.synced(self.cursor)

    def _catch_up(self, streams: Iterable[str]) -> Iterator[str]:
        for stream in streams:
            while True:
                after = self.cursor[stream]
                events = self.hub.read(stream, after, BATCH_LIMIT)
                if not events and after > 0 and self.hub.store.head(stream) < after:
                    # The stream went backwards: the store lost its newer events (a Redis
                    # restarted without persistence numbers from 1 again). Start the client
                    # over from the store's oldest event, instead of showing it nothing.
                    first = self.hub.read(stream, 0, 1)
                    self.cursor[stream] = first[0].seq - 1 if first else self.hub.store.head(stream)
                    self.hub.stats.resynced("rewind")
                    yield self.wire.reset(stream, self.cursor[stream] + 1)
                    continue
                if events and events[0].seq != after + 1:
                    # Retention dropped events this client never saw: it must reload history.
                    self.hub.stats.resynced("gap")
                    yield self.wire.reset(stream, events[0].seq)
                if not events:
                    break
                self.cursor[stream] = events[-1].seq
                self.hub.stats.delivered(events)
                yield self.wire.batch(events, self.cursor)

    def _advance(self, events: list[Event]) -> tuple[list[Event], bool]:
        """The events newer than the cursor, up to the first gap; and whether there was one.

        A gap means the fan-out read past events this client never got (it fell behind by
        more than the stream's retention): relaying the rest would lose them silently."""
        fresh: list[Event] = []
        for event in events:
            seen = self.cursor.get(event.stream, 0)
            if event.seq > seen + 1:
                return fresh, True
            if event.seq == seen + 1:
                self.cursor[event.stream] = event.seq
                fresh.append(event)
        return fresh, False
