"""In-process store: a bounded deque per stream. For tests and throwaway apps."""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from collections.abc import Sequence

from livedash.events import Cursor, Event
from livedash.stores.base import (
    CHUNK,
    Columns,
    Record,
    Retention,
    Retentions,
    columns_of,
    seq_window,
    trim_count,
)


class MemoryStore:
    """Keeps events in memory; everything is lost when the process exits."""

    def __init__(self, default_retention: Retention | None = None) -> None:
        self._retentions = Retentions(default_retention)
        self._events: dict[str, deque[Event]] = {}
        self._heads: dict[str, int] = {}
        self._leases: dict[str, tuple[str, float]] = {}
        self._changed = threading.Condition()
        self._interrupted = False

    def set_retention(self, stream: str, retention: Retention) -> None:
        with self._changed:
            self._retentions.set(stream, retention)
            self._trim(stream, time.time())

    def append_many(self, records: list[Record]) -> list[Event]:
        out: list[Event] = []
        with self._changed:
            for stream, data_json, ts in records:
                seq = self._heads.get(stream, 0) + 1
                self._heads[stream] = seq
                event = Event.stored(stream, seq, ts, data_json)
                self._events.setdefault(stream, deque()).append(event)
                out.append(event)
            now = time.time()
            for stream in {r[0] for r in records}:
                self._trim(stream, now)
            self._changed.notify_all()
        return out

    def _trim(self, stream: str, now: float) -> None:
        events = self._events.get(stream)
        if not events:
            return
        for _ in range(trim_count(len(events), self._retentions.of(stream))):
            events.popleft()
        cutoff = self._retentions.cutoff(stream, now)
        while events and events[0].ts < cutoff:
            events.popleft()

    def read(self, stream: str, after_seq: int, limit: int = 1000) -> list[Event]:
        with self._changed:
            events = self._events.get(stream)
            if not events:
                return []
            self._trim(stream, time.time())
            if not events:
                return []
            # seqs in the deque are contiguous, so the start index is arithmetic.
            start = max(0, after_seq - events[0].seq + 1)
            return [events[i] for i in range(start, min(len(events), start + limit))]

    def last(self, stream: str, n: int) -> list[Event]:
        with self._changed:
            events = self._events.get(stream)
            if not events or n <= 0:
                return []
            self._trim(stream, time.time())
            return list(events)[-n:]

    @staticmethod
    def _window(
        events: deque[Event], since_ts: float, until_ts: float | None, after_seq: int
    ) -> tuple[int, int]:
        if not events:
            return after_seq, after_seq
        first_seq = events[0].seq

        def first_at(seq: int) -> tuple[int, float] | None:
            # seqs in the deque are contiguous: the index is arithmetic.
            i = max(0, seq - first_seq)
            return (events[i].seq, events[i].ts) if i < len(events) else None

        newest = (events[-1].seq, events[-1].ts)
        return seq_window(first_at, newest, since_ts, until_ts, after_seq)

    def window(self, stream: str, since_ts: float, until_ts: float | None) -> tuple[int, int]:
        with self._changed:
            events = self._events.get(stream)
            if not events:
                return 0, 0
            self._trim(stream, time.time())
            return self._window(events, since_ts, until_ts, 0)

    def read_range(
        self,
        stream: str,
        since_ts: float,
        until_ts: float | None = None,
        limit: int = CHUNK,
        after_seq: int = 0,
    ) -> list[Event]:
        until = float("inf") if until_ts is None else until_ts
        out: list[Event] = []
        if limit <= 0:
            return out
        with self._changed:
            events = self._events.get(stream)
            if not events:
                return out
            self._trim(stream, time.time())
            if not events:
                return out
            first_seq = events[0].seq
            after, last = self._window(events, since_ts, until_ts, after_seq)
            # ts may wobble against seq (publishers stamp before taking the lock), so every
            # event of the window is checked, not just its ends.
            start = max(0, after + 1 - first_seq)
            for event in itertools.islice(events, start, max(start, last + 1 - first_seq)):
                if since_ts <= event.ts <= until:
                    out.append(event)
                    if len(out) >= limit:
                        break
        return out

    def read_columns(
        self,
        stream: str,
        since_ts: float,
        until_ts: float | None,
        fields: Sequence[str],
        limit: int = CHUNK,
        after_seq: int = 0,
        labels: Sequence[str] = (),
    ) -> Columns:
        return columns_of(
            self.read_range(stream, since_ts, until_ts, limit, after_seq), fields, labels
        )

    def admit_streams(self, names: Sequence[str], limit: int | None) -> bool:
        with self._changed:
            new = [n for n in dict.fromkeys(names) if n not in self._heads]
            if limit is not None and new and len(self._heads) + len(new) > limit:
                return False
            for name in new:
                self._heads[name] = 0  # known, no event yet
        return True

    def stream_count(self) -> int:
        with self._changed:
            return len(self._heads)

    def head(self, stream: str) -> int:
        with self._changed:
            return self._heads.get(stream, 0)

    def wait(self, cursor: Cursor, timeout: float, limit: int = 1000) -> list[Event]:
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = [e for s, seq in cursor.items() for e in self.read(s, seq, limit)]
                if found or self._interrupted:
                    self._interrupted = False
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return []
                self._changed.wait(remaining)

    def interrupt(self) -> None:
        with self._changed:
            self._interrupted = True
            self._changed.notify_all()

    def acquire_lease(self, name: str, owner: str, ttl: float) -> bool:
        with self._changed:
            now = time.monotonic()
            holder = self._leases.get(name)
            if holder is None or holder[0] == owner or holder[1] <= now:
                self._leases[name] = (owner, now + ttl)
                return True
            return False

    def close(self) -> None:
        self.interrupt()
