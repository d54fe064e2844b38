"""Time-range reads: the store method, the downsampler and GET /livedash/range over HTTP."""

from __future__ import annotations

import json
import random
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
from livedash.downsample import downsample_indices
from livedash.stores import MemoryStore, Retention, SQLiteStore, Store
from livedash.stores.redis import RedisStore
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
    hub.store.append_many(records)
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
