"""Group commit: appends from concurrent threads go to Redis together, one write and one
read on one connection, as packed Lua script calls (see :class:`GroupCommit`)."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

import redis
from redis.exceptions import NoScriptError

#: The append connection is checked for a close by Redis (a restart) before it is used after
#: this many idle seconds: an append sent on a dead connection could not tell whether it was
#: stored. A Redis cannot stop and start again within this, so back-to-back appends skip the
#: check (three system calls) and every other append makes it.
STALE_CHECK = 0.005


def resp(parts: Sequence[str | int | float]) -> bytes:
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
    connection of its own (from ``pool``'s settings, outside the pool) used only by the
    thread leading the current round.

    ``script`` is the Lua source the commands EVALSHA: loaded again when Redis lost it."""

    def __init__(self, pool: redis.ConnectionPool, script: str) -> None:
        self._pool = pool
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
            conn = self._conn = self._pool.connection_class(**self._pool.connection_kwargs)
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
            conn.send_packed_command([resp(["SCRIPT", "LOAD", self._script])], check_health=False)
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
