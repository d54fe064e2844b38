"""The Store contract every backend implements (memory, sqlite, redis)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from livedash.events import Cursor, Event


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


#: One item for :meth:`Store.append_many`: (stream, data as compact JSON text, ts).
Record = tuple[str, str, float]


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
        through a range larger than ``limit``."""
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


def trim_count(events_len: int, retention: Retention) -> int:
    """How many of the oldest events to drop so that ``max_events`` holds."""
    if retention.max_events is None:
        return 0
    return max(0, events_len - retention.max_events)
