"""The Hub: the application's single entry point for publishing and following streams.

This is the core hub: it imports no web framework and nothing of the transport. The
:class:`livedash.Hub` users create adds ``init_app(app)`` to it (:mod:`livedash.dash_hub`),
from above the transport, so that imports point one way: transport -> hub -> fan-out ->
stores -> events."""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

from livedash.errors import ConfigError, PublishError, StoreError
from livedash.events import MAX_EVENT_BYTES, Event, encode_data, validate_stream_name
from livedash.fanout import (
    RETRY_MAX,
    RETRY_MIN,
    Fanout,
    Overflow,
    Resync,
    Subscription,
    WakeBatch,
)
from livedash.follow import Follow, Follower
from livedash.producers import Every
from livedash.stats import HubStats
from livedash.stores import Retention, Store, open_store

# What subscribers handle is part of the hub's API; the fan-out that makes them is not.
__all__ = [
    "RETRY_MAX",
    "RETRY_MIN",
    "Hub",
    "Overflow",
    "ProducerFn",
    "Resync",
    "Startable",
    "Subscription",
    "WakeBatch",
]

log = logging.getLogger(__name__)

#: Seconds a store probe's answer is reused by :meth:`Hub.check_health`, so that a flood of
#: health checks costs the store at most one read a second.
HEALTH_TTL = 1.0
#: The stream whose head the probe reads: not a valid stream name, so no one publishes to it.
PROBE_STREAM = "livedash:health"
#: Most streams a deployment holds unless ``Hub(max_streams=...)`` or :data:`MAX_STREAMS_ENV`
#: says otherwise: each new name costs the store a head and up to its retention of events,
#: and names never go away, so without a bound anyone who may publish can fill it.
MAX_STREAMS = 10_000
MAX_STREAMS_ENV = "LIVEDASH_MAX_STREAMS"
#: Stream names a hub remembers as admitted (their next publish asks the store nothing).
KNOWN_STREAMS = 100_000

ProducerFn = Callable[[], Mapping[str, Any] | None]


class Startable(Protocol):
    """Anything the hub starts and stops with itself: sources, the alert engine."""

    def start(self, hub: Hub) -> None:
        """Begin feeding ``hub`` (in a thread of its own); return at once."""
        ...

    def stop(self) -> None:
        """Stop and release what was opened; idempotent."""
        ...


class Hub:
    """Publishes events into a store and fans them out to subscribers.

    ``store`` is a :class:`~livedash.stores.Store` or a URL (``memory://``,
    ``sqlite:///livedash.db``, ``redis://localhost:6379/0``).
    """

    def __init__(
        self,
        store: Store | str = "memory://",
        *,
        retention: Retention | None = None,
        max_event_bytes: int = MAX_EVENT_BYTES,
        queue_size: int = 4096,
        max_streams: int | None = None,
    ) -> None:
        self.store: Store = open_store(store, retention) if isinstance(store, str) else store
        self.max_event_bytes = max_event_bytes
        self.queue_size = queue_size
        #: most streams the deployment may hold (counted in the store, so across every
        #: process sharing it); None: no limit. ``max_streams=None`` takes
        #: ``LIVEDASH_MAX_STREAMS``, else :data:`MAX_STREAMS`; ``0`` means no limit.
        self.max_streams = _max_streams(max_streams)
        # Names admitted to the store: publishing to them again checks nothing.
        self._known_streams: set[str] = set()
        #: unique per process; identifies this hub when taking producer leases
        self.instance_id = uuid.uuid4().hex
        #: the periodic producers made by :meth:`every` (each one of :attr:`sources` too)
        self.producers: list[Every] = []
        #: sources and other long-running feeders added with :meth:`add_source`
        self.sources: list[Startable] = []
        #: counters exported by ``GET /metrics``
        self.stats = HubStats()
        self._fanout = Fanout(self.store)
        self._started = False
        # The last probe of check_health (did the store answer, monotonic time), and the lock
        # the one probe in flight holds.
        self._probe: tuple[bool, float] | None = None
        self._probe_lock = threading.Lock()

    # -- publishing -----------------------------------------------------------------------
    def stream(
        self, name: str, *, max_events: int | None = 10_000, max_age: float | None = None
    ) -> None:
        """Declare how much history of ``name`` the store keeps."""
        validate_stream_name(name)
        self.store.set_retention(name, Retention(max_events=max_events, max_age=max_age))

    def publish(self, stream: str, data: Mapping[str, Any]) -> Event:
        """Validate and store one event; subscribers receive it. Raises
        :class:`~livedash.PublishError` for bad input (nothing is stored)."""
        return self.publish_many([(stream, data)])[0]

    def publish_many(self, items: Iterable[tuple[str, Mapping[str, Any]]]) -> list[Event]:
        """Publish several events atomically: all are stored, or none (on any bad one)."""
        now = time.time()
        try:
            records = [
                (
                    validate_stream_name(stream),
                    encode_data(data, max_bytes=self.max_event_bytes),
                    now,
                )
                for stream, data in items
            ]
        except PublishError as exc:
            self.stats.rejected(exc.reason)
            raise
        if not records:
            return []
        # A name this hub has not published to yet is admitted by the store first, which
        # counts the deployment's streams atomically; past the limit nothing is stored.
        new = {stream for stream, _, _ in records} - self._known_streams
        admit = getattr(self.store, "admit_streams", None)  # a store of one's own may lack it
        if new and admit is not None:
            if not admit(sorted(new), self.max_streams):
                self.stats.rejected("too_many_streams")
                names = ", ".join(repr(n) for n in sorted(new)[:5])
                raise PublishError(
                    f"cannot create stream {names}: this deployment holds its limit of "
                    f"{self.max_streams} streams (Hub(max_streams=...) or {MAX_STREAMS_ENV}); "
                    "publish to an existing stream, or raise the limit",
                    reason="too_many_streams",
                )
            if len(self._known_streams) > KNOWN_STREAMS:
                self._known_streams.clear()
            self._known_streams |= new
        started = time.perf_counter()
        events = self.store.append_many(records)
        self.stats.published(events, time.perf_counter() - started)
        return events

    # -- reading --------------------------------------------------------------------------
    def history(self, stream: str, n: int) -> list[Event]:
        """The newest ``n`` stored events of ``stream``, oldest first."""
        return self.store.last(validate_stream_name(stream), n)

    def read(self, stream: str, after_seq: int, limit: int = 1000) -> list[Event]:
        """Stored events of ``stream`` after ``after_seq``, oldest first."""
        return self.store.read(validate_stream_name(stream), after_seq, limit)

    def head(self, stream: str) -> int:
        """The newest seq of ``stream`` (0 before its first event)."""
        return self.store.head(validate_stream_name(stream))

    def follow(
        self,
        streams: str | Iterable[str],
        after: Mapping[str, int] | None = None,
        *,
        last: int | Mapping[str, int] = 0,
        on_reset: Callable[[str, int], None] | None = None,
    ) -> Follow:
        """Follow ``streams`` from server code: ``for event in hub.follow("ticks")`` on a
        thread, or ``async for event in hub.follow("ticks")`` on an event loop (an asyncio
        task, a Dash WebSocket or streaming callback). Each event comes once, in order per
        stream, however the store behaves: after a Redis restart, a burst, a slow consumer.

        ``after``: ``{stream: last seq seen}`` to resume from, exactly (the returned
        object's ``cursor`` is that, kept up to date); streams not in it start at their
        newest event, after the newest ``last`` events as history (an int for every stream,
        or per stream). ``on_reset(stream, seq)`` is called when a stream must continue at
        ``seq`` past events that are gone (its retention dropped them before they were
        read). Stop by leaving the loop, or with the returned object's ``close()``."""
        names = [streams] if isinstance(streams, str) else list(streams)
        history = {s: last for s in names} if isinstance(last, int) else dict(last)
        follower = Follower(self, names, after, history)
        return Follow(follower, on_reset)

    def subscribe(self, streams: Iterable[str], maxsize: int | None = None) -> Subscription:
        """Follow ``streams``: every event published from now on is queued for the caller.
        Pair with :meth:`unsubscribe`."""
        names = [validate_stream_name(s) for s in streams]
        return self._fanout.subscribe(names, maxsize or self.queue_size)

    def unsubscribe(self, sub: Subscription) -> None:
        """Stop following; frees the subscription's queue."""
        self._fanout.unsubscribe(sub)

    @property
    def healthy(self) -> bool:
        """False while the store cannot be read (for example Redis is down)."""
        return self._fanout.healthy

    def fresh_health(self) -> bool | None:
        """What :meth:`check_health` would answer, when that needs no store read (its last
        probe is younger than :data:`HEALTH_TTL`); else None. Never blocks."""
        probe = self._probe
        if probe is None or time.monotonic() - probe[1] >= HEALTH_TTL:
            return None
        return probe[0] and not self._fanout.failing

    def check_health(self) -> bool:
        """True while the store answers: a read of the store at most every
        :data:`HEALTH_TTL` seconds, and the fan-out's reads are not failing. A store that was
        never reached counts as down.

        Blocks for up to one store command's timeout (for Redis, a second to connect or two
        for a reply): call it off the event loop."""
        probe = self._probe
        # One probe at a time. While it runs, the others take the previous answer, so that a
        # flood of checks against a hanging store does not tie up a thread each.
        if not self._probe_lock.acquire(blocking=probe is None):
            assert probe is not None
            return probe[0] and not self._fanout.failing
        try:
            probe = self._probe
            if probe is None or time.monotonic() - probe[1] >= HEALTH_TTL:
                try:
                    self.store.head(PROBE_STREAM)
                    answered = True
                except StoreError:
                    answered = False
                probe = self._probe = (answered, time.monotonic())
        finally:
            self._probe_lock.release()
        return probe[0] and not self._fanout.failing

    def subscriber_count(self) -> int:
        """Open subscriptions in this process."""
        return self._fanout.subscriber_count()

    def subscriptions(self) -> list[Subscription]:
        """A snapshot of the open subscriptions in this process; each tells its queue's
        ``pending()`` events, bound ``maxsize`` and ``overflows`` (for health checks)."""
        return self._fanout.subscriptions()

    # -- producers ------------------------------------------------------------------------
    def every(
        self, seconds: float, stream: str | None = None
    ) -> Callable[[ProducerFn], ProducerFn]:
        """Decorator: call the function every ``seconds`` and publish what it returns
        (``None`` publishes nothing) to ``stream`` (default: the function's name).

        The friendly spelling of ``hub.add_source(Every(seconds, fn, stream))``
        (:class:`~livedash.producers.Every`): with several processes on one store, only one
        of them runs it at a time (the lease ``source:every.STREAM``)."""
        if seconds <= 0:
            raise ValueError(f"every() needs seconds > 0, got {seconds!r}")

        def register(fn: ProducerFn) -> ProducerFn:
            producer = Every(seconds, fn, validate_stream_name(stream or fn.__name__))
            self.producers.append(producer)
            self.add_source(producer)
            return fn

        return register

    def acquire_lease(self, name: str, ttl: float) -> bool:
        """Take or renew the store lease ``name`` for this process for ``ttl`` seconds;
        False while another process holds it (what keeps a producer to one process)."""
        return self.store.acquire_lease(name, self.instance_id, ttl)

    def add_source(self, source: Startable) -> None:
        """Run ``source`` (see :mod:`livedash.sources`) while the hub runs: started with
        :meth:`start` (at once if already started), stopped by :meth:`close`."""
        self.sources.append(source)
        if self._started:
            source.start(self)

    def start(self) -> None:
        """Start the producers and sources (idempotent). Mounting on an app
        (:meth:`livedash.Hub.init_app`) calls this."""
        if self._started:
            return
        self._started = True
        for source in self.sources:
            source.start(self)

    # -- lifecycle ------------------------------------------------------------------------
    def close(self) -> None:
        """Stop producers and fan-out, then close the store."""
        for source in self.sources:
            source.stop()
        self._fanout.close()
        self.store.close()


def _max_streams(given: int | None) -> int | None:
    """The stream limit for ``Hub(max_streams=given)``: ``given``, else the environment's,
    else :data:`MAX_STREAMS`; 0 is no limit (None)."""
    if given is None:
        text = os.environ.get(MAX_STREAMS_ENV, "").strip()
        try:
            given = int(text) if text else MAX_STREAMS
        except ValueError:
            raise ConfigError(
                f"{MAX_STREAMS_ENV} must be a whole number of streams (0: no limit), got {text!r}"
            ) from None
    if given < 0:
        raise ConfigError(f"max_streams must be >= 0 (0: no limit), got {given!r}")
    return given or None
