"""Fan-out: one reader per process follows the store and feeds every subscriber's queue."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable

from livedash.errors import StoreError
from livedash.events import Event
from livedash.failures import FailureLog
from livedash.stores.base import Store

log = logging.getLogger(__name__)

#: Longest a blocked store read waits before checking for shutdown.
READ_TIMEOUT = 1.0
#: Retry delay after the store fails (for example Redis down); doubles up to the cap.
RETRY_MIN, RETRY_MAX = 0.1, 2.0
#: Seconds between checks that no followed stream went backwards (a Redis restarted without
#: persistence starts numbering at 1 again, below every reader's cursor).
HEAD_CHECK = 1.0


class Overflow(Exception):
    """The subscriber fell behind and its queue was dropped: resync from the store."""


class Resync(Overflow):
    """A followed stream went backwards in the store (it lost data): resync from the store,
    which tells the client to start that stream over."""


class WakeBatch:
    """Coalesces the wake-ups bound for one event loop into one cross-thread call.

    The fan-out thread offers a burst of events to every subscriber of a stream; waking each
    subscriber's coroutine with its own ``loop.call_soon_threadsafe`` costs a write to the
    loop's self-pipe and a loop iteration per subscriber. Subscriptions that share a batch
    queue their wakers here instead, and the first of a burst schedules one call on the loop
    that runs them all: one wake-up per burst, however many subscribers."""

    def __init__(self, call_soon_threadsafe: Callable[[Callable[[], None]], object]) -> None:
        self._schedule = call_soon_threadsafe
        self._lock = threading.Lock()
        self._pending: list[Callable[[], None]] = []

    def add(self, waker: Callable[[], None]) -> None:
        """Run ``waker`` on the loop soon (from any thread)."""
        with self._lock:
            first = not self._pending
            self._pending.append(waker)
        if first:
            self._schedule(self._flush)

    def _flush(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, []
        for waker in pending:
            waker()


class Subscription:
    """A bounded queue of events for one connection. Never blocks the publisher:
    when full it is emptied and marked overflowed, and the reader catches up from the store."""

    def __init__(self, streams: Iterable[str], maxsize: int) -> None:
        self.streams = frozenset(streams)
        self.maxsize = maxsize
        # A list, not a deque: it is only appended to and taken whole, and an empty deque
        # allocates a 64-slot block (~700 B per open stream).
        self._queue: list[Event] = []
        self._lock = threading.Lock()
        # Made by the first blocking get or wait (a thread per stream under WSGI); a stream
        # on an event loop never blocks, and a Condition keeps a deque of ~600 B per stream.
        self._cond: threading.Condition | None = None
        self._overflowed = False
        self._resync = False
        self._status: str | None = None
        self.closed = False
        #: how many times this subscription overflowed (for metrics and tests)
        self.overflows = 0
        self._waker: Callable[[], None] | None = None
        self._batch: WakeBatch | None = None

    def offer(self, event: Event) -> None:
        """Queue ``event`` (called by the fan-out thread)."""
        with self._lock:
            if self._overflowed:
                return
            was_ready = self._ready()
            if len(self._queue) >= self.maxsize:
                self._queue.clear()
                self._overflowed = True
                self.overflows += 1
            else:
                self._queue.append(event)
            self._notify(was_ready)

    def resync(self) -> None:
        """Make the reader drop its queue and catch up from the store (raises :class:`Resync`
        from :meth:`get`)."""
        with self._lock:
            was_ready = self._ready()
            self._queue.clear()
            self._resync = True
            self._notify(was_ready)

    def set_status(self, status: str) -> None:
        """Tell the reader the store's state changed (``ok`` / ``degraded``)."""
        with self._lock:
            was_ready = self._ready()
            self._status = status
            self._notify(was_ready)

    def get(self, timeout: float) -> tuple[list[Event], str | None]:
        """Every queued event and any new store status, waiting up to ``timeout`` seconds.

        Raises :class:`Overflow` when events were dropped since the last call."""
        with self._lock:
            if not self._ready() and timeout > 0:
                self._blocking().wait(timeout)
            if self._overflowed:
                self._overflowed = self._resync = False
                raise Overflow
            if self._resync:
                self._resync = False
                raise Resync
            events, self._queue = self._queue, []
            status, self._status = self._status, None
            return events, status

    def wait(self, timeout: float) -> bool:
        """Block up to ``timeout`` seconds until :meth:`get` has something to return (events,
        an overflow, a status) or the subscription is closed; True if it has."""
        with self._lock:
            if not self._ready():
                self._blocking().wait(timeout)
            return self._ready()

    @property
    def ready(self) -> bool:
        """True when :meth:`get` would return at once with something to report."""
        with self._lock:
            return self._ready()

    def set_waker(self, waker: Callable[[], None] | None, batch: WakeBatch | None = None) -> None:
        """Call ``waker()`` whenever the subscription becomes ready. Without ``batch``, from
        the thread that made it so, with the subscription's lock held (it must be quick and
        must not call back into the subscription): an event loop passes
        ``lambda: loop.call_soon_threadsafe(...)``. With ``batch`` (the loop's
        :class:`WakeBatch`), on the loop itself, one cross-thread call for every subscriber
        woken by the same burst. Called (or queued) at once if already ready."""
        with self._lock:
            self._waker, self._batch = waker, batch
            if waker is not None and self._ready():
                self._wake(waker)

    def _wake(self, waker: Callable[[], None]) -> None:
        if self._batch is not None:
            self._batch.add(waker)
        else:
            waker()

    def _blocking(self) -> threading.Condition:
        # Called with the lock held, so two threads cannot make one each.
        if self._cond is None:
            self._cond = threading.Condition(self._lock)
        return self._cond

    def _ready(self) -> bool:
        return bool(self._queue or self._overflowed or self._resync or self._status or self.closed)

    def _notify(self, was_ready: bool) -> None:
        if self._cond is not None:
            self._cond.notify()
        # Only on the transition: a burst of events wakes an event loop once, not per event.
        if self._waker is not None and not was_ready:
            try:
                self._wake(self._waker)
            except Exception:  # a closed event loop must not break the publisher
                log.debug("livedash: subscription waker failed", exc_info=True)

    def pending(self) -> int:
        """Events queued and not yet taken."""
        with self._lock:
            return len(self._queue)

    def close(self) -> None:
        """Wake the reader; it should stop."""
        with self._lock:
            was_ready = self._ready()
            self.closed = True
            self._notify(was_ready)


class Fanout:
    """Follows the streams that have subscribers and dispatches each new event once per
    subscriber. The set of followed streams grows and shrinks with the subscribers."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._subs: dict[str, set[Subscription]] = {}
        self._cursor: dict[str, int] = {}
        self._wake = threading.Condition(self._lock)
        self._stopped = False
        self._thread: threading.Thread | None = None
        self.healthy = True
        # A store that stays down fails every retry: one line when it starts, one at the end.
        self._failures = FailureLog(log, "store reader of open event streams")

    @property
    def failing(self) -> bool:
        """True while the reader follows streams and its last read failed. (``healthy``
        keeps the last verdict after every stream is gone, when no read revises it.)"""
        # Without the lock: subscribe() holds it across a store read, and this is asked on
        # the event loop. A glance at the dict's size is atomic.
        return not self.healthy and bool(self._cursor)

    def subscribe(self, streams: Iterable[str], maxsize: int) -> Subscription:
        """Register a subscription; events published after this call reach it."""
        sub = Subscription(streams, maxsize)
        added = False
        with self._lock:
            for stream in sub.streams:
                self._subs.setdefault(stream, set()).add(sub)
            try:
                # Read heads after registering and under the lock, so that no second
                # subscriber can read the store before the cursor exists: older events are
                # each subscriber's own catch-up read, newer ones arrive here.
                for stream in sub.streams:
                    if stream not in self._cursor:
                        self._cursor[stream] = self._store.head(stream)
                        added = True
            except StoreError:
                self._forget(sub)
                raise
            self._ensure_thread()
            self._wake.notify()
        if added:
            self._store.interrupt()
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        """Forget ``sub``; streams nobody watches are no longer followed."""
        sub.close()
        with self._lock:
            self._forget(sub)

    def _forget(self, sub: Subscription) -> None:
        for stream in sub.streams:
            subs = self._subs.get(stream)
            if subs is not None:
                subs.discard(sub)
                if not subs:
                    del self._subs[stream]
                    self._cursor.pop(stream, None)

    def subscriber_count(self) -> int:
        """Open subscriptions (a subscription watching several streams counts once)."""
        with self._lock:
            return len({s for subs in self._subs.values() for s in subs})

    def subscriptions(self) -> list[Subscription]:
        """A snapshot of the open subscriptions."""
        with self._lock:
            return list({s for subs in self._subs.values() for s in subs})

    def _ensure_thread(self) -> None:
        if self._thread is None and not self._stopped:
            self._thread = threading.Thread(target=self._run, name="livedash-fanout", daemon=True)
            self._thread.start()

    def _set_health(self, healthy: bool) -> None:
        if healthy == self.healthy:
            return
        self.healthy = healthy
        with self._lock:
            subs = {s for group in self._subs.values() for s in group}
        for sub in subs:
            sub.set_status("ok" if healthy else "degraded")

    def _run(self) -> None:
        delay = RETRY_MIN
        next_check = 0.0
        while True:
            with self._lock:
                while not self._cursor and not self._stopped:
                    self._wake.wait()
                if self._stopped:
                    return
                cursor = dict(self._cursor)
            try:
                events = self._store.wait(cursor, READ_TIMEOUT)
                rewound: dict[str, int] = {}
                if time.monotonic() >= next_check:
                    next_check = time.monotonic() + HEAD_CHECK
                    rewound = {s: h for s in cursor if (h := self._store.head(s)) < cursor[s]}
            except StoreError as exc:
                self._failures.failed(exc)
                next_check = 0.0  # the store may come back without the data: check at once
                self._set_health(False)
                with self._lock:
                    self._wake.wait(delay)
                delay = min(RETRY_MAX, delay * 2)
                continue
            delay = RETRY_MIN
            self._failures.succeeded()
            self._set_health(True)
            if rewound:
                self._rewind(rewound)
            if events:
                self._dispatch(events)

    def _rewind(self, heads: dict[str, int]) -> None:
        """Follow ``heads`` from now on and make the streams' subscribers resync."""
        with self._lock:
            subs: set[Subscription] = set()
            for stream, head in heads.items():
                if stream in self._cursor and self._cursor[stream] > head:
                    log.warning(
                        "livedash: stream %r went back from seq %d to %d (the store lost data); "
                        "clients start it over",
                        stream,
                        self._cursor[stream],
                        head,
                    )
                    self._cursor[stream] = head
                    subs |= self._subs.get(stream, set())
        for sub in subs:
            sub.resync()

    def _dispatch(self, events: list[Event]) -> None:
        with self._lock:
            targets: list[tuple[Event, list[Subscription]]] = []
            for event in events:
                seen = self._cursor.get(event.stream)
                if seen is None or event.seq <= seen:
                    continue
                self._cursor[event.stream] = event.seq
                targets.append((event, list(self._subs.get(event.stream, ()))))
        for event, subs in targets:
            for sub in subs:
                sub.offer(event)

    def close(self) -> None:
        """Stop the reader thread and wake every subscriber."""
        with self._lock:
            self._stopped = True
            self._wake.notify_all()
            subs = {s for group in self._subs.values() for s in group}
        self._store.interrupt()
        for sub in subs:
            sub.close()
        if self._thread is not None:
            self._thread.join(timeout=5)
