"""Following streams of a Redis Cluster through pub/sub notices (for its store's ``wait``).

A cluster cannot block one XREAD on keys of several slots, so the cluster store's append
script PUBLISHes each stream's new head on a channel named after the stream key, and a
:class:`Follower` holds one pub/sub connection to any node (PUBLISH reaches every node of a
cluster). It knows, per followed stream, the newest seq it has heard of: a stream is *due*
(worth reading) when that is beyond the caller's cursor, or unknown (just subscribed, after a
reconnect, and every :data:`RESCAN` seconds, so a lost notice delays events, never loses them).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from livedash.errors import StoreUnavailable
from livedash.events import Cursor
from livedash.stores.redis_layout import entry_seq

#: Seconds between two rereads of every followed stream (covers notices lost in transit).
RESCAN = 5.0
#: Longest single block on the pub/sub socket.
MAX_LISTEN = 15.0


class Follower:
    """One waiting thread's pub/sub connection and what it heard.

    ``nodes`` lists the cluster nodes to try (in order), ``options`` the redis-py options of
    a node connection, ``key_of`` a stream's key (its channel)."""

    def __init__(
        self,
        nodes: Callable[[], Sequence[tuple[str, int]]],
        options: dict[str, Any],
        key_of: Callable[[str], str],
        wake_channel: str,
    ) -> None:
        self._nodes = nodes
        self._options = options
        self._key_of = key_of
        self._wake_channel = wake_channel
        self._lock = threading.Lock()
        self._client: redis.Redis | None = None
        self._pubsub: Any = None
        self._turn = 0
        self.node = ""
        self._streams: dict[str, str] = {}  # channel -> stream
        self._heads: dict[str, int] = {}
        self._rescan_at = 0.0

    # -- connection ---------------------------------------------------------------------
    def _connect(self) -> None:
        """Subscribe to the wake channel on the first node that answers."""
        nodes = list(self._nodes())
        errors = []
        for i in range(len(nodes)):
            host, port = nodes[(self._turn + i) % len(nodes)]
            client = redis.Redis(host=host, port=port, retry=Retry(NoBackoff(), 0), **self._options)
            pubsub = client.pubsub()  # type: ignore[no-untyped-call, unused-ignore]
            try:
                pubsub.subscribe(self._wake_channel)
                self._confirm(pubsub, 1)
            except redis.RedisError as exc:
                errors.append(f"{host}:{port} ({exc})")
                pubsub.close()
                client.close()
                continue
            self._turn = (self._turn + i + 1) % len(nodes)
            with self._lock:
                self._client, self._pubsub = client, pubsub
            self.node = f"{host}:{port}"
            self._streams.clear()
            self._heads.clear()
            return
        raise StoreUnavailable(
            "cannot wait for new events: no Redis Cluster node accepted a pub/sub connection: "
            + "; ".join(errors)
            + "; check that the cluster's nodes run and answer `redis-cli -h HOST -p PORT ping`"
        )

    def _drop(self) -> None:
        with self._lock:
            client, pubsub, self._client, self._pubsub = self._client, self._pubsub, None, None
        if pubsub is not None:
            pubsub.close()
        if client is not None:
            client.close()

    def _confirm(self, pubsub: Any, n: int) -> None:
        """Read until ``n`` subscriptions are confirmed (so no notice sent after this is
        missed), noting any notice that arrives meanwhile."""
        deadline = time.monotonic() + float(self._options.get("socket_timeout") or 2.0)
        while n > 0:
            message = pubsub.get_message(timeout=max(0.0, deadline - time.monotonic()))
            if message is None:
                raise redis.TimeoutError("no reply to SUBSCRIBE")
            if message["type"] == "subscribe":
                n -= 1
            else:
                self._note(message)

    # -- what was heard -----------------------------------------------------------------
    def _note(self, message: dict[str, Any]) -> None:
        if message["type"] != "message":
            return
        stream = self._streams.get(message["channel"])
        if stream is not None and stream in self._heads:
            self._heads[stream] = max(self._heads[stream], int(message["data"]))

    def follow(self, cursor: Cursor) -> None:
        """Be subscribed to every stream of ``cursor`` (only those) and note what arrived."""
        for attempt in (1, 2):
            if self._pubsub is None:
                self._connect()
            try:
                self._subscribe(cursor)
                break
            except redis.RedisError:
                self._drop()  # that node went away: the next attempt tries the others
                if attempt == 2:
                    raise
        if time.monotonic() >= self._rescan_at:
            self._rescan_at = time.monotonic() + RESCAN
            self._heads.clear()

    def _subscribe(self, cursor: Cursor) -> None:
        """Subscribe to the streams of ``cursor`` (only those); note what arrived."""
        wanted = {self._key_of(s): s for s in cursor}
        gone = [c for c in self._streams if c not in wanted]
        if gone:
            self._pubsub.unsubscribe(*gone)
            for channel in gone:
                self._heads.pop(self._streams.pop(channel), None)
        new = [c for c in wanted if c not in self._streams]
        if new:
            self._pubsub.subscribe(*new)
            self._streams.update({c: wanted[c] for c in new})
            self._confirm(self._pubsub, len(new))
            for channel in new:  # unknown until read (after the subscription holds)
                self._heads.pop(wanted[channel], None)
        self._drain(0.0)

    def due(self, cursor: Cursor) -> list[str]:
        """The streams of ``cursor`` that may have events after it."""
        return [s for s in cursor if s not in self._heads or self._heads[s] > cursor[s]]

    def read_up_to(self, stream: str, entries: Sequence[Any], after: int, limit: int) -> None:
        """Note a read of ``stream`` after ``after``: nothing newer is known unless a later
        notice says so (a full page leaves it unknown, so it is read again)."""
        if len(entries) >= limit:
            self._heads.pop(stream, None)
        else:
            self._heads[stream] = entry_seq(entries[-1][0]) if entries else after

    def _drain(self, timeout: float) -> None:
        message = self._pubsub.get_message(timeout=timeout)
        while message is not None:
            self._note(message)
            message = self._pubsub.get_message(timeout=0.0)

    def listen(self, timeout: float) -> None:
        """Block up to ``timeout`` seconds (and at most until the next rescan) for notices.
        A dropped connection is reopened (on another node if need be) by the next
        :meth:`follow`."""
        if self._pubsub is None:
            return
        block = max(0.0, min(timeout, MAX_LISTEN, self._rescan_at - time.monotonic()))
        try:
            self._drain(block)
        except redis.RedisError:
            self._drop()

    def wake(self) -> None:
        """Wake this follower's :meth:`listen` from another thread."""
        with self._lock:
            client = self._client
        if client is None:
            return
        # If the node is gone, the listener fails on its own and the sticky flag does the rest.
        with contextlib.suppress(redis.RedisError):
            client.publish(self._wake_channel, "1")

    def close(self) -> None:
        """Close the connections."""
        self._drop()
