"""``livedash serve`` on an app with Dash's fastapi backend: uvicorn workers on one Redis."""

from __future__ import annotations

import os
from typing import Any

import psutil
import pytest

from livedash import ConfigError
from livedash.serve import check_app
from livedash.testing import ServeProcess, SSEClient
from tests.scale.conftest import ROOT, ServeFactory

pytestmark = pytest.mark.redis

APP = "tests.scale.asgi_apps:create_app"
EVENTS = 100
#: Most event streams opened while looking for one on each worker.
MAX_CLIENTS = 40


def _streams_per_worker(server: ServeProcess) -> dict[int, int]:
    """Established connections to the server's port, per uvicorn worker process."""
    assert server.proc is not None
    counts: dict[int, int] = {}
    for child in psutil.Process(server.proc.pid).children(recursive=True):
        try:
            conns = child.net_connections(kind="tcp")
        except psutil.NoSuchProcess:
            continue
        if any(c.laddr and c.laddr.port == server.port and not c.raddr for c in conns):
            counts[child.pid] = sum(
                1 for c in conns if c.laddr.port == server.port and c.status == "ESTABLISHED"
            )
    return counts


def test_two_uvicorn_workers_relay_what_the_ingest_takes_in_order(
    serve: ServeFactory, redis_url: str
) -> None:
    server = serve(APP, redis_url, workers=2)
    assert "(fastapi backend) with 2 uvicorn worker(s)" in server.output()
    clients: list[SSEClient] = []
    try:
        # The kernel hands each connection to either worker; open streams until both hold one.
        while True:
            client = SSEClient(server.port, "/livedash/events?stream=feed")
            clients.append(client)
            assert next(iter(client)).id == "feed:0"  # subscribed from here on
            per_worker = _streams_per_worker(server)
            if len(per_worker) == 2 and all(per_worker.values()):
                break
            assert len(clients) < MAX_CLIENTS, f"all streams on one worker: {per_worker}"
        published: list[tuple[int, Any]] = []
        for i in range(0, EVENTS, 5):  # each POST is a new connection: either worker ingests
            datas = [{"v": i + k} for k in range(5)]
            published += zip(server.publish("feed", *datas), datas, strict=True)
        assert [seq for seq, _ in published] == list(range(1, EVENTS + 1))
        for client in clients:
            assert client.collect("feed", EVENTS, others=True) == published
    finally:
        for client in clients:
            client.close()


def test_producer_runs_once_across_two_uvicorn_workers(serve: ServeFactory, redis_url: str) -> None:
    server = serve(APP, redis_url, workers=2, env={"LIVEDASH_TEST_TICK": "0.2"})
    client = SSEClient(server.port, "/livedash/events?stream=tick")
    try:
        ticks = client.collect("tick", 10, others=True)
    finally:
        client.close()
    # One producer in the deployment: consecutive seqs, all from the lease holder.
    assert [seq for seq, _ in ticks] == list(range(ticks[0][0], ticks[-1][0] + 1))
    assert len({data["pid"] for _, data in ticks[-5:]}) == 1


def test_the_app_check_refuses_what_cannot_load_in_one_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT / "examples"), str(ROOT)]))
    # Factories are only looked up, not called: the check builds no app.
    check_app("fastapi_app:create_app")
    check_app("scaled_app:create_app")
    check_app("seed")
    with pytest.raises(ConfigError, match="cannot load app 'no_such_module:create_app'"):
        check_app("no_such_module:create_app")
    with pytest.raises(ConfigError, match="cannot load app 'fastapi_app:no_such_factory'"):
        check_app("fastapi_app:no_such_factory")
