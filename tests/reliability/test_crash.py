"""Crashes under load: a worker is SIGKILLed and Redis is killed and restarted while events
flow; every surviving tab reconnects by itself and ends with every event exactly once.

Real everything: ``livedash serve`` with two uvicorn workers on a Redis of our own (AOF with
fsync on every write, so a killed Redis keeps what it acknowledged), events published over
HTTP ingest, headless tabs that resume with ``Last-Event-ID`` as EventSource does, and
Chromium tabs (two browsers, so two shared connections) whose client records every event it
hands to the graph.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from livedash.stores import open_store
from livedash.testing import ServeProcess, StreamClient, wait_until
from livedash.testing.redis import RedisServer
from tests.reliability.clients import DONE
from tests.scale.conftest import ROOT, TEST_APP

pytestmark = [pytest.mark.redis, pytest.mark.browser]

STREAM = "feed"
#: The test app's graphs keep 5000 points; stay below so every seq stays visible.
MAX_EVENTS = 4000
HEADLESS = 3
Y = "() => document.querySelector('#feed-graph .js-plotly-plot')?.data?.[0]?.y || []"
#: Records the seq of every event the page's livedash client applies to the feed graph.
RECORD = """() => {
  window.__seqs = [];
  window.livedash.onApply = (widget, e) => {
    if (widget.spec.kind === 'graph' && widget.spec.stream === 'feed') window.__seqs.push(e[1]);
  };
}"""


@pytest.fixture
def redis_db(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis", appendonly=True).start()
    yield server
    server.kill()


@pytest.fixture
def workers(redis_db: RedisServer, tmp_path: Path) -> Iterator[ServeProcess]:
    server = ServeProcess(TEST_APP, redis_db.url(), tmp_path / "serve.log", workers=2, cwd=ROOT)
    yield server.start()
    server.kill()


class Load(threading.Thread):
    """Publishes small batches over HTTP ingest until stopped (or ``MAX_EVENTS``), retrying
    what a crash refuses. Only the store says what was published; refusals are counted."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.sent = 0
        self.failures = 0
        self.stop = threading.Event()
        self.start()

    def post(self, events: list[dict[str, Any]]) -> bool:
        body = json.dumps({"events": [{"stream": STREAM, "data": d} for d in events]}).encode()
        req = urllib.request.Request(
            f"{self.url}/livedash/publish", data=body, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return bool(resp.status == 200)
        except (OSError, urllib.error.HTTPError):
            return False

    def run(self) -> None:
        while not self.stop.wait(0.02) and self.sent < MAX_EVENTS:
            if self.post([{"v": self.sent + i} for i in range(5)]):
                self.sent += 5
            else:
                self.failures += 1


def _clients_of(pid: int, port: int) -> set[int]:
    """The client-side ports of the connections process ``pid`` serves on ``port``."""
    try:
        conns = psutil.Process(pid).net_connections(kind="tcp")
    except psutil.Error:
        return set()
    return {
        c.raddr.port
        for c in conns
        if c.laddr and c.raddr and c.laddr.port == port and c.status == "ESTABLISHED"
    }


def _store_head(url: str) -> int:
    store = open_store(url)
    try:
        return store.head(STREAM)
    finally:
        store.close()


def test_tabs_survive_a_killed_worker_and_a_restarted_redis_with_every_event_once(
    redis_db: RedisServer, workers: ServeProcess, browser: Any
) -> None:
    contexts = [browser.new_context() for _ in range(2)]  # one tab each
    try:
        _run(redis_db, workers, contexts)
    finally:
        for ctx in contexts:
            ctx.close()


def _run(redis_db: RedisServer, server: ServeProcess, contexts: list[Any]) -> None:
    pages = [ctx.new_page() for ctx in contexts]
    for page in pages:
        page.goto(server.url)
        page.wait_for_function("() => window.livedash && window.livedash.state === 'live'")
        page.evaluate(RECORD)
    # Headless tabs: each resumes with Last-Event-ID whenever its connection drops or fails.
    readers = [StreamClient(server.url, STREAM, timeout=60).start() for _ in range(HEADLESS)]
    try:
        _check(redis_db, server, pages, readers)
    finally:
        # A failed check must not leave readers reconnecting into the tests that follow.
        for reader in readers:
            reader.close()


def _check(
    redis_db: RedisServer, server: ServeProcess, pages: list[Any], readers: list[StreamClient]
) -> None:
    for reader in readers:
        assert reader.subscribed.wait(30)
    worker_pids = server.worker_pids()
    assert len(worker_pids) == 2

    def everyone_past(n: int) -> bool:
        tabs = all(p.evaluate("() => window.__seqs.length") >= n for p in pages)
        return tabs and all(len(r.received) >= n for r in readers)

    load = Load(server.url)
    try:
        wait_until(lambda: everyone_past(100), 60, "every tab has 100 events")

        # 1. SIGKILL the worker holding the most connections; uvicorn starts another.
        victim = max(worker_pids, key=lambda pid: len(_clients_of(pid, server.port)))
        cut = _clients_of(victim, server.port)
        assert cut, "no client is connected to either worker"
        cut_readers = [r for r in readers if r.connections[-1].local_port in cut]
        os.kill(victim, signal.SIGKILL)
        wait_until(
            lambda: len(set(server.worker_pids()) - {victim}) == 2, 60, "a replacement worker"
        )
        after_kill = load.sent
        wait_until(lambda: everyone_past(after_kill + 50), 90, "tabs resume after the kill")

        # 2. Kill Redis under load (publishes are refused meanwhile), then start it again.
        failures = load.failures
        redis_db.kill()
        wait_until(lambda: load.failures > failures, 60, "a publish is refused while Redis is down")
        redis_db.start()
        after_redis = load.sent
        wait_until(lambda: everyone_past(after_redis + 50), 90, "tabs resume after Redis")
    finally:
        load.stop.set()
        load.join(30)

    # The last event tells the headless tabs they have everything there is.
    wait_until(lambda: load.post([DONE]), 60, "the final event is accepted")
    head = _store_head(redis_db.url())
    expected = list(range(1, head + 1))
    for reader in readers:
        reader.wait(lambda got: bool(got) and got[-1].data == DONE, 90, "the DONE event")
        reader.close()
        assert reader.seqs() == expected
        reader.check()
    # The headless tabs the killed worker was serving reconnected (to the other worker, or to
    # its replacement); the tabs resumed without a gap either way.
    assert all(r.reconnects >= 1 for r in cut_readers)
    for page in pages:
        page.wait_for_function(f"() => window.__seqs.at(-1) === {head}", timeout=60_000)
        assert page.evaluate("() => window.__seqs") == expected, "a tab missed or repeated one"
        assert page.evaluate("() => window.livedash.stats.gaps") == 0
        page.wait_for_function("() => window.livedash.state === 'live'", timeout=30_000)
        # The graph shows every point once, in order (the client appends with
        # Plotly.extendTraces: no dcc.Graph replay; tests/reliability/test_graph_load.py).
        assert page.evaluate(Y) == expected
