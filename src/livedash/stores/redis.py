"""Redis store: one Redis Stream per livedash stream, shared by every worker on every host.

Streams, reads, retention and leases are those of
:class:`~livedash.stores.redis_streams.StreamsStore` (keys as
:mod:`livedash.stores.redis_layout` says); this peer talks to one Redis: every append goes
through one group commit, and :meth:`RedisStore.wait` blocks in one XREAD on every followed
stream plus a tiny private stream per store object (``{prefix}wake:{id}``), which
:meth:`~RedisStore.interrupt` adds to.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any, TypeVar, cast
from urllib.parse import urlparse

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from livedash.errors import StoreError
from livedash.events import Cursor, Event
from livedash.stores.base import Retention
from livedash.stores.redis_commit import GroupCommit
from livedash.stores.redis_layout import Entry, Keys, entry_seq
from livedash.stores.redis_streams import COMMAND_TIMEOUT, CONNECT_TIMEOUT, StreamsStore

__all__ = ["RedisStore"]

_T = TypeVar("_T")

#: Longest single XREAD BLOCK; :meth:`RedisStore.wait` loops for longer timeouts. The blocking
#: connection's socket timeout is this plus :data:`COMMAND_TIMEOUT`.
MAX_BLOCK = 15.0
#: How long an idle wake stream lives (it is recreated on demand).
WAKE_TTL_MS = 3_600_000


def _where(url: str) -> str:
    """Where the Redis of ``url`` is, for messages; never the password."""
    parsed = urlparse(url)
    if parsed.scheme == "unix":
        return parsed.path
    return f"{parsed.hostname or 'localhost'}:{parsed.port or 6379}{parsed.path or '/0'}"


class RedisStore(StreamsStore):
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
        super().__init__(url, default_retention, keys=Keys(prefix), where=_where(url))
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
        self._wake_key = self.keys.wake(uuid.uuid4().hex)
        self._wake_id = "0-0"
        self._committer = GroupCommit(self._redis.connection_pool, self._append_script)

    def _run(self, action: str, op: Callable[[Any], _T]) -> _T:
        with self._errors(action):
            return op(self._redis)

    def _commit(self, shard: int, command: bytes, action: str) -> list[int]:
        with self._errors(action):
            return cast(list[int], self._committer.commit(command))

    def wait(self, cursor: Cursor, timeout: float, limit: int = 1000) -> list[Event]:
        deadline = time.monotonic() + timeout
        names = {self.keys.stream(s): s for s in cursor}
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
                    list[tuple[str, list[Entry]]],
                    self._blocking.xread(streams, count=limit, block=block) or [],
                )
            events: list[Event] = []
            woken = False
            for key, entries in reply:
                if key == self._wake_key:
                    woken = True
                    with self._lock:
                        self._interrupted = False
                        if entry_seq(entries[-1][0]) >= entry_seq(self._wake_id):
                            self._wake_id = entries[-1][0]
                else:
                    stream = names[key]
                    events += self._events(stream, entries, self._retentions.cutoff(stream))
            if events or woken or block is None or time.monotonic() >= deadline:
                return events

    def _wake(self) -> None:
        # An entry in this store's private wake stream, which every blocked XREAD of this
        # store also follows. (Unlike CLIENT UNBLOCK, this cannot race with a reader that is
        # about to block.)
        try:
            with self._redis.pipeline(transaction=False) as pipe:
                pipe.xadd(self._wake_key, {"w": "1"}, maxlen=1, approximate=False)
                pipe.pexpire(self._wake_key, WAKE_TTL_MS)
                pipe.execute()
        except redis.RedisError:
            # Redis is down: a blocked reader fails on its own, the sticky flag covers the rest.
            pass

    def _disconnect(self) -> None:
        self._committer.close()
        for client in (self._redis, self._blocking):
            client.close()
            client.connection_pool.disconnect()
