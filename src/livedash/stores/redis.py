"""Redis store: one Redis Stream per livedash stream, shared by every worker on every host.

Keys (all under ``prefix``, ``livedash:`` by default):

- ``{prefix}head:{stream}``: the newest seq ever assigned (an integer, INCR'd by appends);
- ``{prefix}stream:{stream}``: the events, as a Redis Stream whose entry id is ``{seq}-0``
  and whose fields are ``d`` (data, compact JSON) and ``t`` (publish time);
- ``{prefix}lease:{name}``: producer leases (SET NX PX, renewed only by the owner);
- ``{prefix}streams``: the set of stream names published through a :class:`~livedash.Hub`
  (:meth:`RedisStore.admit_streams`), which the deployment-wide stream limit counts;
- ``{prefix}wake:{id}``: a tiny private stream per store object, used to wake its blocked
  readers (see :meth:`RedisStore.interrupt`).

Appends run as one Lua script, so a batch is stored all or none and seqs never interleave
between writers. Connections open lazily: creating the store (and a Hub, and a Dash app) while
Redis is down works; operations then raise :class:`~livedash.errors.StoreUnavailable` quickly.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar, cast
from urllib.parse import urlparse

import redis
from redis.backoff import NoBackoff
from redis.exceptions import NoScriptError
from redis.retry import Retry

from livedash.errors import StoreError, StoreUnavailable
from livedash.events import Cursor, Event
from livedash.stores.base import CHUNK, Columns, Record, Retention, columns_of, seq_window

_T = TypeVar("_T")

#: Seconds to wait for a TCP connection to Redis, and for any non-blocking reply. Small, so
#: that publishing fails fast (instead of hanging a request) when Redis is unreachable.
CONNECT_TIMEOUT = 1.0
COMMAND_TIMEOUT = 2.0
#: Longest single XREAD BLOCK; :meth:`RedisStore.wait` loops for longer timeouts. The blocking
#: connection's socket timeout is this plus :data:`COMMAND_TIMEOUT`.
MAX_BLOCK = 15.0
#: Most entries one retention pass drops by age; the rest go on the next append or read.
AGE_TRIM_BATCH = 1000
#: Most entries one XRANGE of a range read fetches.
READ_BATCH = 1000
#: How long an idle wake stream lives (it is recreated on demand).
WAKE_TTL_MS = 3_600_000
#: The append connection is checked for a close by Redis (a restart) before it is used after
#: this many idle seconds: an append sent on a dead connection could not tell whether it was
#: stored. A Redis cannot stop and start again within this, so back-to-back appends skip the
#: check (three system calls) and every other append makes it.
STALE_CHECK = 0.005

# KEYS: head, stream for each record, in record order.
# ARGV: now, age-trim batch size, then per record: data, ts, max_events (0 = none),
# max_age (0 = none). Returns the seq of each record.
# --NOTIFY-- marks where a variant may add statements run once per stream of the batch, with
# ``key`` its stream key and ``seq`` its newest seq (the cluster store publishes them there).
_APPEND_TEMPLATE = """
local last = {}
local now, batch = tonumber(ARGV[1]), tonumber(ARGV[2])
local out = {}
for i = 1, #KEYS / 2 do
  local head, key = KEYS[2 * i - 1], KEYS[2 * i]
  local base = 2 + 4 * (i - 1)
  local data, ts = ARGV[base + 1], ARGV[base + 2]
  local max_events, max_age = tonumber(ARGV[base + 3]), tonumber(ARGV[base + 4])
  local seq = redis.call('INCR', head)
  local id = seq .. '-0'
  if max_events > 0 then
    redis.call('XADD', key, 'MAXLEN', max_events, id, 'd', data, 't', ts)
  else
    redis.call('XADD', key, id, 'd', data, 't', ts)
  end
  if max_age > 0 then
    -- Drop the oldest entries that outlived max_age, up to the first fresh one.
    local cutoff, fresh = now - max_age, nil
    local oldest = redis.call('XRANGE', key, '-', '+', 'COUNT', batch)
    for _, entry in ipairs(oldest) do
      local fields, t = entry[2], nil
      for f = 1, #fields, 2 do if fields[f] == 't' then t = tonumber(fields[f + 1]) end end
      if t == nil or t >= cutoff then fresh = entry[1] break end
    end
    if fresh == nil and #oldest > 0 then
      local last = oldest[#oldest][1]
      redis.call('XTRIM', key, 'MINID', (tonumber(string.match(last, '^%d+')) + 1) .. '-0')
    elseif fresh ~= nil and fresh ~= oldest[1][1] then
      redis.call('XTRIM', key, 'MINID', fresh)
    end
  end
  out[i] = seq
  last[key] = seq
end
for key, seq in pairs(last) do
  --NOTIFY--
end
return out
"""
_APPEND = _APPEND_TEMPLATE.replace("--NOTIFY--", "")

# KEYS: lease. ARGV: owner, ttl in ms. Returns 1 when owner holds the lease now.
_LEASE = """
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""

# KEYS: the set of stream names. ARGV: the limit (-1: none), then the names. Adds the names
# unless the new ones would pass the limit; returns 1 when every name is in the set now.
_ADMIT = """
local limit = tonumber(ARGV[1])
local new = {}
for i = 2, #ARGV do
  if redis.call('SISMEMBER', KEYS[1], ARGV[i]) == 0 then new[#new + 1] = ARGV[i] end
end
if #new == 0 then return 1 end
if limit >= 0 and redis.call('SCARD', KEYS[1]) + #new > limit then return 0 end
for i = 1, #new, 1000 do
  redis.call('SADD', KEYS[1], unpack(new, i, math.min(i + 999, #new)))
end
return 1
"""

_Entry = tuple[str, dict[str, str]]


def _resp(parts: Sequence[str | int | float]) -> bytes:
    """One command in the Redis protocol (RESP). Packed here: redis-py's generic command path
    (packing, pool checkout, retries, metrics) cost more CPU than the round trip itself."""
    out = [b"*%d\r\n" % len(parts)]
    for part in parts:
        raw = str(part).encode()
        out.append(b"$%d\r\n%b\r\n" % (len(raw), raw))
    return b"".join(out)


class _Commit:
    """One append waiting for the group commit (see :class:`GroupCommit`)."""

    __slots__ = ("command", "done", "reply")

    def __init__(self, command: bytes) -> None:
        self.command = command
        self.reply: Any = None
        self.done = False


class NotSent(redis.ConnectionError):
    """No connection to Redis could be opened, so nothing was sent: safe to retry."""


class GroupCommit:
    """Appends from concurrent threads go out together, one write and one read, on one
    connection (made by ``connect``) used only by the thread leading the current round.

    ``script`` is the Lua source the commands EVALSHA: loaded again when Redis lost it."""

    def __init__(self, connect: Callable[[], Any], script: str) -> None:
        self._connect = connect
        self._script = script
        self._cond = threading.Condition(threading.Lock())
        self._queue: list[_Commit] = []
        self._committing = False
        self._conn: Any = None
        self._used = 0.0

    def commit(self, command: bytes) -> Any:
        """Run one packed EVALSHA and return its reply, synchronously; raise its error.

        The first caller to find no round in flight leads one: it takes every append queued
        so far (its own included), sends them in one write and reads their replies, while
        callers arriving meanwhile queue for the next round. Alone, a caller leads at once;
        under concurrent publishers a round trip carries many appends. Each append is still
        its own script call, so each batch is stored all or none on its own."""
        mine = _Commit(command)
        with self._cond:
            self._queue.append(mine)
            while self._committing and not mine.done:
                self._cond.wait()
            lead = not mine.done
            if lead:
                self._committing = True
                batch, self._queue = self._queue, []
        if lead:
            replies: list[Any]
            try:
                replies = self._round_trip([c.command for c in batch])
            except Exception as exc:
                replies = [exc] + [_copy(exc) for _ in batch[1:]]
            except BaseException:  # interrupted (a greenlet killed): the others hear why
                lost = redis.ConnectionError("the append was interrupted; it may be stored")
                replies = [lost] * len(batch)
                raise
            finally:
                with self._cond:
                    for c, reply in zip(batch, replies, strict=True):
                        c.reply, c.done = reply, True
                    self._committing = False
                    self._cond.notify_all()
        if isinstance(mine.reply, BaseException):
            raise mine.reply
        return mine.reply

    def _round_trip(self, commands: list[bytes]) -> list[Any]:
        """Send ``commands`` in one write on the append connection; each one's reply or
        :class:`redis.ResponseError`. Only the leader of a round calls this."""
        conn = self._conn
        if conn is None:
            conn = self._conn = self._connect()
        if time.monotonic() - self._used > STALE_CHECK:
            try:
                if conn.can_read():  # closed by the server, or stray data: start afresh
                    conn.disconnect()
            except redis.ConnectionError:
                conn.disconnect()
        try:
            conn.connect()  # no-op when connected
        except redis.ConnectionError as exc:
            raise NotSent(str(exc)) from exc
        try:
            replies = self._exchange(conn, commands)
        except BaseException:
            # Interrupted between replies (a timeout, a killed greenlet): the rest would be
            # read as the next round's. Start that round on a fresh connection.
            conn.disconnect()
            raise
        self._used = time.monotonic()
        return replies

    def _exchange(self, conn: Any, commands: list[bytes]) -> list[Any]:
        """Send ``commands`` and read their replies on the connected ``conn``."""
        conn.send_packed_command([b"".join(commands)], check_health=False)
        replies = _replies(conn, len(commands))
        # Redis restarted and lost its scripts: NOSCRIPT means nothing ran; load, resend.
        missing = [i for i, r in enumerate(replies) if isinstance(r, NoScriptError)]
        if missing:
            conn.send_packed_command([_resp(["SCRIPT", "LOAD", self._script])], check_health=False)
            conn.read_response()
            again = b"".join(commands[i] for i in missing)
            conn.send_packed_command([again], check_health=False)
            for i, reply in zip(missing, _replies(conn, len(missing)), strict=True):
                replies[i] = reply
        return replies

    def close(self) -> None:
        """Drop the append connection (a later commit opens a new one)."""
        with self._cond:
            conn, self._conn = self._conn, None
        if conn is not None:
            conn.disconnect()


def _replies(conn: Any, n: int) -> list[Any]:
    out: list[Any] = []
    for _ in range(n):
        try:
            out.append(conn.read_response())
        except redis.ResponseError as exc:  # this command failed; the stream reads on
            out.append(exc)
    return out


def _copy(exc: BaseException) -> BaseException:
    """The same error for another thread (one exception object raised in several threads
    would share and garble one traceback)."""
    try:
        return type(exc)(*exc.args)
    except Exception:
        return redis.ConnectionError(str(exc))


def _seq(entry_id: str) -> int:
    return int(entry_id.partition("-")[0])


class RedisStore:
    """Events in Redis Streams (``redis://host:port/db``, ``rediss://...``, ``unix:///path``).

    ``prefix`` namespaces every key, so several deployments can share one Redis database.
    Retention set with :meth:`set_retention` is applied by the process that appends, like the
    SQLite store: every process of a deployment should declare the same retention.
    """

    def __init__(
        self,
        url: str,
        default_retention: Retention | None = None,
        *,
        prefix: str = "livedash:",
    ) -> None:
        self._init_state(url, default_retention, prefix)
        parsed = urlparse(url)
        # Shown in error messages; never the password.
        self._where = parsed.path if parsed.scheme == "unix" else (parsed.hostname or "localhost")
        if parsed.scheme != "unix":
            self._where += f":{parsed.port or 6379}{parsed.path or '/0'}"
        # No automatic retries: an append retried after a lost reply would be stored twice,
        # and a caller waiting on a dead Redis should hear about it at once. Stale pooled
        # connections (Redis restarted) are detected and replaced when checked out.
        common: dict[str, Any] = {
            "decode_responses": True,
            "socket_connect_timeout": CONNECT_TIMEOUT,
            "retry": Retry(NoBackoff(), 0),
        }
        try:
            self._redis = redis.Redis.from_url(url, socket_timeout=COMMAND_TIMEOUT, **common)
            # Blocking reads get their own pool, whose socket timeout outlasts XREAD BLOCK.
            self._blocking = redis.Redis.from_url(
                url, socket_timeout=MAX_BLOCK + COMMAND_TIMEOUT, **common
            )
        except ValueError as exc:
            raise StoreError(f"bad Redis URL {url!r}: {exc}") from None
        self._lease_script = self._redis.register_script(_LEASE)
        self._wake_key = f"{prefix}wake:{uuid.uuid4().hex}"
        self._wake_id = "0-0"
        pool = self._redis.connection_pool
        self._committer = GroupCommit(
            lambda: pool.connection_class(**pool.connection_kwargs), _APPEND
        )

    def _init_state(self, url: str, default_retention: Retention | None, prefix: str) -> None:
        """The state every Redis flavour keeps besides its connections."""
        self.url = url
        self.prefix = prefix
        self._default = default_retention or Retention()
        self._retention: dict[str, Retention] = {}
        self._append_sha = hashlib.sha1(self._append_source().encode()).hexdigest()
        self._lock = threading.Lock()
        self._interrupted = False
        self._closed = False

    def _append_source(self) -> str:
        """The Lua append script this store runs."""
        return _APPEND

    # -- keys and errors --------------------------------------------------------------------
    def _tag(self, stream: str) -> str:
        """How ``stream`` appears in its keys (a Redis Cluster store wraps it in a hash tag)."""
        return stream

    def _head_key(self, stream: str) -> str:
        return f"{self.prefix}head:{self._tag(stream)}"

    def _stream_key(self, stream: str) -> str:
        return f"{self.prefix}stream:{self._tag(stream)}"

    def _lease_key(self, name: str) -> str:
        return f"{self.prefix}lease:{name}"

    def _run(self, action: str, op: Callable[[Any], _T]) -> _T:
        """``op(client)``, with redis-py's errors translated (see :meth:`_errors`)."""
        with self._errors(action):
            return op(self._redis)

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

    def _retention_of(self, stream: str) -> Retention:
        return self._retention.get(stream, self._default)

    def _cutoff(self, stream: str) -> float:
        max_age = self._retention_of(stream).max_age
        return float("-inf") if max_age is None else time.time() - max_age

    def _events(self, stream: str, entries: Sequence[_Entry], cutoff: float) -> list[Event]:
        out = []
        for entry_id, fields in entries:
            ts = float(fields["t"])
            if ts >= cutoff:
                out.append(Event(stream, _seq(entry_id), ts, json.loads(fields["d"])))
        return out

    # -- the Store protocol -----------------------------------------------------------------
    def set_retention(self, stream: str, retention: Retention) -> None:
        # Kept in process (no I/O here, so an app can declare streams while Redis is down).
        self._retention[stream] = retention

    def append_many(self, records: list[Record]) -> list[Event]:
        if not records:
            return []
        with self._errors(f"append {len(records)} event(s)"):
            seqs = cast(list[int], self._committer.commit(self._append_command(records)))
        return self._appended(records, seqs)

    def _append_command(self, records: Sequence[Record]) -> bytes:
        """The packed EVALSHA of the append script for ``records``."""
        keys: list[str] = []
        args: list[str | float | int] = [repr(time.time()), AGE_TRIM_BATCH]
        for stream, data_json, ts in records:
            retention = self._retention_of(stream)
            keys += [self._head_key(stream), self._stream_key(stream)]
            args += [data_json, repr(ts), retention.max_events or 0, retention.max_age or 0]
        return _resp(["EVALSHA", self._append_sha, len(keys), *keys, *args])

    @staticmethod
    def _appended(records: Sequence[Record], seqs: Sequence[int]) -> list[Event]:
        return [
            Event(stream, int(seq), ts, json.loads(data_json))
            for (stream, data_json, ts), seq in zip(records, seqs, strict=True)
        ]

    def _range(self, stream: str, after_seq: int, limit: int) -> list[_Entry]:
        key = self._stream_key(stream)
        return cast(
            list[_Entry],
            self._run(
                f"read stream {stream!r}", lambda r: r.xrange(key, f"{after_seq + 1}-0", "+", limit)
            ),
        )

    def read(self, stream: str, after_seq: int, limit: int = 1000) -> list[Event]:
        if limit <= 0:
            return []
        cutoff = self._cutoff(stream)
        entries = self._range(stream, max(0, after_seq), limit)
        events = self._events(stream, entries, cutoff)
        if len(events) < len(entries):
            # Some entries outlived max_age (no append has trimmed them yet): page past them.
            while len(entries) == limit and len(events) < limit:
                entries = self._range(stream, _seq(entries[-1][0]), limit)
                events += self._events(stream, entries, cutoff)
            events = events[:limit]
        return events

    def last(self, stream: str, n: int) -> list[Event]:
        if n <= 0:
            return []
        key = self._stream_key(stream)
        entries = cast(
            list[_Entry], self._run(f"read stream {stream!r}", lambda r: r.xrevrange(key, count=n))
        )
        events = self._events(stream, entries, self._cutoff(stream))
        events.reverse()
        return events

    def _window(
        self, stream: str, since_ts: float, until_ts: float | None, after_seq: int
    ) -> tuple[int, int]:
        """:func:`~livedash.stores.base.seq_window` by entry id (the id is the seq): a few
        one-entry XRANGEs instead of reading the stream from its start."""
        key = self._stream_key(stream)
        what = f"read stream {stream!r}"

        def probe(entries: list[_Entry]) -> tuple[int, float] | None:
            return (_seq(entries[0][0]), float(entries[0][1]["t"])) if entries else None

        def first_at(seq: int) -> tuple[int, float] | None:
            return probe(
                cast(list[_Entry], self._run(what, lambda r: r.xrange(key, f"{seq}-0", "+", 1)))
            )

        newest = probe(cast(list[_Entry], self._run(what, lambda r: r.xrevrange(key, count=1))))
        return seq_window(first_at, newest, since_ts, until_ts, after_seq)

    def window(self, stream: str, since_ts: float, until_ts: float | None) -> tuple[int, int]:
        return self._window(stream, max(since_ts, self._cutoff(stream)), until_ts, 0)

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
        since = max(since_ts, self._cutoff(stream))
        until = float("inf") if until_ts is None else until_ts
        after, last = self._window(stream, since, until_ts, after_seq)
        key = self._stream_key(stream)
        out: list[Event] = []
        scanned = 0
        while len(out) < limit and after < last:
            count = min(READ_BATCH, max(limit - len(out), 16))
            entries = self._slice(stream, key, after + 1, last, count)
            if not entries:
                break
            scanned += sum(len(fields["d"]) for _, fields in entries)
            out += [e for e in self._events(stream, entries, since) if e.ts <= until]
            after = _seq(entries[-1][0])
            if len(entries) < count:
                break
        return out[:limit], scanned

    def _slice(self, stream: str, key: str, first: int, last: int, count: int) -> list[_Entry]:
        """Up to ``count`` entries of ``key`` with seqs ``first..last``."""
        return cast(
            list[_Entry],
            self._run(
                f"read stream {stream!r}", lambda r: r.xrange(key, f"{first}-0", f"{last}-0", count)
            ),
        )

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

    def _streams_key(self) -> str:
        return f"{self.prefix}streams"

    def admit_streams(self, names: Sequence[str], limit: int | None) -> bool:
        if not names:
            return True
        key = self._streams_key()
        args = [-1 if limit is None else limit, *dict.fromkeys(names)]
        got = self._run(
            f"register {len(names)} stream name(s)", lambda r: r.eval(_ADMIT, 1, key, *args)
        )
        return bool(got)

    def stream_count(self) -> int:
        key = self._streams_key()
        return int(cast(int, self._run("count the streams", lambda r: r.scard(key))))

    def head(self, stream: str) -> int:
        key = self._head_key(stream)
        value = self._run(f"read the head of stream {stream!r}", lambda r: r.get(key))
        return int(cast(str, value)) if value else 0

    def wait(self, cursor: Cursor, timeout: float, limit: int = 1000) -> list[Event]:
        deadline = time.monotonic() + timeout
        names = {self._stream_key(s): s for s in cursor}
        while True:
            with self._lock:
                if self._interrupted:
                    self._interrupted = False
                    return []
                wake_id = self._wake_id
            remaining = deadline - time.monotonic()
            block = None if remaining <= 0 else max(1, int(min(remaining, MAX_BLOCK) * 1000))
            streams: dict[str | bytes | memoryview[int], int | str | bytes | memoryview[int]] = {
                key: f"{cursor[s]}-0" for key, s in names.items()
            }
            streams[self._wake_key] = wake_id
            with self._errors("wait for new events"):
                reply = cast(
                    list[tuple[str, list[_Entry]]],
                    self._blocking.xread(streams, count=limit, block=block) or [],
                )
            events: list[Event] = []
            woken = False
            for key, entries in reply:
                if key == self._wake_key:
                    woken = True
                    with self._lock:
                        self._interrupted = False
                        if _seq(entries[-1][0]) >= _seq(self._wake_id):
                            self._wake_id = entries[-1][0]
                else:
                    stream = names[key]
                    events += self._events(stream, entries, self._cutoff(stream))
            if events or woken or block is None or time.monotonic() >= deadline:
                return events

    def interrupt(self) -> None:
        """Wake blocked :meth:`wait` calls: sets a sticky flag, and adds an entry to this
        store's private wake stream, which every blocked XREAD of this store also follows.
        (Unlike CLIENT UNBLOCK, this cannot race with a reader that is about to block.)"""
        with self._lock:
            self._interrupted = True
        if self._closed:
            return
        try:
            with self._redis.pipeline(transaction=False) as pipe:
                pipe.xadd(self._wake_key, {"w": "1"}, maxlen=1, approximate=False)
                pipe.pexpire(self._wake_key, WAKE_TTL_MS)
                pipe.execute()
        except redis.RedisError:
            # Redis is down: a blocked reader fails on its own, the sticky flag covers the rest.
            pass

    def acquire_lease(self, name: str, owner: str, ttl: float) -> bool:
        ms = max(1, int(ttl * 1000))
        keys = [self._lease_key(name)]
        got = self._run(
            f"take the lease {name!r}", lambda r: self._lease_script(keys=keys, args=[owner, ms])
        )
        return bool(got)

    def close(self) -> None:
        self.interrupt()
        self._closed = True
        self._committer.close()
        for client in (self._redis, self._blocking):
            client.close()
            client.connection_pool.disconnect()
