"""Counters a Hub keeps about itself (published, delivered, overflows, latency). No I/O and
no dependency: :mod:`livedash.transport.metrics` exports them in the Prometheus format.

Every counter lives on one :class:`HubStats` per Hub, so two apps in one process never mix
their figures (no global registry)."""

from __future__ import annotations

import bisect
import threading
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from livedash.events import Event

#: Upper bounds (seconds) of the publish latency histogram's buckets; +Inf is implied.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
#: Most distinct stream labels kept; further streams are counted under ``OTHER`` so that a
#: client inventing stream names cannot grow the metrics without bound.
MAX_STREAM_LABELS = 1000
OTHER = "_other"


@dataclass
class StatsSnapshot:
    """A consistent copy of every counter, taken under the lock."""

    published: dict[str, int] = field(default_factory=dict)
    delivered: dict[str, int] = field(default_factory=dict)
    rejected: dict[str, int] = field(default_factory=dict)
    resyncs: dict[str, int] = field(default_factory=dict)
    overflows: int = 0
    connections: int = 0
    #: cumulative counts per bucket of ``LATENCY_BUCKETS``, then the +Inf bucket
    latency_buckets: list[int] = field(default_factory=list)
    latency_sum: float = 0.0


class HubStats:
    """Thread-safe counters; every method is cheap (a lock and a few additions)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._published: Counter[str] = Counter()
        self._delivered: Counter[str] = Counter()
        self._rejected: Counter[str] = Counter()
        self._resyncs: Counter[str] = Counter()
        self._overflows = 0
        self._connections = 0
        self._latency = [0] * (len(LATENCY_BUCKETS) + 1)
        self._latency_sum = 0.0

    def _label(self, counter: Counter[str], stream: str) -> str:
        if stream in counter or len(counter) < MAX_STREAM_LABELS:
            return stream
        return OTHER

    def published(self, events: Iterable[Event], seconds: float) -> None:
        """One successful publish call that stored ``events`` and took ``seconds``."""
        with self._lock:
            for event in events:
                self._published[self._label(self._published, event.stream)] += 1
            self._latency[bisect.bisect_left(LATENCY_BUCKETS, seconds)] += 1
            self._latency_sum += seconds

    def rejected(self, reason: str) -> None:
        """A publish refused for ``reason`` (``bad_stream``, ``bad_data``, ``too_large``)."""
        with self._lock:
            self._rejected[reason] += 1

    def delivered(self, events: Iterable[Event]) -> None:
        """Events sent to one client (an SSE message or a poll response)."""
        with self._lock:
            for event in events:
                self._delivered[self._label(self._delivered, event.stream)] += 1

    def resynced(self, reason: str) -> None:
        """A client's reader re-read the store: ``overflow`` (its queue was dropped) or
        ``gap`` (retention removed events it had not seen; the client reloads)."""
        with self._lock:
            self._resyncs[reason] += 1

    def overflowed(self) -> None:
        """A subscriber's queue filled up and was dropped."""
        with self._lock:
            self._overflows += 1

    def connection_opened(self) -> None:
        """An event stream response started."""
        with self._lock:
            self._connections += 1

    def connection_closed(self) -> None:
        """An event stream response ended."""
        with self._lock:
            self._connections -= 1

    def snapshot(self) -> StatsSnapshot:
        """Every counter, copied at one instant."""
        with self._lock:
            cumulative: list[int] = []
            total = 0
            for count in self._latency:
                total += count
                cumulative.append(total)
            return StatsSnapshot(
                published=dict(self._published),
                delivered=dict(self._delivered),
                rejected=dict(self._rejected),
                resyncs=dict(self._resyncs),
                overflows=self._overflows,
                connections=self._connections,
                latency_buckets=cumulative,
                latency_sum=self._latency_sum,
            )
