"""One contract, every store: the same tests run against each backend."""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from livedash.stores import MemoryStore, Record, Retention, SQLiteStore, Store
from livedash.stores.base import MAX_LABEL_CHARS, TS_SLACK, Columns, seq_window
from livedash.stores.redis import RedisStore
from livedash.stores.redis_cluster import RedisClusterStore

StoreFactory = Callable[[], Store]


def _records(stream: str, values: list[int]) -> list[tuple[str, str, float]]:
    return [(stream, json.dumps({"v": v}), time.time()) for v in values]


@pytest.fixture(
    params=[
        "memory",
        "sqlite",
        pytest.param("redis", marks=pytest.mark.redis),
        pytest.param("redis-cluster", marks=pytest.mark.redis),
    ]
)
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreFactory]:
    """Opens stores of one kind; a second call opens a second handle on the same data
    where the backend is shared (sqlite: same file; redis: same database; redis-cluster: same
    cluster)."""
    opened: list[Store] = []
    shared = MemoryStore()
    # Only the redis cases start (or reuse) a redis-server or cluster, with its data emptied.
    url = ""
    if request.param == "redis":
        url = request.getfixturevalue("redis_url")
    elif request.param == "redis-cluster":
        url = request.getfixturevalue("redis_cluster_url")

    def factory() -> Store:
        store: Store
        if request.param == "memory":
            store = shared
        elif request.param == "sqlite":
            store = SQLiteStore(str(tmp_path / "events.db"))
        elif request.param == "redis":
            store = RedisStore(url)
        else:
            store = RedisClusterStore(url)
        opened.append(store)
        return store

    yield factory
    for store in opened:
        store.close()


def test_seq_starts_at_one_and_increases_per_stream(make_store: StoreFactory) -> None:
    store = make_store()
    a = store.append_many(_records("a", [1, 2, 3]))
    b = store.append_many(_records("b", [9]))
    assert [e.seq for e in a] == [1, 2, 3]
    assert [e.seq for e in b] == [1]
    assert store.head("a") == 3
    assert store.head("missing") == 0


def test_read_after_cursor_and_last(make_store: StoreFactory) -> None:
    store = make_store()
    store.append_many(_records("s", list(range(10))))
    assert [e.seq for e in store.read("s", 7)] == [8, 9, 10]
    assert [e.seq for e in store.read("s", 0, limit=3)] == [1, 2, 3]
    assert [e.data["v"] for e in store.last("s", 2)] == [8, 9]
    assert store.last("s", 0) == []
    assert store.read("s", 10) == []


def test_max_events_retention_keeps_newest_and_seq_never_rewinds(make_store: StoreFactory) -> None:
    store = make_store()
    store.set_retention("r", Retention(max_events=5))
    store.append_many(_records("r", list(range(12))))
    kept = store.read("r", 0)
    assert [e.seq for e in kept] == [8, 9, 10, 11, 12]
    assert store.append_many(_records("r", [99]))[0].seq == 13


def test_max_age_retention_drops_old_events(make_store: StoreFactory) -> None:
    store = make_store()
    store.set_retention("old", Retention(max_events=None, max_age=60))
    now = time.time()
    store.append_many([("old", '{"v":1}', now - 120), ("old", '{"v":2}', now)])
    assert [e.data["v"] for e in store.read("old", 0)] == [2]
    assert [e.data["v"] for e in store.last("old", 10)] == [2]


def test_append_many_is_atomic_across_streams(make_store: StoreFactory) -> None:
    store = make_store()
    events = store.append_many(_records("x", [1]) + _records("y", [2]) + _records("x", [3]))
    assert [(e.stream, e.seq) for e in events] == [("x", 1), ("y", 1), ("x", 2)]


def test_concurrent_publishers_lose_nothing(make_store: StoreFactory) -> None:
    store = make_store()
    per_thread, threads = 200, 4

    def publish(tid: int) -> None:
        handle = make_store()
        for i in range(per_thread):
            handle.append_many(_records("c", [tid * 1000 + i]))

    workers = [threading.Thread(target=publish, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    events = store.read("c", 0, limit=10_000)
    assert [e.seq for e in events] == list(range(1, per_thread * threads + 1))
    assert sorted(e.data["v"] for e in events) == sorted(
        t * 1000 + i for t in range(threads) for i in range(per_thread)
    )
    # Each publisher's own events keep their order.
    for t in range(threads):
        mine = [e.data["v"] for e in events if e.data["v"] // 1000 == t]
        assert mine == sorted(mine)


def test_wait_returns_new_events_from_another_handle(make_store: StoreFactory) -> None:
    reader, writer = make_store(), make_store()
    writer.append_many(_records("w", [0]))
    got: list[int] = []

    def wait() -> None:
        got.extend(e.data["v"] for e in reader.wait({"w": 1}, timeout=30))

    t = threading.Thread(target=wait)
    t.start()
    writer.append_many(_records("w", [1, 2]))
    t.join(timeout=30)
    assert got == [1, 2]


def test_wait_times_out_empty_and_interrupt_wakes(make_store: StoreFactory) -> None:
    store = make_store()
    assert store.wait({"quiet": 0}, timeout=0.05) == []
    woke = threading.Event()

    def wait() -> None:
        store.wait({"quiet": 0}, timeout=60)
        woke.set()

    t = threading.Thread(target=wait)
    t.start()
    # interrupt() may land before wait() blocks; it is sticky, so either order wakes it.
    store.interrupt()
    t.join(timeout=30)
    assert woke.is_set()


def test_lease_is_exclusive_until_it_expires(make_store: StoreFactory) -> None:
    a, b = make_store(), make_store()
    # Long enough that b's first request (a cluster client's first one discovers the slots)
    # cannot outlast it on a loaded machine; the holder then renews it short, to expire.
    assert a.acquire_lease("job", "A", ttl=30)
    assert not b.acquire_lease("job", "B", ttl=30)
    assert a.acquire_lease("job", "A", ttl=0.3)  # renewal by the holder
    deadline = time.monotonic() + 10
    while not b.acquire_lease("job", "B", ttl=5):
        assert time.monotonic() < deadline, "lease never expired"
        time.sleep(0.05)
    assert not a.acquire_lease("job", "A", ttl=5)


def test_data_and_ts_round_trip_exactly(make_store: StoreFactory) -> None:
    store = make_store()
    data = {"text": "café ✓ \u2028", "nested": {"list": [1, 2.5, None, True]}, "n": -7}
    ts = 1_700_000_000.123456
    [stored] = store.append_many([("rt", json.dumps(data, ensure_ascii=False), ts)])
    [read] = store.read("rt", 0)
    assert read == stored
    assert (read.data, read.ts) == (data, ts)
    assert store.last("rt", 1) == [stored]


def test_reopened_store_keeps_events_and_seq(make_store: StoreFactory) -> None:
    first = make_store()
    first.append_many(_records("d", [1, 2]))
    first.close()
    second = make_store()
    assert [e.data["v"] for e in second.read("d", 0)] == [1, 2]
    assert second.head("d") == 2
    assert second.append_many(_records("d", [3]))[0].seq == 3


def test_seq_continues_after_every_event_expired(make_store: StoreFactory) -> None:
    store = make_store()
    store.set_retention("gone", Retention(max_events=None, max_age=60))
    old = time.time() - 3600
    store.append_many([("gone", '{"v":1}', old), ("gone", '{"v":2}', old)])
    assert store.read("gone", 0) == []
    assert store.last("gone", 5) == []
    assert store.head("gone") == 2
    assert store.append_many(_records("gone", [3]))[0].seq == 3
    assert [e.seq for e in store.read("gone", 0)] == [3]


def test_wait_follows_several_streams_from_their_own_positions(make_store: StoreFactory) -> None:
    reader, writer = make_store(), make_store()
    writer.append_many(_records("p", [1, 2, 3]) + _records("q", [10]))
    got = reader.wait({"p": 2, "q": 0, "never": 0}, timeout=30)
    assert sorted((e.stream, e.seq) for e in got) == [("p", 3), ("q", 1)]


def test_interrupt_wakes_a_wait_that_is_already_blocked(make_store: StoreFactory) -> None:
    store = make_store()
    entered = threading.Event()
    result: list[list[object]] = []

    def wait() -> None:
        entered.set()
        result.append(list(store.wait({"idle": 0}, timeout=60)))

    t = threading.Thread(target=wait)
    t.start()
    assert entered.wait(30)
    store.interrupt()
    t.join(timeout=10)  # well under the wait's own 60 s, and under Redis's 15 s block slices
    assert not t.is_alive(), "interrupt() did not wake a blocked wait"
    assert result == [[]]


# -- range reads: chunked, bounded by the window ---------------------------------------------
def _timed(stream: str, stamps: list[float]) -> list[Record]:
    return [(stream, json.dumps({"v": i}), ts) for i, ts in enumerate(stamps)]


def test_read_columns_pages_a_window_in_chunks_with_only_the_fields_asked(
    make_store: StoreFactory,
) -> None:
    store = make_store()
    store.set_retention("cols", Retention(max_events=None))
    base = 1_000_000.0
    records = [
        (
            "cols",
            json.dumps(
                {
                    "v": i,
                    "n": {"x": i * 0.5},
                    "flag": True,
                    "label": f"p{i}",
                    "long": "x" * (MAX_LABEL_CHARS + 1),
                    "obj": {"a": 1},
                }
            ),
            base + i,
        )
        for i in range(250)
    ]
    store.append_many(records)
    fields = ["v", "n.x", "flag", "missing", "obj"]
    labels = ["label", "long", "v", "flag"]
    chunks: list[Columns] = []
    after = 0
    while True:
        chunk = store.read_columns("cols", base + 10, base + 239, fields, 100, after, labels)
        chunks.append(chunk)
        if len(chunk.seqs) < 100:
            break
        after = chunk.seqs[-1]
    assert [len(c.seqs) for c in chunks] == [100, 100, 30]
    seqs = [q for c in chunks for q in c.seqs]
    assert seqs == list(range(11, 241))
    assert [t for c in chunks for t in c.ts] == [base + i for i in range(10, 240)]
    v, nx, flag, missing, obj = ([x for c in chunks for x in c.values[k]] for k in range(5))
    assert v == list(range(10, 240)) and nx == [i * 0.5 for i in range(10, 240)]
    # Booleans, objects and absent fields are not numbers: None, a gap in a trace.
    assert set(flag) == set(missing) == set(obj) == {None}
    label, long, v_label, flag_label = ([x for c in chunks for x in c.labels[k]] for k in range(4))
    assert label == [f"p{i}" for i in range(10, 240)]
    assert set(long) == {None}  # longer than MAX_LABEL_CHARS
    assert v_label == list(range(10, 240)) and set(flag_label) == {None}
    assert store.read_columns("cols", base + 1000, None, ["v"]).seqs == []
    # What a chunk cost in stored JSON: a store that keeps text counts it.
    if not isinstance(store, MemoryStore):
        assert chunks[0].scanned >= 100 * len(records[0][1])
    assert store.read_columns("missing", 0.0, None, ["v"]).values == [[]]


def test_a_window_at_the_end_of_a_long_stream_and_one_in_its_middle(
    make_store: StoreFactory,
) -> None:
    store = make_store()
    store.set_retention("long", Retention(max_events=None))
    base = 2_000_000.0
    stamps = [base + i for i in range(3000)]
    # Publishers stamp before the store orders them: seq 1502 carries an earlier ts than
    # seq 1501, within TS_SLACK, and the window starting between them still holds both.
    stamps[1501] = base + 1500 - TS_SLACK / 2
    store.append_many(_timed("long", stamps))
    tail = store.read_range("long", base + 2990)
    assert [e.seq for e in tail] == list(range(2991, 3001))
    middle = store.read_range("long", base + 1499.9, base + 1502)
    assert [e.seq for e in middle] == [1501, 1503]
    wobbly = store.read_range("long", base + 1500 - TS_SLACK, base + 1502)
    assert [e.seq for e in wobbly] == [
        q for q in range(1, 3001) if base + 1500 - TS_SLACK <= stamps[q - 1] <= base + 1502
    ]
    # Paged with after_seq inside a bounded window.
    first = store.read_range("long", base + 100, base + 109, limit=6)
    rest = store.read_range("long", base + 100, base + 109, limit=6, after_seq=first[-1].seq)
    assert [e.seq for e in first + rest] == list(range(101, 111))
    cols = store.read_columns("long", base + 2995, None, ["v"])
    assert cols.seqs == list(range(2996, 3001)) and cols.values == [list(range(2995, 3000))]
    assert store.read_range("long", base + 5000) == []
    assert store.read_range("long", 0.0, base - 1) == []
    # The window's seqs, before reading it: a count to budget a read by.
    after, last = store.window("long", base + 2990, None)
    assert last == 3000 and 2990 - TS_SLACK - 1 <= after < 2991
    after, last = store.window("long", base + 100, base + 109)
    assert after < 101 and last >= 110 and last - after <= 10 + 2 * TS_SLACK + 2
    assert store.window("missing", 0.0, None) == (0, 0)
    assert store.window("long", base + 5000, None)[1] <= store.window("long", base + 5000, None)[0]


def test_seq_window_bisects_instead_of_scanning() -> None:
    n = 1_000_000
    probes: list[int] = []

    def first_at(seq: int) -> tuple[int, float] | None:
        probes.append(seq)
        return (seq, float(seq)) if seq <= n else None

    newest = (n, float(n))
    assert seq_window(first_at, newest, 900_000.0, None, 0) == (
        900_000 - int(TS_SLACK) - 1,
        n,
    )
    assert len(probes) <= 2 + math.ceil(math.log2(n))
    probes.clear()
    after, last = seq_window(first_at, newest, 500_000.0, 500_100.0, 0)
    assert after < 500_000 - TS_SLACK and last >= 500_100 + TS_SLACK
    assert last - after <= 100 + 2 * TS_SLACK + 2
    assert len(probes) <= 3 + 2 * math.ceil(math.log2(n))
    # The next chunk of a window starts where the last ended: one probe.
    probes.clear()
    seq_window(first_at, newest, 900_000.0, None, 950_000)
    assert len(probes) == 1
    assert seq_window(first_at, None, 0.0, None, 0) == (0, 0)


# -- the streams a store records, for the deployment-wide limit -------------------------------
def test_admit_streams_refuses_past_the_limit_and_adds_none(make_store: StoreFactory) -> None:
    store, other = make_store(), make_store()
    assert store.stream_count() == 0
    assert store.admit_streams(["a", "b", "a"], 3)
    assert store.stream_count() == 2
    assert other.admit_streams(["c"], 3)  # another handle, process or worker: one count
    assert store.stream_count() == 3
    assert not store.admit_streams(["d"], 3)
    assert not other.admit_streams(["a", "e"], 3)  # one new name too many: none is added
    assert store.stream_count() == 3
    assert store.admit_streams(["a", "c"], 3)  # known names pass at the limit
    assert store.admit_streams(["d", "e"], None)
    assert other.stream_count() == 5
    # An admitted stream has no event yet; its first append is seq 1.
    assert store.head("d") == 0
    assert store.append_many(_records("d", [1]))[0].seq == 1
