"""Time-range reads: the store method, the downsampler and GET /livedash/range over HTTP."""

from __future__ import annotations

import json
import math
import random
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from dash import Dash, html

from livedash import Hub
from livedash.downsample import ALGORITHMS, Preselect, downsample_indices
from livedash.stores import MemoryStore, Retention, SQLiteStore, Store
from livedash.stores.redis import RedisStore
from livedash.transport import range as range_module
from livedash.transport.range import MAX_PAGE_BYTES, READS
from tests.conftest import LiveServer


@pytest.fixture(params=["memory", "sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    s: Store
    if request.param == "memory":
        s = MemoryStore()
    elif request.param == "sqlite":
        s = SQLiteStore(str(tmp_path / "r.db"))
    else:  # our own redis-server, database emptied (tests/redis_server.py)
        s = RedisStore(request.getfixturevalue("redis_url"))
    yield s
    s.close()


def _seed(store: Store, stream: str, start: float, n: int, step: float = 1.0) -> None:
    store.set_retention(stream, Retention(max_events=None))
    store.append_many([(stream, json.dumps({"v": i}), start + i * step) for i in range(n)])


# -- the store method ------------------------------------------------------------------------
def test_read_range_bounds_are_inclusive_and_ordered_by_seq(store: Store) -> None:
    _seed(store, "r", 1000.0, 100)
    got = store.read_range("r", 1010.0, 1019.0)
    assert [e.data["v"] for e in got] == list(range(10, 20))
    assert [e.seq for e in got] == list(range(11, 21))
    assert [e.data["v"] for e in store.read_range("r", 1095.0)] == [95, 96, 97, 98, 99]
    assert store.read_range("r", 2000.0) == []
    assert store.read_range("missing", 0.0) == []


def test_read_range_pages_with_limit_and_after_seq(store: Store) -> None:
    _seed(store, "r", 1000.0, 50)
    first = store.read_range("r", 1000.0, 1049.0, limit=20)
    second = store.read_range("r", 1000.0, 1049.0, limit=20, after_seq=first[-1].seq)
    third = store.read_range("r", 1000.0, 1049.0, limit=20, after_seq=second[-1].seq)
    values = [e.data["v"] for e in first + second + third]
    assert values == list(range(50))
    assert len(third) == 10
    assert store.read_range("r", 1000.0, limit=0) == []


def test_read_range_respects_age_retention(store: Store) -> None:
    now = time.time()
    store.set_retention("aged", Retention(max_events=None, max_age=60))
    store.append_many([("aged", '{"v":1}', now - 120), ("aged", '{"v":2}', now - 1)])
    assert [e.data["v"] for e in store.read_range("aged", 0.0)] == [2]


# -- the downsampler -------------------------------------------------------------------------
def _buckets(x: np.ndarray[Any, Any], n_buckets: int) -> list[np.ndarray[Any, Any]]:
    """Indices of each of ``n_buckets`` equal-width time buckets over [x[0], x[-1]]."""
    edges = np.linspace(x[0], x[-1], n_buckets + 1)
    which = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, n_buckets - 1)
    return [np.flatnonzero(which == k) for k in range(n_buckets)]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_minmax_keeps_each_buckets_min_and_max(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, n_out = 20_000, 400
    x = np.sort(rng.uniform(0, 86_400, n))
    y = np.cumsum(rng.standard_normal(n))
    y[rng.integers(0, n, 5)] += 1000  # spikes that a naive stride would miss
    kept = downsample_indices(x, y, n_out, "minmax")
    assert len(kept) <= n_out
    assert list(kept) == sorted(kept)
    chosen = set(kept.tolist())
    buckets = [b for b in _buckets(x, n_out // 2) if len(b)]
    assert len(buckets) > n_out // 4
    for bucket in buckets:
        lo = bucket[np.argmin(y[bucket])]
        hi = bucket[np.argmax(y[bucket])]
        assert lo in chosen and hi in chosen
    assert y.max() in y[kept] and y.min() in y[kept]


def test_minmaxlttb_returns_at_most_n_points_in_order() -> None:
    x = np.arange(50_000, dtype=np.float64)
    y = np.sin(x / 500.0)
    kept = downsample_indices(x, y, 2000, "minmaxlttb")
    assert 0 < len(kept) <= 2000
    assert kept[0] == 0 and kept[-1] == len(x) - 1
    assert list(kept) == sorted(set(kept.tolist()))


def test_short_series_come_back_whole_and_bad_arguments_are_refused() -> None:
    assert downsample_indices([1.0, 2.0, 3.0], [5.0, 6.0, 7.0], 2000).tolist() == [0, 1, 2]
    with pytest.raises(ValueError, match="n_out"):
        downsample_indices([1.0], [1.0], 2)
    with pytest.raises(ValueError, match="algorithm"):
        downsample_indices([1.0], [1.0], 10, "nope")  # type: ignore[arg-type]


# -- the route -------------------------------------------------------------------------------
KINDS = ["memory", "sqlite", pytest.param("redis", marks=pytest.mark.redis)]


def _url(request: pytest.FixtureRequest, kind: str, tmp_path: Path) -> str:
    if kind == "redis":
        return str(request.getfixturevalue("redis_url"))
    return "memory://" if kind == "memory" else f"sqlite:///{tmp_path / 'store.db'}"


def _serve(hub: Hub, live_server: Callable[[Any], LiveServer]) -> LiveServer:
    app = Dash(__name__)
    app.layout = html.Div("x")
    hub.init_app(app)
    return live_server(app)


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=30) as r:
        return json.loads(r.read())


def _status(url: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.mark.parametrize("kind", KINDS)
def test_range_route_downsamples_a_day_to_2000_points_per_trace(
    hub_factory: Callable[..., Hub],
    live_server: Callable[[Any], LiveServer],
    kind: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    hub = hub_factory(_url(request, kind, tmp_path))
    now = time.time()
    n = 86_400
    rnd = random.Random(7)
    hub.store.set_retention("day", Retention(max_events=None))
    records = []
    for i in range(n):
        cpu = 99.5 if i == 40_000 else rnd.uniform(0, 50)  # one spike in a day must survive
        data = {"cpu": {"total": cpu}, "mem": rnd.uniform(0, 100)}
        records.append(("day", json.dumps(data), now - n + i))
    # In batches: one 86,400-event append can outlast the store's command timeout (2 s for
    # Redis) on a loaded machine, which is not what this test is about.
    for start in range(0, n, 10_000):
        hub.store.append_many(records[start : start + 10_000])
    server = _serve(hub, live_server)
    body = _get(f"{server.url}/livedash/range?stream=day&span=90000&y=cpu.total&y=mem")
    assert body["count"] == n and body["downsampled"] and not body["truncated"]
    assert body["last_seq"] == n
    assert [t["field"] for t in body["traces"]] == ["cpu.total", "mem"]
    for trace in body["traces"]:
        assert 1000 < len(trace["x"]) <= 2000
        assert trace["x"] == sorted(trace["x"])
        assert trace["x"][0] == pytest.approx(now - n) and trace["x"][-1] == pytest.approx(now - 1)
    assert 99.5 in body["traces"][0]["y"]
    # A narrower window by explicit bounds, drawn against seq, not downsampled.
    query = f"stream=day&since={now - 60}&until={now}&y=mem&x=seq&points=500"
    body = _get(f"{server.url}/livedash/range?{query}")
    assert body["count"] == 60 and not body["downsampled"]
    assert body["traces"][0]["x"] == list(range(n - 59, n + 1))
    assert body["traces"][0]["t"] == [pytest.approx(now - n + i) for i in range(n - 60, n)]


def test_range_route_pages_raw_events_for_replay(
    hub_factory: Callable[..., Hub], live_server: Callable[[Any], LiveServer]
) -> None:
    hub = hub_factory()
    server = _serve(hub, live_server)
    for i in range(25):
        hub.publish("raw", {"i": i})
    since = time.time() - 60
    seen: list[int] = []
    after = 0
    while True:
        body = _get(
            f"{server.url}/livedash/range?stream=raw&since={since}&points=0&limit=10&after={after}"
        )
        seen += [e[3]["i"] for e in body["events"]]
        after = body["last_seq"]
        if not body["more"]:
            break
    assert seen == list(range(25))


@pytest.mark.parametrize(
    ("query", "needle"),
    [
        ("stream=bad%20name&span=10&y=v", "invalid stream name"),
        ("stream=s&y=v", "no window"),
        ("stream=s&span=10&since=5&y=v", "either since"),
        ("stream=s&span=10", "y=FIELD"),
        ("stream=s&span=10&y=v&points=2", "points"),
        ("stream=s&span=10&y=v&algo=magic", "unknown algo"),
        ("stream=s&since=100&until=50&y=v", "before since"),
    ],
)
def test_range_route_explains_bad_requests(
    hub_factory: Callable[..., Hub],
    live_server: Callable[[Any], LiveServer],
    query: str,
    needle: str,
) -> None:
    server = _serve(hub_factory(), live_server)
    status, body = _status(f"{server.url}/livedash/range?{query}")
    assert status == 400
    assert needle in body["error"]


@pytest.mark.parametrize("kind", KINDS)
def test_range_traces_skip_values_that_are_not_numbers(
    hub_factory: Callable[..., Hub],
    live_server: Callable[[Any], LiveServer],
    kind: str,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    hub = hub_factory(_url(request, kind, tmp_path))
    server = _serve(hub, live_server)
    values: list[Any] = [1, 2.5, True, "7", None, {"x": 1}, [3], -4]
    for i, v in enumerate(values):
        hub.publish("mixed", {"a": {"b": v}, "label": f"p{i}", "my-key": i})
    query = "stream=mixed&span=60&y=a.b&y=my-key&x=label"
    body = _get(f"{server.url}/livedash/range?{query}")
    ab, mykey = body["traces"]
    assert ab["y"] == [1, 2.5, -4]
    assert ab["x"] == ["p0", "p1", "p7"]
    assert mykey["y"] == list(range(8))
    status, err = _status(f"{server.url}/livedash/range?stream=mixed&span=60&y=a%22b")
    assert status == 400 and "double quote" in err["error"]


# -- bounded by what they return (issue 21) --------------------------------------------------
@pytest.mark.parametrize("chunk", [333, 997, 20_000])
def test_preselect_fed_in_chunks_keeps_every_spike(chunk: int) -> None:
    rng = np.random.default_rng(11)
    n, n_out = 100_000, 400
    t = np.sort(rng.uniform(0, 86_400, n))
    y = np.cumsum(rng.standard_normal(n))
    spikes = rng.choice(n, 6, replace=False)
    y[spikes[:3]] += 1000
    y[spikes[3:]] -= 1000
    pre = Preselect(n_out)
    for start in range(0, n, chunk):
        part = slice(start, start + chunk)
        pre.add(t[part], y[part], np.arange(n)[part])
    got_t, got_y, index, downsampled = pre.result("minmax")
    assert downsampled and n_out // 2 < len(got_y) <= n_out
    assert index is not None and list(index) == sorted(index)
    assert np.array_equal(got_y, y[index]) and np.array_equal(got_t, t[index])
    assert set(spikes.tolist()) <= set(index.tolist())
    assert y.max() in got_y and y.min() in got_y
    # Memory: never more than 2 * n_out candidates held, however long the series.
    assert len(pre._t) <= pre.capacity


def test_preselect_matches_the_whole_series_downsampler_up_to_its_capacity() -> None:
    rng = np.random.default_rng(5)
    n = 900  # within the 2 * n_out points kept as they come
    t = np.arange(n, dtype=np.float64)
    y = rng.standard_normal(n)
    for algorithm in ALGORITHMS:
        pre = Preselect(500)
        for start in range(0, n, 100):
            pre.add(t[start : start + 100], y[start : start + 100])
        got_t, got_y, _, downsampled = pre.result(algorithm)
        kept = downsample_indices(t, y, 500, algorithm)
        assert downsampled and np.array_equal(got_t, t[kept]) and np.array_equal(got_y, y[kept])
    small = Preselect(500)
    small.add(t[:300], y[:300])
    assert not small.result()[3] and np.array_equal(small.result()[1], y[:300])


def test_range_merges_repeated_fields_and_reads_x_like_a_y(
    hub_factory: Callable[..., Hub], live_server: Callable[[Any], LiveServer], tmp_path: Path
) -> None:
    hub = hub_factory(f"sqlite:///{tmp_path / 'deep.db'}")
    deep: dict[str, Any] = {"leaf": 1}
    for _ in range(60):
        deep = {"d": deep}
    now = time.time()
    hub.store.set_retention("big", Retention(max_events=None))
    hub.store.append_many(
        [
            ("big", json.dumps({"v": i % 7, "i": i, "deep": deep}), now - 3000 + i)
            for i in range(3000)
        ]
    )
    server = _serve(hub, live_server)
    query = "stream=big&since=0&points=1000&x=i" + "&y=v" * 32 + "&y=v,i,v"
    body = _get(f"{server.url}/livedash/range?{query}")
    assert [t["field"] for t in body["traces"]] == ["v", "i"]  # 32 + 2 repeats: two traces
    assert body["count"] == 3000 and body["downsampled"]
    v, i = body["traces"]
    assert 500 < len(v["x"]) <= 1000 and v["x"] == sorted(v["x"])
    assert all(isinstance(x, int) for x in v["x"]) and v["t"] == sorted(v["t"])
    assert i["x"] == i["y"]  # i against i
    # Thirty-three distinct fields are too many, however they are spelled.
    fields = ",".join(f"f{k}" for k in range(33))
    status, err = _status(f"{server.url}/livedash/range?stream=big&since=0&y={fields}")
    assert status == 400 and "at most 32" in err["error"]
    status, err = _status(f"{server.url}/livedash/range?stream=big&since=0&y={'a' * 201}")
    assert status == 400 and "at most 200" in err["error"]


def test_raw_pages_are_bounded_in_bytes_and_say_where_to_continue(
    hub_factory: Callable[..., Hub], live_server: Callable[[Any], LiveServer]
) -> None:
    hub = hub_factory()
    server = _serve(hub, live_server)
    blob = "x" * 60_000  # ~60 KB events: the default 10,000-event page would be 600 MB
    for i in range(40):
        hub.publish("fat", {"i": i, "blob": blob})
    seen: list[int] = []
    after, pages = 0, 0
    while True:
        url = f"{server.url}/livedash/range?stream=fat&since=0&points=0&after={after}"
        with urllib.request.urlopen(url, timeout=30) as r:
            raw = r.read()
        assert len(raw) <= MAX_PAGE_BYTES + 1000
        body = json.loads(raw)
        pages += 1
        seen += [e[3]["i"] for e in body["events"]]
        assert body["last_seq"] == body["events"][-1][1]
        after = body["last_seq"]
        if not body["more"]:
            break
    assert seen == list(range(40)) and pages == math.ceil(40 / (MAX_PAGE_BYTES // 60_020))
    # One event larger than the page budget still goes out, alone.
    hub.max_event_bytes = 2 * MAX_PAGE_BYTES
    hub.publish("huge", {"blob": "y" * (MAX_PAGE_BYTES + 10)})
    hub.publish("huge", {"blob": "z"})
    first = _get(f"{server.url}/livedash/range?stream=huge&since=0&points=0")
    assert len(first["events"]) == 1 and first["more"] and first["last_seq"] == 1
    second = _get(f"{server.url}/livedash/range?stream=huge&since=0&points=0&after=1")
    assert [e[1] for e in second["events"]] == [2] and not second["more"]


def test_range_answers_429_with_retry_after_while_the_read_pool_is_full(
    hub_factory: Callable[..., Hub], live_server: Callable[[Any], LiveServer]
) -> None:
    hub = hub_factory()
    hub.publish("s", {"v": 1})
    server = _serve(hub, live_server)
    release = threading.Event()
    started = threading.Semaphore(0)

    def hold() -> bytes:
        started.release()
        release.wait(60)
        return b""

    pool = READS
    jobs = []
    try:
        while (job := pool.submit(hold)) is not None:
            jobs.append(job)
        for _ in range(pool.workers):
            assert started.acquire(timeout=30)
        assert len(jobs) == pool.workers + pool.queue
        try:
            urllib.request.urlopen(f"{server.url}/livedash/range?stream=s&span=60&y=v", timeout=30)
        except urllib.error.HTTPError as exc:
            assert exc.code == 429 and exc.headers["Retry-After"] == "1"
            assert json.loads(exc.read())["reason"] == "busy"
        else:
            pytest.fail("a full read pool must answer 429")
    finally:
        release.set()
    for job in jobs:
        assert job.signal.wait(30) and job.result() == b""
    assert pool.admitted == 0
    assert _get(f"{server.url}/livedash/range?stream=s&span=60&y=v")["traces"][0]["y"] == [1]


def test_a_window_past_the_read_budget_keeps_its_newest_events(
    hub_factory: Callable[..., Hub],
    live_server: Callable[[Any], LiveServer],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setattr(range_module, "MAX_WINDOW_EVENTS", 1000)
    hub = hub_factory(f"sqlite:///{tmp_path / 'budget.db'}")
    now = time.time()
    hub.store.set_retention("long", Retention(max_events=None))
    hub.store.append_many([("long", json.dumps({"v": i}), now - 3000 + i) for i in range(3000)])
    server = _serve(hub, live_server)
    body = _get(f"{server.url}/livedash/range?stream=long&span=4000&y=v&points=500")
    assert body["truncated"] and body["count"] == 1000 and body["last_seq"] == 3000
    [trace] = body["traces"]
    assert min(trace["y"]) == 2000 and max(trace["y"]) == 2999
    # Bytes count too: events of ~2 KB against a 1 MB budget read about 500 of them.
    monkeypatch.setattr(range_module, "MAX_WINDOW_BYTES", 1024 * 1024)
    pad = "x" * 2000
    hub.store.append_many(
        [("fat", json.dumps({"v": i, "pad": pad}), now - 3000 + i) for i in range(3000)]
    )
    body = _get(f"{server.url}/livedash/range?stream=fat&span=4000&y=v&points=500")
    assert body["truncated"] and 400 <= body["count"] <= 600
    assert max(body["traces"][0]["y"]) == 2999
