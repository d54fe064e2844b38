"""The Store contract every backend implements (memory, sqlite, redis)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from livedash.events import Cursor, Event

#: Seconds an event's ``ts`` may lag behind the order of its ``seq``. Publishers stamp ``ts``
#: before the store assigns ``seq`` (see :meth:`Hub.publish_many <livedash.Hub.publish_many>`),
#: so ``ts`` is ordered by ``seq`` only up to the time an append waits. Range reads find where
#: a time window starts and ends by bisecting on ``seq`` with this margin, instead of scanning
#: the stream's whole history; an event stamped more than this before an event that was
#: stored ahead of it may be left out of a window whose edge falls between the two.
TS_SLACK = 10.0
#: Longest string a label column (:meth:`Store.read_columns`, an x axis) carries; a longer
#: one reads as missing, so that a window of labels stays bounded by the points it returns.
MAX_LABEL_CHARS = 200
#: Rows one :meth:`Store.read_columns` or :meth:`Store.read_range` call returns by default:
#: callers page through a larger window with ``after_seq``.
CHUNK = 10_000

#: A number, or (labels only) a short string; None where a field is missing or neither.
Label = float | int | str | None
#: The first event at or after a seq, as ``(seq, ts)``, or None past the newest.
Probe = Callable[[int], tuple[int, float] | None]


@dataclass(frozen=True, slots=True)
class Retention:
    """How much of a stream the store keeps: the newest ``max_events``, none older than
    ``max_age`` seconds. ``None`` means no limit on that axis."""

    max_events: int | None = 10_000
    max_age: float | None = None

    def __post_init__(self) -> None:
        if self.max_events is not None and self.max_events < 1:
            raise ValueError(f"max_events must be >= 1 or None, got {self.max_events!r}")
        if self.max_age is not None and self.max_age <= 0:
            raise ValueError(f"max_age must be > 0 seconds or None, got {self.max_age!r}")


class Retentions:
    """Which retention each stream of a store has: the one set for it, else the store's
    default. Every store keeps one, so that the rules are written once: this, the age
    cutoff (:meth:`cutoff`) and the count rule (:func:`trim_count`)."""

    __slots__ = ("_set", "default")

    def __init__(self, default: Retention | None = None) -> None:
        self.default = default or Retention()
        self._set: dict[str, Retention] = {}

    def set(self, stream: str, retention: Retention) -> None:
        """Use ``retention`` for ``stream`` from now on."""
        self._set[stream] = retention

    def of(self, stream: str) -> Retention:
        """The retention ``stream`` has."""
        return self._set.get(stream, self.default)

    def cutoff(self, stream: str, now: float | None = None) -> float:
        """The oldest ``ts`` that ``stream`` keeps at ``now`` (the time now when None);
        -inf when it has no ``max_age``."""
        max_age = self.of(stream).max_age
        if max_age is None:
            return float("-inf")
        return (time.time() if now is None else now) - max_age


def trim_count(events_len: int, retention: Retention) -> int:
    """How many of the oldest of ``events_len`` events to drop so that ``max_events`` holds."""
    if retention.max_events is None:
        return 0
    return max(0, events_len - retention.max_events)


#: One item for :meth:`Store.append_many`: (stream, data as compact JSON text, ts).
Record = tuple[str, str, float]


@dataclass(frozen=True, slots=True)
class Columns:
    """A run of a stream's events as columns (:meth:`Store.read_columns`), oldest first."""

    seqs: list[int]
    ts: list[float]
    #: per numeric field: its value in each event, None where missing or not a number
    values: list[list[float | None]]
    #: per label field: a number or a string of at most :data:`MAX_LABEL_CHARS`, else None
    labels: list[list[Label]]
    #: bytes of stored event JSON the read went through (0 for a store that keeps events
    #: decoded): what a read's cost grows with besides the number of events
    scanned: int = 0


@runtime_checkable
class Store(Protocol):
    """Durable, ordered, per-stream event log.

    ``seq`` numbers start at 1 and strictly increase per stream, across restarts and across
    every process sharing the store; retention never makes them go back.
    Callers validate data before it reaches a store (see :mod:`livedash.events`).
    """

    def set_retention(self, stream: str, retention: Retention) -> None:
        """Use ``retention`` for ``stream`` from now on (otherwise the store default)."""
        ...

    def append_many(self, records: list[Record]) -> list[Event]:
        """Append every record atomically (all or none) and return the stored events."""
        ...

    def read(self, stream: str, after_seq: int, limit: int = 1000) -> list[Event]:
        """Up to ``limit`` events of ``stream`` with ``seq > after_seq``, oldest first."""
        ...

    def last(self, stream: str, n: int) -> list[Event]:
        """The newest ``n`` events of ``stream``, oldest first."""
        ...

    def head(self, stream: str) -> int:
        """The newest seq ever assigned in ``stream`` (0 if none)."""
        ...

    def read_range(
        self,
        stream: str,
        since_ts: float,
        until_ts: float | None = None,
        limit: int = 100_000,
        after_seq: int = 0,
    ) -> list[Event]:
        """Up to ``limit`` events of ``stream`` with ``since_ts <= ts <= until_ts`` (no upper
        bound when ``until_ts`` is None) and ``seq > after_seq``, oldest first (by seq).

        Time windows, downsampled views and replays read through this; ``after_seq`` pages
        through a range larger than ``limit``. The work is bounded by ``limit`` and the
        window, not by the stream's history before it (see :data:`TS_SLACK`)."""
        ...

    def window(self, stream: str, since_ts: float, until_ts: float | None) -> tuple[int, int]:
        """The seqs ``(after, last]`` holding every event of ``stream`` with
        ``since_ts <= ts <= until_ts`` (none when ``last <= after``), found in a few reads
        (:func:`seq_window`): how many events a window holds, before reading any of them."""
        ...

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
        """The events :meth:`read_range` would return, as columns: ``seq``, ``ts``, the
        numeric value of each dotted data field in ``fields`` and the value of each field in
        ``labels`` (see :class:`Columns`). Nothing else of an event is kept, so a long window
        is read a chunk at a time (``after_seq`` = the last seq of the previous chunk; a chunk
        shorter than ``limit`` is the last)."""
        ...

    def admit_streams(self, names: Sequence[str], limit: int | None) -> bool:
        """Record ``names`` as streams of the store, unless the new ones among them would
        make more than ``limit`` streams (None: no limit). True when every name is recorded
        now (known before, or added); False when over the limit, and then none is added.
        Atomic across every process sharing the store."""
        ...

    def stream_count(self) -> int:
        """How many streams :meth:`admit_streams` recorded. (The SQLite and memory stores
        also count every stream an event was appended to without it; Redis keeps the names
        in a set of their own, which only :meth:`admit_streams` adds to.)"""
        ...

    def wait(self, cursor: Cursor, timeout: float, limit: int = 1000) -> list[Event]:
        """Events after ``cursor`` in any of its streams; block up to ``timeout`` seconds
        while there are none. Returns early (possibly empty) after :meth:`interrupt`."""
        ...

    def interrupt(self) -> None:
        """Wake a thread blocked in :meth:`wait` (the set of followed streams changed)."""
        ...

    def acquire_lease(self, name: str, owner: str, ttl: float) -> bool:
        """Take or renew the lease ``name`` for ``owner`` for ``ttl`` seconds.

        True when ``owner`` holds it now. Used so that a periodic producer runs in exactly one
        process of a deployment, and moves to another when its holder dies."""
        ...

    def close(self) -> None:
        """Release connections and files. The store is unusable afterwards."""
        ...


def seq_window(
    first_at: Probe,
    newest: tuple[int, float] | None,
    since_ts: float,
    until_ts: float | None,
    after_seq: int,
) -> tuple[int, int]:
    """The seqs ``(after, last]`` that hold every event of ``first_at``'s stream with
    ``since_ts <= ts <= until_ts`` and ``seq > after_seq`` (``last <= after``: none).

    ``newest`` is the stream's newest event. Both ends are found by bisection on ``seq``,
    ``2 log2(n)`` probes at most, taking ``ts`` as ordered by ``seq`` within :data:`TS_SLACK`:
    a window at the end of a long stream costs its own events, not the history before it."""
    if newest is None or newest[0] <= after_seq:
        return after_seq, after_seq
    last = newest[0]
    low_ts = since_ts - TS_SLACK
    first = first_at(after_seq + 1)
    if first is None:
        return after_seq, after_seq
    after = after_seq
    if first[1] < low_ts:
        # Invariant: every event up to lo is older than low_ts; the first that is not
        # is at or before hi.
        lo, hi = first[0], last
        if newest[1] < low_ts:
            return after_seq, after_seq  # the whole stream is older than the window
        while hi - lo > 1:
            got = first_at((lo + hi) // 2)
            if got is None or got[1] >= low_ts:
                hi = (lo + hi) // 2
            else:
                lo = got[0]
        after = max(after_seq, lo)
    if until_ts is not None and newest[1] > until_ts + TS_SLACK:
        # Invariant: every event up to lo is within; every one from hi on is newer.
        high_ts = until_ts + TS_SLACK
        lo, hi = after, last
        while hi - lo > 1:
            mid = (lo + hi) // 2
            got = first_at(mid)
            if got is None or got[1] > high_ts:
                hi = mid
            else:
                lo = got[0]
        last = hi - 1
    return after, last


def number(value: Any) -> float | None:
    """``value`` if it is a finite number (not a bool), else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value if math.isfinite(value) else None


def label(value: Any) -> Label:
    """``value`` if it is a finite number or a string of at most :data:`MAX_LABEL_CHARS`."""
    if isinstance(value, str):
        return value if len(value) <= MAX_LABEL_CHARS else None
    return number(value)


def lookup(data: Any, path: str) -> Any:
    """The value at the dotted ``path`` of ``data`` (``cpu.total``), or None."""
    value = data
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def columns_of(
    events: Iterable[Event], fields: Sequence[str], labels: Sequence[str], scanned: int = 0
) -> Columns:
    """:class:`Columns` of decoded events (stores that hold no columns of their own)."""
    events = list(events)
    return Columns(
        [e.seq for e in events],
        [e.ts for e in events],
        [[number(lookup(e.data, f)) for e in events] for f in fields],
        [[label(lookup(e.data, f)) for e in events] for f in labels],
        scanned,
    )
