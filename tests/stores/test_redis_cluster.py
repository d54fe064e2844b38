"""The Redis Cluster store on a real 3-master, 3-replica cluster: sharding, waking on every
shard, a master killed mid-traffic, clear errors, and a Dash app serving events from it."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from dash import Dash, html

from livedash import Hub
from livedash.errors import ConfigError, StoreError, StoreUnavailable
from livedash.events import Event
from livedash.stores import Retention, open_store
from livedash.stores.redis_cluster import RedisClusterStore
from livedash.testing import LiveServer, SSEClient, free_port
from livedash.testing.redis import RedisCluster
from tests.exactly_once import assert_acked_stored_once

pytestmark = pytest.mark.redis


def _record(stream: str, value: int) -> tuple[str, str, float]:
    return (stream, json.dumps({"v": value}), time.time())


def _stream_key(stream: str) -> str:
    return f"livedash:stream:{{{stream}}}"


def _one_stream_per_master(cluster: RedisCluster) -> list[str]:
    """Stream names whose keys live on different masters, one per master."""
    by_master: dict[int, str] = {}
    for i in range(200):
        by_master.setdefault(cluster.master_of(_stream_key(f"s{i}")).port, f"s{i}")
        if len(by_master) == cluster.masters:
            return list(by_master.values())
    raise AssertionError("200 names did not cover every master")


@pytest.fixture
def cluster_store(redis_cluster_url: str) -> Iterator[Callable[[], RedisClusterStore]]:
    opened: list[RedisClusterStore] = []

    def make() -> RedisClusterStore:
        opened.append(RedisClusterStore(redis_cluster_url))
        return opened[-1]

    yield make
    for store in opened:
        store.close()


def test_streams_spread_over_the_shards(
    redis_cluster: RedisCluster, cluster_store: Callable[[], RedisClusterStore]
) -> None:
    store = cluster_store()
    names = [f"spread{i}" for i in range(12)]
    store.append_many([_record(n, i) for i, n in enumerate(names)])
    owners = {n: redis_cluster.master_of(_stream_key(n)).port for n in names}
    assert len(set(owners.values())) == redis_cluster.masters
    for name in names:  # each stream's keys are on the master that owns its hash tag
        with redis_cluster.node(owners[name]).client() as client:
            assert client.exists(_stream_key(name), f"livedash:head:{{{name}}}") == 2
    assert [store.head(n) for n in names] == [1] * len(names)


def test_wait_wakes_on_an_event_from_every_shard(
    redis_cluster: RedisCluster, cluster_store: Callable[[], RedisClusterStore]
) -> None:
    reader, writer = cluster_store(), cluster_store()
    streams = _one_stream_per_master(redis_cluster)
    cursor = {s: 0 for s in streams}
    assert reader.wait(cursor, timeout=0.05) == []  # subscribed, nothing yet
    for i, stream in enumerate(streams):
        got: list[Event] = []
        waiter = threading.Thread(
            target=lambda into=got: into.extend(reader.wait(cursor, timeout=60))
        )
        waiter.start()
        writer.append_many([_record(stream, i)])
        waiter.join(timeout=30)
        assert not waiter.is_alive(), f"an event on the shard of {stream!r} did not wake wait()"
        assert [(e.stream, e.seq, e.data) for e in got] == [(stream, 1, {"v": i})]
        cursor[stream] = 1


def test_interrupt_wakes_a_wait_on_the_cluster(
    cluster_store: Callable[[], RedisClusterStore],
) -> None:
    store = cluster_store()
    store.wait({"idle": 0}, timeout=0.01)  # connected and subscribed: the next wait blocks
    done = threading.Event()

    def wait() -> None:
        store.wait({"idle": 0}, timeout=60)
        done.set()

    waiter = threading.Thread(target=wait)
    waiter.start()
    store.interrupt()
    waiter.join(timeout=10)
    assert done.is_set()


def test_unreachable_cluster_and_bad_urls_give_clear_errors() -> None:
    ports = [free_port(), free_port()]
    store = RedisClusterStore(f"redis+cluster://127.0.0.1:{ports[0]},127.0.0.1:{ports[1]}")
    try:
        with pytest.raises(StoreUnavailable) as err:
            store.append_many([_record("x", 1)])
        message = str(err.value)
        assert all(f"127.0.0.1:{p}" in message for p in ports)
        assert "--cluster-enabled yes" in message and "cluster_state:ok" in message
        with pytest.raises(StoreUnavailable):
            store.wait({"x": 0}, timeout=1)
    finally:
        store.close()
    for bad in (
        "redis+cluster://",
        "redis+cluster://127.0.0.1",
        "redis+cluster://127.0.0.1:port",
        "redis+cluster://127.0.0.1:70000",
        "redis+cluster://127.0.0.1:7000?retry_for=-1",
        "redis+cluster://127.0.0.1:7000?colour=blue",
    ):
        with pytest.raises(ConfigError, match=r"expected redis\+cluster://"):
            open_store(bad)


def test_a_dash_app_on_the_cluster_streams_events_in_order(
    redis_cluster_url: str, live_server: Callable[[Any], LiveServer]
) -> None:
    hub = Hub(redis_cluster_url)
    try:
        app = Dash(__name__)
        app.layout = html.Div("cluster")
        hub.init_app(app)
        server = live_server(app)
        client = SSEClient(server.port, "/livedash/events?stream=feed")
        try:
            messages = iter(client)
            next(m for m in messages if m.event == "message")  # subscribed
            for i in range(30):
                hub.publish("feed", {"i": i})
            got = client.collect("feed", 30)
        finally:
            client.close()
        assert got == [(i + 1, {"i": i}) for i in range(30)]
    finally:
        hub.close()


class _Traffic:
    """A publisher appending unique values to one stream and a reader following it, each
    on its own store handle, until stopped."""

    def __init__(self, url: str, stream: str) -> None:
        self.stream = stream
        self.writer, self.reader = RedisClusterStore(url), RedisClusterStore(url)
        for store in (self.writer, self.reader):
            store.set_retention(stream, Retention(max_events=None))
        self.acked: dict[int, int] = {}  # value -> seq, for appends that returned
        self.failed: list[str] = []  # appends that raised (stored or not: unknown)
        self.seen: list[tuple[int, int]] = []  # (seq, value) as the reader got them
        self.cursor = 0
        self.stop_publishing, self.stop_reading = threading.Event(), threading.Event()
        self.threads = [
            threading.Thread(target=self._publish),
            threading.Thread(target=self._read),
        ]

    def _publish(self) -> None:
        value = 0
        while not self.stop_publishing.is_set():
            value += 1
            try:
                [event] = self.writer.append_many([_record(self.stream, value)])
                self.acked[value] = event.seq
            except StoreError as exc:
                self.failed.append(str(exc))
            self.stop_publishing.wait(0.002)  # a steady feed, not a CPU-bound loop

    def _read(self) -> None:
        while not self.stop_reading.is_set():
            try:
                events = self.reader.wait({self.stream: self.cursor}, timeout=0.5)
            except StoreError:
                self.stop_reading.wait(0.1)
                continue
            for event in events:
                self.seen.append((event.seq, event.data["v"]))
                self.cursor = event.seq

    def until_acked(self, n: int) -> None:
        """Wait until ``n`` more appends were acknowledged."""
        target = len(self.acked) + n
        deadline = time.monotonic() + 60
        while len(self.acked) < target:
            assert time.monotonic() < deadline, f"publishing stalled; errors: {self.failed[-3:]}"
            time.sleep(0.01)

    def close(self) -> None:
        self.stop_publishing.set()
        self.stop_reading.set()
        for thread in self.threads:
            thread.join(timeout=30)
        self.writer.close()
        self.reader.close()


def test_killing_a_master_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    cluster = RedisCluster(tmp_path).start()
    traffic: _Traffic | None = None
    try:
        traffic = _Traffic(cluster.url(), "failover")
        master = cluster.master_of(_stream_key("failover"))
        replica = cluster.replica_of(master)
        # A lease on the same shard, held by A for the whole test.
        lease = next(
            f"job{i}" for i in range(200) if cluster.master_of(f"livedash:lease:job{i}") is master
        )
        leases = RedisClusterStore(cluster.url())
        assert leases.acquire_lease(lease, "A", ttl=120)
        for thread in traffic.threads:
            thread.start()
        traffic.until_acked(100)

        master.kill()  # SIGKILL: its replica takes over after cluster-node-timeout
        cluster.wait_for("the replica's promotion", lambda: cluster.role(replica) == "master")
        traffic.until_acked(100)  # appends go on on the new master
        master.start()  # back, as a replica of the new master
        cluster.wait_for("the old master's rejoin", lambda: cluster.role(master) == "slave")
        cluster.wait_healthy()
        traffic.until_acked(100)  # and with a replica again (WAIT 1 answered)

        traffic.stop_publishing.set()
        traffic.threads[0].join(timeout=30)
        head = traffic.writer.head("failover")
        deadline = time.monotonic() + 60
        while traffic.cursor < head:
            assert time.monotonic() < deadline, f"reader stuck at {traffic.cursor} of {head}"
            time.sleep(0.01)

        stored = traffic.writer.read("failover", 0, limit=1_000_000)
        assert len(stored) == head
        assert_acked_stored_once(stored, traffic.acked, "v")
        assert traffic.seen == [(e.seq, e.data["v"]) for e in stored]

        assert not leases.acquire_lease(lease, "B", ttl=120)
        assert leases.acquire_lease(lease, "A", ttl=120)
        leases.close()
    finally:
        if traffic is not None:
            traffic.close()
        cluster.stop()
