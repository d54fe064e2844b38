"""SQLite store: one file, WAL mode, shared safely by every process on one host."""

from __future__ import annotations

import sqlite3
import threading
import time
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from livedash.errors import StoreError
from livedash.events import Cursor, Event
from livedash.stores.base import (
    CHUNK,
    MAX_LABEL_CHARS,
    Columns,
    Record,
    Retention,
    Retentions,
    seq_window,
    trim_count,
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS streams (name TEXT PRIMARY KEY, head INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS events (
    stream TEXT NOT NULL, seq INTEGER NOT NULL, ts REAL NOT NULL, data TEXT NOT NULL,
    PRIMARY KEY (stream, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS leases (name TEXT PRIMARY KEY, owner TEXT NOT NULL,
    expires REAL NOT NULL);
"""

#: How often a waiting reader checks the file for commits made by other processes.
#: Commits from this process wake it at once.
CROSS_PROCESS_POLL = 0.02
#: ... but only while another process's events arrived in the last FOREIGN_QUIET seconds; a
#: process alone on its file checks this rarely. Each check wakes the fan-out thread, and at
#: 50 wake-ups a second that was 80% of a single-process server's CPU at 1 event/s; at 4 a
#: second (0.25 s) it was still 40% (each timed wake-up costs ~75-110 us of CPU on this
#: machine kind). The price: another process's first event after a quiet spell reaches this
#: one's clients up to IDLE_POLL late.
IDLE_POLL = 1.0
FOREIGN_QUIET = 10.0
#: max_age pruning runs at most this often per stream, to keep appends cheap.
AGE_PRUNE_INTERVAL = 1.0
#: Reads near a stream's head are answered from the newest events this process has read,
#: kept decoded in memory for this many seconds (and at most the stream's max_events):
#: every client that catches up (a new tab, a resumed or overflowed stream) reads the same
#: recent rows, and decoding them again from SQLite for each was a fifth of a
#: worker's time at 1,000 events/s to 50 streams (py-spy: bench/soak.py --serve 2 --profile).
RECENT_SECONDS = 30.0
#: Idle read connections kept for reuse. Reads borrow one per query rather than keeping one
#: per thread: a server with a thread (or greenlet) per request would otherwise hold one
#: connection each, ~110 KiB (SQLite's lookaside and page cache).
READ_POOL = 4


def _json_path(field: str) -> str:
    """``cpu.total`` -> ``$."cpu"."total"`` (quoted, so any key but one with ``"`` works)."""
    parts = field.split(".")
    if any('"' in part for part in parts):
        raise StoreError(f"field {field!r}: a key with a double quote cannot be extracted")
    return "$" + "".join(f'."{part}"' for part in parts)


class _Handle:
    """A thread's connection (sqlite3 connections cannot be weakly referenced)."""

    __slots__ = ("__weakref__", "conn")

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn


class SQLiteStore:
    """Events in an SQLite file (``sqlite:///path/to/file.db``)."""

    def __init__(self, path: str, default_retention: Retention | None = None) -> None:
        self.path = path
        self._retentions = Retentions(default_retention)
        self._local = threading.local()
        #: every live thread's connection, so close() can close them all
        self._all_conns: weakref.WeakSet[_Handle] = weakref.WeakSet()
        self._conns_lock = threading.Lock()
        self._changed = threading.Condition()
        self._generation = 0
        self._interrupted = False
        self._foreign_at = float("-inf")  # quiet until another process's events arrive
        #: per stream, the newest seq this process appended (set before its commit)
        self._own_heads: dict[str, int] = {}
        self._last_age_prune: dict[str, float] = {}
        #: per stream: the newest events read from the file, contiguous by seq
        self._recent: dict[str, list[Event]] = {}
        self._recent_lock = threading.Lock()
        self._pool: list[sqlite3.Connection] = []
        self._pool_lock = threading.Lock()
        self._closed = False
        # Several workers may open a new file at once; switching to WAL ignores the busy
        # timeout, so a "database is locked" here is retried for a while.
        deadline = time.monotonic() + 30.0
        while True:
            try:
                conn = self._conn()
                conn.execute("PRAGMA journal_mode=WAL")
                conn.executescript(_SCHEMA)
                break
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise StoreError(f"cannot open SQLite store at {path!r}: {exc}") from exc
                time.sleep(0.05)
            except sqlite3.Error as exc:
                raise StoreError(f"cannot open SQLite store at {path!r}: {exc}") from exc

    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path, timeout=30.0, isolation_level=None, check_same_thread=False
        )
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA busy_timeout=30000")
        return conn

    @contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        """A connection for one read, borrowed from the pool (one thread at a time uses it)."""
        with self._pool_lock:
            if self._closed:
                raise sqlite3.ProgrammingError("Cannot operate on a closed store.")
            conn = self._pool.pop() if self._pool else None
        if conn is None:
            conn = self._open()
        try:
            yield conn
        finally:
            with self._pool_lock:
                if not self._closed and len(self._pool) < READ_POOL:
                    self._pool.append(conn)
                    conn = None
            if conn is not None:
                conn.close()

    def _conn(self) -> sqlite3.Connection:
        """This thread's connection, for writes and for :meth:`wait`'s data_version (which
        compares one connection's view over time)."""
        handle: _Handle | None = getattr(self._local, "handle", None)
        if handle is None:
            # One connection per thread: sqlite3 connections must not be shared across threads.
            conn = self._open()
            # Servers run a thread (or greenlet) per request. The handle lives only in this
            # thread's local storage, so when the thread ends it is collected and its
            # connection closed; kept in a list, every request leaked one (its page cache and
            # file descriptors: the soak benchmark grew by 170 MiB a minute).
            handle = _Handle(conn)
            # Not at interpreter exit: a daemon thread (a producer) may still be using it,
            # and closing a connection under a running query crashes the process.
            weakref.finalize(handle, conn.close).atexit = False
            self._local.handle = handle
            with self._conns_lock:
                self._all_conns.add(handle)
        return handle.conn

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        conn = self._conn()
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise StoreError(f"SQLite write to {self.path!r} failed: {exc}") from exc

    def set_retention(self, stream: str, retention: Retention) -> None:
        self._retentions.set(stream, retention)

    def append_many(self, records: list[Record]) -> list[Event]:
        out: list[Event] = []
        now = time.time()
        with self._write() as conn:
            for stream, data_json, ts in records:
                (seq,) = conn.execute(
                    "INSERT INTO streams(name, head) VALUES (?, 1) "
                    "ON CONFLICT(name) DO UPDATE SET head = head + 1 RETURNING head",
                    (stream,),
                ).fetchone()
                conn.execute("INSERT INTO events VALUES (?, ?, ?, ?)", (stream, seq, ts, data_json))
                out.append(Event.stored(stream, seq, ts, data_json))
            heads: dict[str, int] = {}
            for event in out:
                heads[event.stream] = event.seq
            for stream, head in heads.items():
                self._trim(conn, stream, head, now)
                # Before the commit: a reader that sees these events in the file already
                # knows they are this process's own (see wait()).
                self._own_heads[stream] = max(head, self._own_heads.get(stream, 0))
        with self._changed:
            self._generation += 1
            self._changed.notify_all()
        return out

    def _trim(self, conn: sqlite3.Connection, stream: str, head: int, now: float) -> None:
        dropped = trim_count(head, self._retentions.of(stream))  # seqs 1..dropped
        if dropped:
            conn.execute("DELETE FROM events WHERE stream = ? AND seq <= ?", (stream, dropped))
        cutoff = self._retentions.cutoff(stream, now)
        if cutoff > float("-inf") and (
            now - self._last_age_prune.get(stream, 0.0) >= AGE_PRUNE_INTERVAL
        ):
            self._last_age_prune[stream] = now
            self._prune_age(conn, stream, cutoff)

    @staticmethod
    def _prune_age(conn: sqlite3.Connection, stream: str, cutoff: float) -> None:
        conn.execute("DELETE FROM events WHERE stream = ? AND ts < ?", (stream, cutoff))

    def _cutoff(self, stream: str) -> float:
        return self._retentions.cutoff(stream)

    def _fetch(self, sql: str, args: Sequence[object]) -> list[Any]:
        """The rows of one read query, on a pooled connection; failures as StoreError."""
        try:
            with self._reading() as conn:
                return conn.execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"SQLite read from {self.path!r} failed: {exc}") from exc

    def _rows(self, sql: str, args: tuple[object, ...]) -> list[Event]:
        return [Event.stored(s, q, t, d) for s, q, t, d in self._fetch(sql, args)]

    def read(self, stream: str, after_seq: int, limit: int = 1000) -> list[Event]:
        if limit <= 0:
            return []
        cached = self._read_recent(stream, after_seq, limit)
        if cached is not None:
            return cached
        return self._read_file(stream, after_seq, limit)

    def _read_file(self, stream: str, after_seq: int, limit: int) -> list[Event]:
        events = self._rows(
            "SELECT stream, seq, ts, data FROM events WHERE stream = ? AND seq > ? AND ts >= ? "
            "ORDER BY seq LIMIT ?",
            (stream, after_seq, self._cutoff(stream), limit),
        )
        self._remember(stream, events)
        return events

    def _read_recent(self, stream: str, after_seq: int, limit: int) -> list[Event] | None:
        """:meth:`read` from the events kept in memory, or None when they do not cover
        ``after_seq + 1``. Same answer as the file: the head (one indexed row, nothing
        decoded) says which events retention has dropped meanwhile and whether newer ones
        than those kept exist."""
        with self._recent_lock:
            recent = self._recent.get(stream)
            if not recent or not recent[0].seq <= after_seq + 1 <= recent[-1].seq:
                return None
        head = self.head(stream)
        start = max(after_seq + 1, trim_count(head, self._retentions.of(stream)) + 1)
        cutoff = self._cutoff(stream)
        with self._recent_lock:
            recent = self._recent.get(stream)
            if not recent or head < recent[-1].seq:  # a file replaced under us: start over
                self._recent.pop(stream, None)
                return None
            first, last = recent[0].seq, recent[-1].seq
            if not first <= start <= last:
                return None
            picked = recent[start - first : start - first + limit]
        if cutoff > float("-inf"):
            # As the file query: the oldest of these may be past max_age. (Where they all
            # are, newer events may follow: the file answers.)
            picked = [e for e in picked if e.ts >= cutoff]
            if not picked:
                return None
        if len(picked) < limit and last < head:
            picked += self._read_file(stream, last, limit - len(picked))
        return picked

    def _remember(self, stream: str, events: list[Event]) -> None:
        """Keep ``events`` (a read's answer, oldest first) as the stream's newest, if they
        continue or overlap what is kept; a jump replaces it."""
        if not events or events[-1].seq - events[0].seq != len(events) - 1:
            return  # empty, or holes (max_age filtered some): not a contiguous run
        retention = self._retentions.of(stream)
        with self._recent_lock:
            recent = self._recent.get(stream)
            if recent and recent[0].seq <= events[0].seq <= recent[-1].seq + 1:
                if events[-1].seq <= recent[-1].seq:
                    return
                recent.extend(events[recent[-1].seq + 1 - events[0].seq :])
            elif recent and events[-1].seq <= recent[-1].seq:
                return  # older than what is kept
            else:
                recent = self._recent[stream] = list(events)
            # Keep RECENT_SECONDS of events, and never more than retention keeps.
            cut = 0
            oldest_ts = recent[-1].ts - RECENT_SECONDS
            while cut < len(recent) and recent[cut].ts < oldest_ts:
                cut += 1
            cut = max(cut, trim_count(len(recent), retention))
            if cut:
                del recent[:cut]

    def last(self, stream: str, n: int) -> list[Event]:
        if n <= 0:
            return []
        rows = self._rows(
            "SELECT stream, seq, ts, data FROM events WHERE stream = ? AND ts >= ? "
            "ORDER BY seq DESC LIMIT ?",
            (stream, self._cutoff(stream), n),
        )
        rows.reverse()
        return rows

    def _window(
        self,
        conn: sqlite3.Connection,
        stream: str,
        since_ts: float,
        until_ts: float | None,
        after_seq: int,
    ) -> tuple[int, int]:
        """:func:`~livedash.stores.base.seq_window` over the primary key: a few indexed
        lookups instead of a scan from the stream's first row (there is no index on ts)."""

        def first_at(seq: int) -> tuple[int, float] | None:
            row = conn.execute(
                "SELECT seq, ts FROM events WHERE stream = ? AND seq >= ? ORDER BY seq LIMIT 1",
                (stream, seq),
            ).fetchone()
            return None if row is None else (int(row[0]), float(row[1]))

        row = conn.execute(
            "SELECT seq, ts FROM events WHERE stream = ? ORDER BY seq DESC LIMIT 1", (stream,)
        ).fetchone()
        newest = None if row is None else (int(row[0]), float(row[1]))
        return seq_window(first_at, newest, since_ts, until_ts, after_seq)

    def window(self, stream: str, since_ts: float, until_ts: float | None) -> tuple[int, int]:
        try:
            with self._reading() as conn:
                return self._window(conn, stream, max(since_ts, self._cutoff(stream)), until_ts, 0)
        except sqlite3.Error as exc:
            raise StoreError(f"SQLite read from {self.path!r} failed: {exc}") from exc

    def read_range(
        self,
        stream: str,
        since_ts: float,
        until_ts: float | None = None,
        limit: int = CHUNK,
        after_seq: int = 0,
    ) -> list[Event]:
        if limit <= 0:
            return []
        since = max(since_ts, self._cutoff(stream))
        until = float("inf") if until_ts is None else until_ts
        try:
            with self._reading() as conn:
                after, last = self._window(conn, stream, since, until_ts, after_seq)
                if last <= after:
                    return []
                rows = conn.execute(
                    "SELECT stream, seq, ts, data FROM events WHERE stream = ? AND seq > ? "
                    "AND seq <= ? AND ts >= ? AND ts <= ? ORDER BY seq LIMIT ?",
                    (stream, after, last, since, until, limit),
                ).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"SQLite read from {self.path!r} failed: {exc}") from exc
        return [Event.stored(s, q, t, d) for s, q, t, d in rows]

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
        """SQLite extracts the fields itself (``json_extract``), so a long window is never
        decoded into Python objects: only the picked values cross into Python."""
        if limit <= 0:
            return Columns([], [], [[] for _ in fields], [[] for _ in labels], 0)
        since = max(since_ts, self._cutoff(stream))
        until = float("inf") if until_ts is None else until_ts
        # Booleans are JSON true/false, which json_extract returns as 1/0: json_type tells.
        number = (
            ", CASE WHEN json_type(data, ?1) IN ('integer', 'real') THEN json_extract(data, ?1) END"
        )
        text = (
            ", CASE json_type(data, ?1) WHEN 'integer' THEN json_extract(data, ?1)"
            " WHEN 'real' THEN json_extract(data, ?1)"
            f" WHEN 'text' THEN CASE WHEN length(json_extract(data, ?1)) <= {MAX_LABEL_CHARS}"
            " THEN json_extract(data, ?1) END END"
        )
        paths = [_json_path(f) for f in [*fields, *labels]]
        # Numbered parameters: each field's path is bound once however often it is used.
        picks = "".join(
            (number if i < len(fields) else text).replace("?1", f"?{i + 7}")
            for i in range(len(paths))
        )
        try:
            with self._reading() as conn:
                after, last = self._window(conn, stream, since, until_ts, after_seq)
                if last <= after:
                    rows = []
                else:
                    rows = conn.execute(
                        f"SELECT seq, ts, length(data){picks} FROM events WHERE stream = ?1 "
                        "AND seq > ?2 AND seq <= ?3 AND ts >= ?4 AND ts <= ?5 "
                        "ORDER BY seq LIMIT ?6",
                        (stream, after, last, since, until, limit, *paths),
                    ).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"SQLite read from {self.path!r} failed: {exc}") from exc
        columns: list[Any] = list(zip(*rows, strict=True)) if rows else [()] * (3 + len(paths))
        cut = 3 + len(fields)
        return Columns(
            list(columns[0]),
            list(columns[1]),
            [list(c) for c in columns[3:cut]],
            [list(c) for c in columns[cut:]],
            sum(columns[2]),
        )

    def admit_streams(self, names: Sequence[str], limit: int | None) -> bool:
        if not names:
            return True
        with self._write() as conn:
            new = [
                n
                for n in dict.fromkeys(names)
                if conn.execute("SELECT 1 FROM streams WHERE name = ?", (n,)).fetchone() is None
            ]
            if not new:
                return True
            if limit is not None:
                (count,) = conn.execute("SELECT count(*) FROM streams").fetchone()
                if count + len(new) > limit:
                    return False
            # head 0: known, no event yet (the first append makes it 1).
            conn.executemany(
                "INSERT INTO streams(name, head) VALUES (?, 0) ON CONFLICT(name) DO NOTHING",
                [(n,) for n in new],
            )
        return True

    def stream_count(self) -> int:
        return int(self._fetch("SELECT count(*) FROM streams", ())[0][0])

    def head(self, stream: str) -> int:
        rows = self._fetch("SELECT head FROM streams WHERE name = ?", (stream,))
        return int(rows[0][0]) if rows else 0

    def _data_version(self) -> int:
        return int(self._conn().execute("PRAGMA data_version").fetchone()[0])

    def wait(self, cursor: Cursor, timeout: float, limit: int = 1000) -> list[Event]:
        deadline = time.monotonic() + timeout
        by_version = False
        while True:
            # data_version changes when another connection (this process or another) commits.
            version = self._data_version()
            with self._changed:
                generation = self._generation
            found = [e for s, seq in cursor.items() for e in self.read(s, seq, limit)]
            if by_version and any(e.seq > self._own_heads.get(e.stream, 0) for e in found):
                # Events that came with no in-process append: another process writes this
                # file, keep checking often. (Our own lease renewal moves data_version too,
                # and our own append may land between that check and this read: with a
                # producer ticking in step with the polls, that once sent a process alone
                # into 50 checks a second.)
                self._foreign_at = time.monotonic()
            by_version = False
            with self._changed:
                if found or self._interrupted:
                    self._interrupted = False
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return []
                while generation == self._generation and not self._interrupted:
                    recent = time.monotonic() - self._foreign_at < FOREIGN_QUIET
                    poll = CROSS_PROCESS_POLL if recent else IDLE_POLL
                    if not self._changed.wait(min(remaining, poll)):
                        if self._data_version() != version:
                            by_version = True
                            break
                        remaining = deadline - time.monotonic()
                        if remaining <= 0:
                            return []

    def interrupt(self) -> None:
        with self._changed:
            self._interrupted = True
            self._changed.notify_all()

    def acquire_lease(self, name: str, owner: str, ttl: float) -> bool:
        now = time.time()
        with self._write() as conn:
            conn.execute(
                "INSERT INTO leases VALUES (?, ?, ?) ON CONFLICT(name) DO UPDATE SET "
                "owner = excluded.owner, expires = excluded.expires "
                "WHERE leases.owner = excluded.owner OR leases.expires <= ?",
                (name, owner, now + ttl, now),
            )
            row = conn.execute("SELECT owner FROM leases WHERE name = ?", (name,)).fetchone()
        return bool(row and row[0] == owner)

    def close(self) -> None:
        self.interrupt()
        with self._recent_lock:
            self._recent.clear()
        with self._pool_lock:
            self._closed = True
            for conn in self._pool:
                conn.close()
            self._pool.clear()
        with self._conns_lock:
            for handle in list(self._all_conns):
                handle.conn.close()
            self._all_conns.clear()
