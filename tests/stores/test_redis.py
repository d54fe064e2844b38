"""What only the Redis store has: lazy connections, outages, key layout, blocked readers."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from livedash import Hub
from livedash.errors import StoreError, StoreUnavailable
from livedash.stores import Retention, open_store
from livedash.stores.redis import RedisStore
from livedash.testing import free_port
from livedash.testing.redis import RedisServer

pytestmark = pytest.mark.redis


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server this test may stop and restart (AOF on, so restarts keep data)."""
    server = RedisServer(tmp_path / "redis", appendonly=True)
    yield server
    server.kill()


def _rec(stream: str, v: int) -> tuple[str, str, float]:
    return (stream, json.dumps({"v": v}), time.time())


def test_open_store_picks_redis_for_redis_urls(redis_url: str) -> None:
    store = open_store(redis_url, Retention(max_events=3))
    try:
        assert isinstance(store, RedisStore)
        store.append_many([_rec("m", i) for i in range(5)])
        assert [e.seq for e in store.read("m", 0)] == [3, 4, 5]  # the default retention holds
    finally:
        store.close()


def test_keys_live_under_the_prefix_and_prefixes_are_isolated(
    redis_server: RedisServer, redis_url: str
) -> None:
    a, b = RedisStore(redis_url, prefix="app-a:"), RedisStore(redis_url, prefix="app-b:")
    try:
        a.append_many([_rec("s", 1), _rec("s", 2)])
        assert b.head("s") == 0 and b.read("s", 0) == []
        assert b.append_many([_rec("s", 9)])[0].seq == 1
        with redis_server.client(1) as client:
            keys = sorted(k.decode() for k in client.keys("*"))
        assert keys == ["app-a:head:s", "app-a:stream:s", "app-b:head:s", "app-b:stream:s"]
    finally:
        a.close()
        b.close()


def test_max_events_keeps_exactly_the_newest(redis_server: RedisServer, redis_url: str) -> None:
    store = RedisStore(redis_url)
    try:
        store.set_retention("cap", Retention(max_events=100))
        for start in range(0, 1000, 250):  # several batches, as publishers would send them
            store.append_many([_rec("cap", v) for v in range(start, start + 250)])
        with redis_server.client(1) as client:
            assert client.xlen("livedash:stream:cap") == 100
        assert [e.data["v"] for e in store.read("cap", 0)] == list(range(900, 1000))
    finally:
        store.close()


def test_interrupt_wakes_a_blocked_xread_promptly(
    redis_server: RedisServer, redis_url: str
) -> None:
    store = RedisStore(redis_url)
    done = threading.Event()

    def wait() -> None:
        store.wait({"idle": 0}, 60)
        done.set()

    thread = threading.Thread(target=wait)
    thread.start()
    try:
        # Only interrupt once Redis reports the reader blocked in XREAD: this proves the wake-up
        # reaches a reader that is already blocked, not just one that has yet to block.
        deadline = time.monotonic() + 30
        with redis_server.client(1) as client:
            while not any(
                c.get("cmd") == "xread" and "b" in c.get("flags", "") for c in client.client_list()
            ):
                assert time.monotonic() < deadline, "the reader never blocked"
                time.sleep(0.01)
        store.interrupt()
        # The XREAD blocks in slices of 15 s; waking within 10 s shows interrupt() did it.
        assert done.wait(10), "interrupt() did not wake the blocked XREAD"
    finally:
        store.close()
        thread.join(timeout=30)


def test_store_and_hub_are_created_while_redis_is_down_and_fail_fast() -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    hub = Hub(url)  # connects lazily: no error here
    try:
        hub.stream("s", max_events=10)
        started = time.monotonic()
        with pytest.raises(StoreUnavailable, match=r"unreachable.*start Redis or fix"):
            hub.publish("s", {"v": 1})
        # Generous bound (shared, loaded machine): "fails fast" means no hang, not milliseconds.
        assert time.monotonic() - started < 10
        for call in (
            lambda: hub.store.read("s", 0),
            lambda: hub.store.last("s", 1),
            lambda: hub.store.head("s"),
            lambda: hub.store.wait({"s": 0}, 1),
            lambda: hub.store.acquire_lease("x", "me", 1),
        ):
            with pytest.raises(StoreUnavailable):
                call()
        hub.store.interrupt()  # must not raise: a blocked reader fails on its own
    finally:
        hub.close()


def test_store_recovers_when_redis_comes_back(own_redis: RedisServer) -> None:
    store = RedisStore(own_redis.url())
    try:
        with pytest.raises(StoreUnavailable):
            store.append_many([_rec("r", 1)])  # not started yet
        own_redis.start()
        assert store.append_many([_rec("r", 1)])[0].seq == 1
        own_redis.kill()
        with pytest.raises(StoreUnavailable):
            store.append_many([_rec("r", 2)])
        with pytest.raises(StoreUnavailable):
            store.wait({"r": 1}, 1)
        own_redis.start()  # AOF: the acknowledged event survived the SIGKILL
        assert [e.data["v"] for e in store.read("r", 0)] == [1]
        assert store.append_many([_rec("r", 2)])[0].seq == 2
    finally:
        store.close()


def test_wrong_password_is_a_store_error_that_says_so(redis_server: RedisServer) -> None:
    store = RedisStore(f"redis://nobody:wrong@127.0.0.1:{redis_server.port}/1")
    try:
        with pytest.raises(StoreError, match="credentials") as info:
            store.head("s")
        assert not isinstance(info.value, StoreUnavailable)
        assert "wrong" not in str(info.value)  # the password is never echoed
    finally:
        store.close()


def test_closed_store_says_so() -> None:
    store = RedisStore("redis://127.0.0.1:1/0")
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.head("s")


def test_appends_go_on_after_a_restart_no_append_saw(own_redis: RedisServer) -> None:
    """The append connection outlives a Redis restart that no append failed on (its socket is
    dead and Redis forgot the append script), and a failed script leaves it in step."""
    own_redis.start()
    store = RedisStore(own_redis.url())
    try:
        assert store.append_many([_rec("q", 1)])[0].seq == 1
        own_redis.kill()
        own_redis.start()
        assert store.append_many([_rec("q", 2)])[0].seq == 2
        with own_redis.client() as client:
            client.set("livedash:head:bad", "not a number")
        with pytest.raises(StoreError, match="not an integer"):
            store.append_many([_rec("bad", 1)])
        assert [e.seq for e in store.append_many([_rec("q", 3), _rec("q", 4)])] == [3, 4]
        assert [e.data["v"] for e in store.read("q", 0)] == [1, 2, 3, 4]
    finally:
        store.close()


def test_concurrent_appends_each_get_their_own_reply_or_error(redis_url: str) -> None:
    """Appends from many threads share round trips; each caller still gets exactly its own
    seqs, and one caller's failing append fails only that caller."""
    store = RedisStore(redis_url)
    threads, per_thread = 8, 100
    results: dict[int, list[int]] = {}
    errors: list[BaseException] = []
    go = threading.Barrier(threads + 1)

    def publish(t: int) -> None:
        go.wait()
        got = results.setdefault(t, [])
        for i in range(per_thread):
            got += [e.seq for e in store.append_many([_rec(f"c{t % 2}", t * 1000 + i)])]

    def fail() -> None:
        go.wait()
        for _ in range(per_thread):
            try:
                store.append_many([_rec("broken", 0)])
            except StoreError as exc:
                errors.append(exc)

    try:
        with redis.Redis.from_url(redis_url) as client:
            client.set("livedash:head:broken", "not a number")
        workers = [threading.Thread(target=publish, args=(t,)) for t in range(threads - 1)]
        workers.append(threading.Thread(target=fail))
        for w in workers:
            w.start()
        go.wait()
        for w in workers:
            w.join(timeout=60)
        assert len(errors) == per_thread
        for stream in ("c0", "c1"):
            events = store.read(stream, 0, 10_000)
            assert [e.seq for e in events] == list(range(1, len(events) + 1))
            for t in range(threads - 1):
                if f"c{t % 2}" == stream:
                    # each thread got back the seqs its own values were stored under
                    mine = [e.seq for e in events if e.data["v"] // 1000 == t]
                    assert mine == results[t] and len(mine) == per_thread
    finally:
        store.close()
