"""Following streams: subscribe, catch up from a cursor (or start from history), then live.

One :class:`Follower` holds the logic every reader needs, once: the event stream and the poll
route of the transport, and server code through :meth:`Hub.follow <livedash.Hub.follow>`.

- Subscribe first, then read the store: per-stream seq filtering removes the overlap, so no
  event is missed or delivered twice.
- Catch-up and history go out in pages bounded in events and in bytes, each read from the
  store only when the previous page was taken, so a reader that stops reading costs one page.
- A gap (retention dropped events the reader never got) and a rewind (the store lost data
  and numbers from 1 again) become a :class:`Reset`; an overflowing subscription queue, a
  catch-up from the store.
- The store's failures become :class:`Status` items, and the follower retries on its own.

The follower does no I/O wait itself: it yields :class:`Wait`, :class:`Sleep` and the
:data:`BLOCKING` marker as steps, so one implementation runs on a thread (WSGI, a sync
iterator) and on an event loop (ASGI, an async iterator).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Generator, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from livedash.errors import StoreError
from livedash.events import Cursor, Event, validate_stream_name
from livedash.fanout import RETRY_MAX, RETRY_MIN, Overflow, Resync, Subscription

if TYPE_CHECKING:
    from livedash.stats import HubStats


class Hub(Protocol):
    """What a follower needs of the hub it reads (:class:`livedash.Hub` is one)."""

    @property
    def stats(self) -> HubStats:
        """The counters a follower adds to."""
        ...

    @property
    def healthy(self) -> bool:
        """False while the store cannot be read."""
        ...

    def subscribe(self, streams: Iterable[str], maxsize: int | None = None) -> Subscription:
        """Queue every event published from now on."""
        ...

    def unsubscribe(self, sub: Subscription) -> None:
        """Stop queueing."""
        ...

    def read(self, stream: str, after_seq: int, limit: int = 1000) -> list[Event]:
        """Stored events after ``after_seq``, oldest first."""
        ...

    def head(self, stream: str) -> int:
        """The newest seq of ``stream``."""
        ...


#: What a waiting follower's batch variables hold instead of the batch it sent (never changed).
_SENT: list[Event] = []
#: Most events in one page of catch-up or history.
PAGE_EVENTS = 1000
#: Most bytes of event data (as JSON) in one page; a single larger event is a page alone.
#: What a reader that stops reading holds in its connection's buffers: 500 of them that
#: asked for a large backlog held +276 MB of RSS at 1 MiB a page (bench/abuse.py).
PAGE_BYTES = 256 * 1024
#: Events in a stream's first page, before its events' size is known (4 x the 64 KiB most
#: an event may hold stays within :data:`PAGE_BYTES`).
FIRST_PAGE = 4


@dataclass(frozen=True)
class Wait:
    """Wait up to ``timeout`` seconds for ``sub`` to have something
    (:meth:`~livedash.hub.Subscription.wait`)."""

    sub: Subscription
    timeout: float


@dataclass(frozen=True)
class Sleep:
    """Pause ``seconds`` (the store is down, retry later); ends early if the reader goes."""

    seconds: float


class Blocking:
    """The steps from here to the next wait or sleep call the store, so an event loop runs
    them in a thread. ``catch_up``: they read history or a backlog, in pages, which an event
    loop runs on threads of their own, so that many readers catching up at once cannot keep
    the threads that subscribing and publishing use busy."""

    def __init__(self, catch_up: bool = False) -> None:
        self.catch_up = catch_up


#: The markers: short store calls, and catch-up reads.
BLOCKING = Blocking()
CATCH_UP = Blocking(catch_up=True)


@dataclass(frozen=True)
class Events:
    """Events to deliver, oldest first (a page of catch-up, or what arrived live)."""

    events: list[Event]


@dataclass(frozen=True)
class Reset:
    """``stream`` continues at ``seq``: what came before it is gone (retention dropped it,
    or the store lost it). A reader showing history should reload it."""

    stream: str
    seq: int


@dataclass(frozen=True)
class Status:
    """The store's state changed: ``ok`` or ``degraded``."""

    store: str


@dataclass(frozen=True)
class Synced:
    """Every followed stream's position is known (after the first catch-up)."""

    cursor: Cursor


class Idle:
    """Nothing arrived within the heartbeat: a keep-alive is due."""


#: The one :class:`Idle` item.
IDLE = Idle()

#: What a follower's :meth:`Follower.steps` yields: a step for its driver, or an item.
Step = Wait | Sleep | Blocking
Item = Events | Reset | Status | Synced | Idle


class Follower:
    """One reader's following of ``streams``.

    ``after``: where to resume, per stream (``{stream: last seq seen}``); streams not in it
    start at the newest event, with the newest ``last[stream]`` events first as history.
    ``heartbeat``: seconds after which a quiet follower yields :data:`IDLE`. ``until``: a
    :func:`time.monotonic` deadline at which :meth:`steps` ends by itself.
    ``cursor`` is the reader's position, updated before each item is yielded."""

    def __init__(
        self,
        hub: Hub,
        streams: Iterable[str],
        after: Mapping[str, int] | None = None,
        last: Mapping[str, int] | None = None,
        *,
        heartbeat: float = 15.0,
        until: float | None = None,
        page_events: int = PAGE_EVENTS,
        page_bytes: int = PAGE_BYTES,
    ) -> None:
        self.hub = hub
        self.streams = [validate_stream_name(s) for s in streams]
        self.after = dict(after or {})
        self.last = dict(last or {})
        self.heartbeat = heartbeat
        self.until = until
        self.page_events = page_events
        self.page_bytes = page_bytes
        self.cursor: Cursor = {}
        self.sub: Subscription | None = None
        # Events per store read, per stream: sized from the bytes of the events seen so far.
        self._limit: dict[str, int] = {}

    def steps(self) -> Generator[Step | Item, None, None]:
        """Follow until the subscription closes, the deadline passes or the caller stops."""
        # Subscribing inside the generator ties the subscription to its life. With the store
        # down the follower says so and retries, rather than failing its reader.
        delay = RETRY_MIN
        while True:
            yield BLOCKING
            try:
                sub = self.sub = self.hub.subscribe(self.streams)
                break
            except StoreError:
                yield Status("degraded")
                yield Sleep(delay)
                delay = min(RETRY_MAX, delay * 2)
        stats = self.hub.stats
        stats.connection_opened()
        said = "ok"  # the store state the reader was last told; each change is said once

        def tell(state: str) -> Iterator[Status]:
            nonlocal said
            if state != said:
                said = state
                yield Status(state)

        try:
            if not self.hub.healthy:
                yield from tell("degraded")
            started = synced = False
            while not sub.closed:
                if self.until is not None and time.monotonic() >= self.until:
                    return
                try:
                    if not started:
                        yield BLOCKING
                        yield from self._start()
                        started = synced = True
                    elif not synced:
                        yield BLOCKING
                        yield from self._catch_up(self.streams)
                        synced = True
                    # Nothing of the last batch kept while waiting (a few hundred bytes per
                    # open stream, the lists of events already sent).
                    events = fresh = _SENT
                    yield Wait(sub, self.heartbeat)
                    events, status = sub.get(0)
                except Resync:
                    synced = False  # a stream went backwards: _catch_up starts it over
                    continue
                except Overflow:
                    stats.overflowed()
                    stats.resynced("overflow")
                    synced = False
                    continue
                except StoreError:
                    # The store failed mid-stream: say so, wait for the fan-out to report it
                    # back (or a few seconds), then catch up from the cursor.
                    yield from tell("degraded")
                    synced = False
                    yield Wait(sub, RETRY_MAX)
                    try:
                        _, status = sub.get(0)
                    except Overflow:
                        status = None
                    if status:
                        yield from tell(status)
                    continue
                if status:
                    yield from tell(status)
                fresh, gap = self._advance(events)
                if fresh:
                    stats.delivered(fresh)
                    yield Events(fresh)
                elif not status and not gap:
                    yield IDLE
                if gap:
                    synced = False  # _catch_up fills the gap from the store, or resets
        finally:
            stats.connection_closed()
            self.hub.unsubscribe(sub)

    def _start(self) -> Iterator[Item | Blocking]:
        # Streams already in the cursor were started before a store failure interrupted this.
        resume = [s for s in self.streams if s in self.after or s in self.cursor]
        for stream in self.streams:
            if stream in resume:
                self.cursor.setdefault(stream, self.after.get(stream, 0))
                continue
            head = self.hub.head(stream)
            n = self.last.get(stream, 0)
            self.cursor[stream] = max(0, head - n)
            if n:
                # History: the newest n events, read forward in pages. Retention may keep
                # fewer; what it dropped is no gap here.
                yield from self._pages(stream, history=True)
        yield from self._catch_up(resume)
        yield Synced(dict(self.cursor))

    def _catch_up(self, streams: Iterable[str]) -> Iterator[Item | Blocking]:
        for stream in streams:
            yield from self._pages(stream)

    def _pages(self, stream: str, history: bool = False) -> Iterator[Item | Blocking]:
        """Read ``stream`` after the cursor to the store's end, a page at a time; each page
        is read only once the one before it was taken."""
        yield CATCH_UP
        stats = self.hub.stats
        first = True
        while True:
            after = self.cursor[stream]
            page = self._read_page(stream, after)
            if not page and after > 0 and self.hub.head(stream) < after:
                # The stream went backwards: the store lost its newer events (a Redis
                # restarted without persistence numbers from 1 again). Start the reader over
                # from the store's oldest event, instead of showing it nothing.
                oldest = self.hub.read(stream, 0, 1)
                self.cursor[stream] = oldest[0].seq - 1 if oldest else self.hub.head(stream)
                stats.resynced("rewind")
                yield Reset(stream, self.cursor[stream] + 1)
                continue
            if page and page[0].seq != after + 1 and not (history and first):
                # Retention dropped events this reader never saw: it must reload history.
                stats.resynced("gap")
                yield Reset(stream, page[0].seq)
            if not page:
                return
            first = False
            self.cursor[stream] = page[-1].seq
            stats.delivered(page)
            # Handed over without a reference left here: while a reader takes the page (or
            # does not read at all) its connection holds it once, encoded, not also here.
            held = [page]
            del page
            yield Events(held.pop())

    def _read_page(self, stream: str, after: int) -> list[Event]:
        limit = min(self._limit.get(stream, FIRST_PAGE), self.page_events)
        events = self.hub.read(stream, after, limit)
        if events:
            size = sum(_size(e) for e in events)
            # Size the next read from these events: at most page_bytes, at most page_events.
            each = max(1, size // len(events))
            self._limit[stream] = max(1, min(self.page_events, self.page_bytes // each))
            while len(events) > 1 and size > self.page_bytes:
                size -= _size(events.pop())
        return events

    def _advance(self, events: list[Event]) -> tuple[list[Event], bool]:
        """The events newer than the cursor, up to the first gap; and whether there was one.

        A gap means the fan-out read past events this reader never got (it fell behind by
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


def read_once(
    hub: Hub,
    streams: Iterable[str],
    after: Mapping[str, int],
    last: Mapping[str, int],
    page_events: int = PAGE_EVENTS,
    page_bytes: int = PAGE_BYTES,
) -> tuple[list[Event], Cursor, list[str]]:
    """A page per stream, with no subscription (a poll): up to ``page_events`` events after
    ``after`` (or the newest ``last[stream]`` for streams not in it), the cursor to continue
    from, and the streams that were reset (a gap or a rewind). At most ``page_bytes`` of
    event data in all: streams past it keep their cursor, for the next read. Blocks on the
    store."""
    events: list[Event] = []
    cursor: Cursor = {}
    resets: list[str] = []
    budget = page_bytes
    for stream in streams:
        start = after.get(stream)
        if start is None:
            head = cursor[stream] = hub.head(stream)
            n = last.get(stream, 0)
            if not n:
                continue
            wanted, first, history = min(n, page_events), max(0, head - n), True
        else:
            cursor[stream] = start
            wanted, first, history = page_events, start, False
        if budget <= 0:
            continue
        follower = Follower(hub, [stream], page_events=wanted, page_bytes=budget)
        follower.cursor[stream] = first
        got: list[Event] = []
        for item in follower._pages(stream, history=history):
            if isinstance(item, Reset) and stream not in resets:
                resets.append(stream)
            elif isinstance(item, Events):
                got.extend(item.events)
                budget -= sum(_size(e) for e in item.events)
                if len(got) >= wanted or budget <= 0:
                    break
                # The next page reads no more than this stream may still take.
                follower.page_events = wanted - len(got)
                follower.page_bytes = budget
        if got:
            cursor[stream] = got[-1].seq
            events.extend(got)
        elif stream in resets:
            cursor[stream] = follower.cursor[stream]
    return events, cursor, resets


def _size(event: Event) -> int:
    """The bytes of ``event``'s data as compact JSON (characters: what a page is sized by)."""
    return len(event.data_json)


class Follow:
    """What :meth:`Hub.follow <livedash.Hub.follow>` returns: an iterator of the events of
    some streams (``for event in ...``, on a thread) and an async one (``async for``, on an
    event loop), each event once, in order per stream. ``cursor`` says where it is: pass it
    as ``after`` to resume exactly. ``resets`` counts the times a stream had to continue past
    events that were gone (retention, a store that lost data); ``on_reset`` is called then."""

    def __init__(self, follower: Follower, on_reset: Any = None) -> None:
        self._follower = follower
        self._on_reset = on_reset
        self.resets = 0
        self._steps: Generator[Step | Item, None, None] | None = None

    @property
    def cursor(self) -> Cursor:
        """``{stream: seq of the last event delivered}``."""
        return dict(self._follower.cursor)

    def _item(self, item: Step | Item) -> list[Event]:
        if isinstance(item, Events):
            return item.events
        if isinstance(item, Reset):
            self.resets += 1
            if self._on_reset is not None:
                self._on_reset(item.stream, item.seq)
        return []

    def __iter__(self) -> Iterator[Event]:
        steps = self._steps = self._follower.steps()
        try:
            for item in steps:
                if isinstance(item, Wait):
                    item.sub.wait(item.timeout)
                elif isinstance(item, Sleep):
                    time.sleep(item.seconds)
                else:
                    yield from self._item(item)
        finally:
            steps.close()

    async def __aiter__(self) -> AsyncIterator[Event]:
        import asyncio

        loop = asyncio.get_running_loop()
        steps = self._steps = self._follower.steps()
        woken = asyncio.Event()
        offload = False
        try:
            while True:
                # Store reads (after BLOCKING) run in a thread; the rest on the loop.
                if offload:
                    item = await loop.run_in_executor(None, next, steps, None)
                else:
                    item = next(steps, None)
                if item is None:
                    return
                if isinstance(item, Blocking):
                    offload = True
                elif isinstance(item, Wait):
                    offload = False
                    woken.clear()

                    def wake() -> None:
                        loop.call_soon_threadsafe(woken.set)

                    item.sub.set_waker(wake)
                    if not item.sub.ready:
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(woken.wait(), item.timeout)
                elif isinstance(item, Sleep):
                    offload = False
                    await asyncio.sleep(item.seconds)
                else:
                    for event in self._item(item):
                        yield event
        finally:
            if self._follower.sub is not None:
                self._follower.sub.set_waker(None)
            steps.close()

    def close(self) -> None:
        """Stop following (unsubscribes); an iteration in progress ends."""
        if self._follower.sub is not None:
            self._follower.sub.close()
