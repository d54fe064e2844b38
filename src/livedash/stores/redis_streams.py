"""What every Redis store does the same way, one Redis or a cluster: events in Redis Streams
laid out as :mod:`livedash.stores.redis_layout` says, read, trimmed by retention, counted
and leased alike. :class:`StreamsStore` holds it; the stores of
:mod:`livedash.stores.redis` and :mod:`livedash.stores.redis_cluster` are its peers and
supply the transport: how a command reaches Redis, how appends are committed, how a reader
waits for new events.

Appends run as one Lua script, so a batch is stored all or none (per shard of a cluster) and
seqs never interleave between writers. Connections open lazily: creating a store (and a Hub,
and a Dash app) while Redis is down works; operations then raise
:class:`~livedash.errors.StoreUnavailable` quickly.
"""

from __future__ import annotations

import hashlib
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, ClassVar, TypeVar, cast

import redis
from redis.commands.core import Script

from livedash.errors import StoreError, StoreUnavailable
from livedash.events import Cursor, Event
from livedash.stores.base import (
    CHUNK,
    Columns,
    Record,
    Retention,
    Retentions,
    columns_of,
    seq_window,
)
from livedash.stores.redis_commit import resp
from livedash.stores.redis_layout import ADMIT, LEASE, Entry, Keys, append_script, entry_seq

_T = TypeVar("_T")

#: Seconds to wait for a TCP connection to Redis, and for any non-blocking reply. Small, so
#: that publishing fails fast (instead of hanging a request) when Redis is unreachable.
CONNECT_TIMEOUT = 1.0
COMMAND_TIMEOUT = 2.0
#: Most entries one retention pass drops by age; the rest go on the next append or read.
AGE_TRIM_BATCH = 1000
#: Most entries one XRANGE of a range read fetches.
READ_BATCH = 1000


class StreamsStore(ABC):
    """Events in Redis Streams: the Store protocol over a few transport hooks.

    A peer supplies :meth:`_run` (one command on a client), :meth:`_commit` (a packed append
    on its shard), :meth:`wait`, :meth:`_wake` and :meth:`_disconnect`; it may widen
    :meth:`_translate` and :meth:`_shard`, and set :attr:`each_stream`.

    Retention set with :meth:`set_retention` is applied by the process that appends, like
    the SQLite store: every process of a deployment should declare the same retention.
    """

    #: Lua statements the append script runs once per stream of a batch (see
    #: :func:`~livedash.stores.redis_layout.append_script`).
    each_stream: ClassVar[str] = ""

    def __init__(
        self, url: str, default_retention: Retention | None, *, keys: Keys, where: str
    ) -> None:
        self.url = url
        self.prefix = keys.prefix
        self.keys = keys
        #: where the store is, for messages (never a password)
        self._where = where
        self._retentions = Retentions(default_retention)
        self._append_script = append_script(self.each_stream)
        self._append_sha = hashlib.sha1(self._append_script.encode()).hexdigest()
        self._lease_script: Script | None = None
        self._lock = threading.Lock()
        self._interrupted = False
        self._closed = False

    # -- the transport: what a peer supplies -----------------------------------------------
    @abstractmethod
    def _run(self, action: str, op: Callable[[Any], _T]) -> _T:
        """``op(client)`` for a reading or small command, errors translated
        (:meth:`_translate`); ``action`` says what it does, for messages."""

    def _shard(self, stream: str) -> int:
        """Which shard ``stream`` is on: appends are committed per shard."""
        return 0

    @abstractmethod
    def _commit(self, shard: int, command: bytes, action: str) -> list[int]:
        """Run the packed append ``command`` on ``shard``; the seqs it assigned."""

    @abstractmethod
    def wait(self, cursor: Cursor, timeout: float, limit: int = 1000) -> list[Event]:
        """Events after ``cursor`` in any of its streams; block up to ``timeout`` seconds
        while there are none. Returns early (possibly empty) after :meth:`interrupt`."""

    @abstractmethod
    def _wake(self) -> None:
        """Wake this store's blocked :meth:`wait` calls (the sticky flag is set already)."""

    @abstractmethod
    def _disconnect(self) -> None:
        """Close every connection (the store is closed)."""

    # -- errors -----------------------------------------------------------------------------
    @contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        """Translate redis-py errors into livedash's, with a message that says what to do."""
        if self._closed:
            raise StoreError(f"cannot {action}: this Redis store was closed")
        try:
            yield
        except redis.RedisError as exc:
            raise self._translate(action, exc) from exc

    def _translate(self, action: str, exc: redis.RedisError) -> StoreError:
        """The livedash error for ``exc``, with a message that says what to do."""
        if isinstance(exc, redis.AuthenticationError):
            return StoreError(
                f"cannot {action}: Redis at {self._where} refused the credentials ({exc}); "
                "put the right user/password in the store URL (redis://user:pass@host:port/db)"
            )
        if isinstance(exc, (redis.ConnectionError, redis.TimeoutError)):
            return StoreUnavailable(
                f"cannot {action}: Redis at {self._where} is unreachable ({exc}); "
                "start Redis or fix the --store URL, then retry"
            )
        return StoreError(f"cannot {action}: Redis at {self._where} failed: {exc}")

    # -- appends ----------------------------------------------------------------------------
    def set_retention(self, stream: str, retention: Retention) -> None:
        # Kept in process (no I/O here, so an app can declare streams while Redis is down).
        self._retentions.set(stream, retention)

    def append_many(self, records: list[Record]) -> list[Event]:
        if not records:
            return []
        by_shard: dict[int, list[int]] = {}
        for i, (stream, _, _) in enumerate(records):
            by_shard.setdefault(self._shard(stream), []).append(i)
        seqs = [0] * len(records)
        for shard, indices in by_shard.items():
            command = self._append_command([records[i] for i in indices])
            got = self._commit(shard, command, f"append {len(indices)} event(s)")
            for i, seq in zip(indices, got, strict=True):
                seqs[i] = seq
        return [
            Event.stored(stream, int(seq), ts, data_json)
            for (stream, data_json, ts), seq in zip(records, seqs, strict=True)
        ]

    def _append_command(self, records: Sequence[Record]) -> bytes:
        """The packed EVALSHA of the append script for ``records``."""
        keys: list[str] = []
        args: list[str | float | int] = [repr(time.time()), AGE_TRIM_BATCH]
        for stream, data_json, ts in records:
            retention = self._retentions.of(stream)
            keys += [self.keys.head(stream), self.keys.stream(stream)]
            args += [data_json, repr(ts), retention.max_events or 0, retention.max_age or 0]
        return resp(["EVALSHA", self._append_sha, len(keys), *keys, *args])

    # -- reads ------------------------------------------------------------------------------
    def _events(self, stream: str, entries: Sequence[Entry], cutoff: float) -> list[Event]:
        """The events of ``entries`` not older than ``cutoff``."""
        out = []
        for entry_id, fields in entries:
            ts = float(fields["t"])
            if ts >= cutoff:
                out.append(Event.stored(stream, entry_seq(entry_id), ts, fields["d"]))
        return out

    def _slice(self, stream: str, first: str, last: str, count: int) -> list[Entry]:
        """Up to ``count`` entries of ``stream`` with ids ``first..last`` (XRANGE)."""
        key = self.keys.stream(stream)
        return cast(
            list[Entry],
            self._run(f"read stream {stream!r}", lambda r: r.xrange(key, first, last, count)),
        )

    def _newest(self, stream: str, n: int) -> list[Entry]:
        """The newest ``n`` entries of ``stream``, newest first (XREVRANGE)."""
        key = self.keys.stream(stream)
        return cast(
            list[Entry], self._run(f"read stream {stream!r}", lambda r: r.xrevrange(key, count=n))
        )

    def read(self, stream: str, after_seq: int, limit: int = 1000) -> list[Event]:
        if limit <= 0:
            return []
        cutoff = self._retentions.cutoff(stream)
        entries = self._slice(stream, f"{max(0, after_seq) + 1}-0", "+", limit)
        events = self._events(stream, entries, cutoff)
        if len(events) < len(entries):
            # Some entries outlived max_age (no append has trimmed them yet): page past them.
            while len(entries) == limit and len(events) < limit:
                entries = self._slice(stream, f"{entry_seq(entries[-1][0]) + 1}-0", "+", limit)
                events += self._events(stream, entries, cutoff)
            events = events[:limit]
        return events

    def last(self, stream: str, n: int) -> list[Event]:
        if n <= 0:
            return []
        events = self._events(stream, self._newest(stream, n), self._retentions.cutoff(stream))
        events.reverse()
        return events

    def _window(
        self, stream: str, since_ts: float, until_ts: float | None, after_seq: int
    ) -> tuple[int, int]:
        """:func:`~livedash.stores.base.seq_window` by entry id (the id is the seq): a few
        one-entry XRANGEs instead of reading the stream from its start."""

        def probe(entries: list[Entry]) -> tuple[int, float] | None:
            return (entry_seq(entries[0][0]), float(entries[0][1]["t"])) if entries else None

        def first_at(seq: int) -> tuple[int, float] | None:
            return probe(self._slice(stream, f"{seq}-0", "+", 1))

        newest = probe(self._newest(stream, 1))
        return seq_window(first_at, newest, since_ts, until_ts, after_seq)

    def window(self, stream: str, since_ts: float, until_ts: float | None) -> tuple[int, int]:
        return self._window(stream, max(since_ts, self._retentions.cutoff(stream)), until_ts, 0)

    def read_range(
        self,
        stream: str,
        since_ts: float,
        until_ts: float | None = None,
        limit: int = CHUNK,
        after_seq: int = 0,
    ) -> list[Event]:
        """Up to ``limit`` events with ``since_ts <= ts <= until_ts`` and ``seq > after_seq``,
        oldest first. ts is not strictly ordered by seq across publishers, so every entry
        between the window's ends (found by bisection) is checked."""
        return self._read_range(stream, since_ts, until_ts, limit, after_seq)[0]

    def _read_range(
        self, stream: str, since_ts: float, until_ts: float | None, limit: int, after_seq: int
    ) -> tuple[list[Event], int]:
        """:meth:`read_range`, and the bytes of event JSON it read."""
        if limit <= 0:
            return [], 0
        since = max(since_ts, self._retentions.cutoff(stream))
        until = float("inf") if until_ts is None else until_ts
        after, last = self._window(stream, since, until_ts, after_seq)
        out: list[Event] = []
        scanned = 0
        while len(out) < limit and after < last:
            count = min(READ_BATCH, max(limit - len(out), 16))
            entries = self._slice(stream, f"{after + 1}-0", f"{last}-0", count)
            if not entries:
                break
            scanned += sum(len(fields["d"]) for _, fields in entries)
            out += [e for e in self._events(stream, entries, since) if e.ts <= until]
            after = entry_seq(entries[-1][0])
            if len(entries) < count:
                break
        return out[:limit], scanned

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
        events, scanned = self._read_range(stream, since_ts, until_ts, limit, after_seq)
        return columns_of(events, fields, labels, scanned)

    def head(self, stream: str) -> int:
        key = self.keys.head(stream)
        value = self._run(f"read the head of stream {stream!r}", lambda r: r.get(key))
        return int(cast(str, value)) if value else 0

    # -- stream names and leases ------------------------------------------------------------
    def admit_streams(self, names: Sequence[str], limit: int | None) -> bool:
        if not names:
            return True
        key = self.keys.streams()
        args = [-1 if limit is None else limit, *dict.fromkeys(names)]
        got = self._run(
            f"register {len(names)} stream name(s)", lambda r: r.eval(ADMIT, 1, key, *args)
        )
        return bool(got)

    def stream_count(self) -> int:
        key = self.keys.streams()
        return int(cast(int, self._run("count the streams", lambda r: r.scard(key))))

    def acquire_lease(self, name: str, owner: str, ttl: float) -> bool:
        ms = max(1, int(ttl * 1000))
        keys = [self.keys.lease(name)]
        got = self._run(
            f"take the lease {name!r}",
            lambda r: self._lease(r)(keys=keys, args=[owner, ms], client=r),
        )
        return bool(got)

    def _lease(self, client: Any) -> Script:
        """The lease script (EVALSHA, loaded again when Redis lost it)."""
        if self._lease_script is None:
            self._lease_script = client.register_script(LEASE)
        return self._lease_script

    # -- waking and closing -----------------------------------------------------------------
    def interrupt(self) -> None:
        """Wake blocked :meth:`wait` calls: a sticky flag (seen by a wait about to block),
        and the peer's wake-up (:meth:`_wake`) for those blocked already."""
        with self._lock:
            self._interrupted = True
        if not self._closed:
            self._wake()

    def close(self) -> None:
        self.interrupt()
        self._closed = True
        self._disconnect()
