"""Redis Cluster store: the Redis store's streams spread over the shards of a cluster.

``redis+cluster://host:port,host:port[,...]`` names some nodes of the cluster (any of them
finds the rest). Keys are those of :mod:`livedash.stores.redis_layout` with the stream name
as a hash tag (``livedash:head:{name}``, ``livedash:stream:{name}``), so the Lua append of
one stream touches one slot, and streams spread over the shards by name. Reads, retention
and leases are :class:`~livedash.stores.redis_streams.StreamsStore`'s, as for one Redis.

What differs from one Redis (this peer's transport):

- **Appends** go to the master of each stream's slot, group-committed per master. A batch over
  several streams is split by slot: all or none per slot, not across slots. When the master
  has a replica, each round ends with ``WAIT 1`` so an acknowledged append is on two nodes and
  survives the master's death (replication is asynchronous otherwise).
- **Waiting**: one XREAD cannot name keys of different slots (CROSSSLOT), even on one node. So
  the append script also PUBLISHes each stream's new head on a channel named after its key;
  :meth:`RedisClusterStore.wait` holds one pub/sub connection to any node (a cluster delivers
  PUBLISH to every node), reads the streams a notice names, and rereads every followed stream
  every :data:`RESCAN` seconds and after a reconnect, in case a notice was lost.
- **Failover**: reads, and appends that were not sent or not run (MOVED, ASK, TRYAGAIN,
  CLUSTERDOWN, a master refusing connections) are retried for ``retry_for`` seconds while
  the cluster promotes a replica. An append whose reply was lost is not resent (it may be
  stored): it raises :class:`~livedash.errors.StoreUnavailable`.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar, cast

import redis
from redis.backoff import NoBackoff
from redis.cluster import ClusterNode, RedisCluster
from redis.crc import key_slot
from redis.exceptions import (
    AskError,
    ClusterDownError,
    MasterDownError,
    MovedError,
    RedisClusterException,
    SlotNotCoveredError,
    TryAgainError,
)
from redis.retry import Retry

from livedash.errors import StoreError, StoreUnavailable
from livedash.events import Cursor, Event
from livedash.stores.base import Retention
from livedash.stores.cluster_url import ClusterAddress, parse_cluster_url
from livedash.stores.redis_commit import GroupCommit, NotSent
from livedash.stores.redis_follow import Follower
from livedash.stores.redis_layout import Keys
from livedash.stores.redis_streams import COMMAND_TIMEOUT, CONNECT_TIMEOUT, StreamsStore

__all__ = ["RedisClusterStore", "parse_cluster_url"]

log = logging.getLogger("livedash")
_T = TypeVar("_T")

#: Replies that mean the command did not run: retry it once the cluster has settled.
_NOT_RUN = (
    MovedError,
    AskError,
    TryAgainError,
    ClusterDownError,
    MasterDownError,
    SlotNotCoveredError,
    NotSent,
)
#: Failures a read retries (reads are idempotent, so a lost reply may be asked again).
_TRANSIENT = (*_NOT_RUN, redis.ConnectionError, redis.TimeoutError, RedisClusterException)
#: How often a master's replica count is checked again (ROLE), so WAIT starts when a
#: replica joins (a failed master back as a replica) and stops when the last one leaves.
ROLE_CHECK = 1.0
#: Longest pause between two retries during a failover.
RETRY_CAP = 0.5


def _node(host: str, port: int) -> ClusterNode:
    return ClusterNode(host, port)  # type: ignore[no-untyped-call, unused-ignore]


class _ReplicatedCommit(GroupCommit):
    """A group commit to one master that ends each round with ``WAIT 1`` while the master
    has a replica, and fails the round's appends when no replica confirms them in time."""

    def __init__(
        self, pool: redis.ConnectionPool, script: str, node: str, replica_timeout: float
    ) -> None:
        super().__init__(pool, script)
        self.node = node
        self.replica_timeout = replica_timeout
        self.replicas = 0
        self._role_checked = float("-inf")

    def _exchange(self, conn: Any, commands: list[bytes]) -> list[Any]:
        if time.monotonic() - self._role_checked > ROLE_CHECK:
            conn.send_command("ROLE")
            role = conn.read_response()
            replicas = len(role[2]) if role[0] == "master" else 0
            if replicas == 0 and self.replicas > 0:
                log.warning(
                    "livedash: Redis master %s has no replica now; its appends are not "
                    "replicated (a failover can lose them) until one is back",
                    self.node,
                )
            self.replicas, self._role_checked = replicas, time.monotonic()
        replies = super()._exchange(conn, commands)
        if self.replicas == 0 or all(isinstance(r, Exception) for r in replies):
            return replies
        conn.send_command("WAIT", 1, max(1, int(self.replica_timeout * 1000)))
        if int(conn.read_response()) >= 1:
            return replies
        self._role_checked = float("-inf")  # the replica may be gone: ask again next round
        return [
            r
            if isinstance(r, Exception)
            else StoreUnavailable(
                f"stored on Redis master {self.node}, but no replica confirmed it within "
                f"{self.replica_timeout:g}s: it may be lost if that master fails now; check "
                f"the replica (redis-cli -h HOST -p PORT info replication on {self.node})"
            )
            for r in replies
        ]


class RedisClusterStore(StreamsStore):
    """Events in Redis Streams spread over a Redis Cluster
    (``redis+cluster://host:port,host:port[,...]``; see the module docstring).

    ``retry_for`` bounds how long an operation retries during a failover (the cluster's
    ``cluster-node-timeout`` plus an election: a few seconds at 1 s, ~20 s at the default
    15 s); ``replica_timeout`` how long an append waits for a replica to confirm it."""

    # Each append tells the followers of its streams (see the module docstring).
    each_stream = "redis.call('PUBLISH', key, seq)"

    def __init__(
        self,
        url: str,
        default_retention: Retention | None = None,
        *,
        prefix: str = "livedash:",
    ) -> None:
        self.address: ClusterAddress = parse_cluster_url(url)
        where = "Redis Cluster " + ",".join(f"{h}:{p}" for h, p in self.address.nodes)
        # Hash tags: a stream's head and its entries hash to one slot, so the append script
        # touches one shard.
        keys = Keys(prefix, hash_tags=True)
        super().__init__(url, default_retention, keys=keys, where=where)
        self.retry_for = self.address.retry_for
        self.replica_timeout = self.address.replica_timeout
        self._cluster: RedisCluster | None = None
        self._init_lock = threading.Lock()
        self._committers: dict[str, _ReplicatedCommit] = {}
        self._wake_channel = self.keys.wake(f"{id(self):x}:{time.time_ns():x}")
        self._followers: list[Follower] = []
        self._follower_of: dict[int, Follower] = {}

    # -- connections --------------------------------------------------------------------
    def node_options(self) -> dict[str, Any]:
        """redis-py options for a connection to one node (credentials, timeouts)."""
        return {
            "decode_responses": True,
            "socket_connect_timeout": CONNECT_TIMEOUT,
            "socket_timeout": COMMAND_TIMEOUT,
            "username": self.address.username,
            "password": self.address.password,
        }

    def _client(self) -> RedisCluster:
        """The cluster client, created on first use (so a store opens while the cluster is
        down); :class:`StoreUnavailable` naming the nodes tried when none answers."""
        if self._closed:
            raise StoreError("this Redis Cluster store was closed")
        with self._init_lock:
            if self._cluster is None:
                try:
                    # redis-py retries nothing itself: _run and _commit_to retry with a
                    # deadline (it still follows MOVED/ASK redirects and refreshes slots).
                    self._cluster = RedisCluster(
                        startup_nodes=[_node(h, p) for h, p in self.address.nodes],
                        retry=Retry(NoBackoff(), 0),
                        **self.node_options(),
                    )
                except (RedisClusterException, redis.RedisError) as exc:
                    raise StoreUnavailable(
                        f"cannot reach {self._where}: no node answered as a cluster node "
                        f"({exc}); check that redis-server runs on those addresses with "
                        "--cluster-enabled yes, that `redis-cli --cluster create` joined them, "
                        "and that `redis-cli -h HOST -p PORT cluster info` says "
                        "cluster_state:ok"
                    ) from exc
            return self._cluster

    def _follow_nodes(self) -> list[tuple[str, int]]:
        """Nodes a follower may listen on: every node the cluster knows, then those of the URL."""
        nodes = cast(list[ClusterNode], self._client().get_nodes())  # type: ignore[no-untyped-call, unused-ignore]
        known = [(n.host, int(n.port)) for n in nodes]
        return known + [n for n in self.address.nodes if n not in known]

    def _translate(self, action: str, exc: redis.RedisError) -> StoreError:
        if isinstance(exc, (ClusterDownError, SlotNotCoveredError, MasterDownError)):
            return StoreUnavailable(
                f"cannot {action}: {self._where} is down or has a slot no master serves "
                f"({exc}); a failed master with no replica stops the cluster: restart it, and "
                "check `redis-cli --cluster check HOST:PORT`"
            )
        if isinstance(exc, RedisClusterException) and not isinstance(exc, redis.RedisError):
            return StoreUnavailable(f"cannot {action}: {self._where} failed ({exc}); retry")
        return super()._translate(action, exc)

    def _retry(self, action: str, attempt: Callable[[RedisCluster], _T], retriable: Any) -> _T:
        """``attempt(client)``, retried on ``retriable`` errors for ``retry_for`` seconds
        with the slot map refreshed in between; then the livedash error."""
        deadline = time.monotonic() + self.retry_for
        delay = 0.02
        while True:
            client = self._client()
            try:
                return attempt(client)
            except retriable as exc:
                if time.monotonic() + delay > deadline or self._closed:
                    raise self._translate(action, exc) from exc
                time.sleep(delay)
                delay = min(RETRY_CAP, delay * 2)
                # If this fails, the next attempt fails (and waits) again, or the deadline ends it.
                with contextlib.suppress(RedisClusterException, redis.RedisError):
                    client.nodes_manager.initialize()
            except redis.RedisError as exc:
                raise self._translate(action, exc) from exc

    def _run(self, action: str, op: Callable[[Any], _T]) -> _T:
        return self._retry(action, op, _TRANSIENT)

    # -- appends ------------------------------------------------------------------------
    def _shard(self, stream: str) -> int:
        return key_slot(self.keys.head(stream).encode())

    def _commit(self, shard: int, command: bytes, action: str) -> list[int]:
        return self._retry(action, lambda client: self._commit_to(client, shard, command), _NOT_RUN)

    def _commit_to(self, client: RedisCluster, slot: int, command: bytes) -> list[int]:
        node = client.nodes_manager.get_node_from_slot(slot)
        with self._lock:
            committer = self._committers.get(node.name)
            if committer is None:
                committer = self._committers[node.name] = _ReplicatedCommit(
                    node.redis_connection.connection_pool,
                    self._append_script,
                    node.name,
                    self.replica_timeout,
                )
        return cast(list[int], committer.commit(command))

    # -- waiting ------------------------------------------------------------------------
    def _follower(self) -> Follower:
        """This thread's pub/sub follower (each waiting thread has its own connection)."""
        key = threading.get_ident()
        with self._lock:
            follower = self._follower_of.get(key)
            if follower is None:
                follower = self._follower_of[key] = Follower(
                    self._follow_nodes, self.node_options(), self.keys.stream, self._wake_channel
                )
                self._followers.append(follower)
            return follower

    def wait(self, cursor: Cursor, timeout: float, limit: int = 1000) -> list[Event]:
        deadline = time.monotonic() + timeout
        follower = self._follower()
        while True:
            with self._errors("wait for new events"):
                follower.follow(cursor)
            due = follower.due(cursor)
            if due:
                events = self._read_due(follower, due, cursor, limit)
                if events:
                    return events
            # Checked once the follower listens on the wake channel: an interrupt() after
            # this check reaches it as a message, one before it is seen here.
            with self._lock:
                if self._interrupted:
                    self._interrupted = False
                    return []
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return []
            with self._errors("wait for new events"):
                follower.listen(remaining)

    def _read_due(
        self, follower: Follower, due: list[str], cursor: Cursor, limit: int
    ) -> list[Event]:
        def op(client: RedisCluster) -> list[Any]:
            pipe = client.pipeline()  # type: ignore[no-untyped-call, unused-ignore]
            for stream in due:
                pipe.xrange(self.keys.stream(stream), f"{cursor[stream] + 1}-0", "+", limit)
            return cast(list[Any], pipe.execute())

        replies = self._run("wait for new events", op)
        events: list[Event] = []
        for stream, entries in zip(due, replies, strict=True):
            got = self._events(stream, entries, self._retentions.cutoff(stream))
            if entries and not got:  # every entry outlived max_age: page past them
                got = self.read(stream, cursor[stream], limit)
            events += got
            follower.read_up_to(stream, entries, cursor[stream], limit)
        return events

    def _wake(self) -> None:
        # A message on this store's wake channel, which every follower of this store hears.
        with self._lock:
            followers = list(self._followers)
        for follower in followers:
            follower.wake()

    def _disconnect(self) -> None:
        with self._lock:
            committers, self._committers = list(self._committers.values()), {}
            followers, self._followers = self._followers, []
            self._follower_of.clear()
            cluster, self._cluster = self._cluster, None
        for committer in committers:
            committer.close()
        for follower in followers:
            follower.close()
        if cluster is not None:
            cluster.close()
