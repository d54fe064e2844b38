"""A server SIGKILLed mid-stream and started again on the same store: the open tab reconnects
by itself and resumes, with no gap and no duplicate."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import pytest

from livedash import Hub
from tests.scale.conftest import TEST_APP, ServeFactory

pytestmark = pytest.mark.browser

Y = "() => document.querySelector('#tick-graph .js-plotly-plot')?.data?.[0]?.y || []"


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def test_tab_resumes_after_the_server_is_killed_and_restarted(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path, serve: ServeFactory, context: Any
) -> None:
    url = request.getfixturevalue("redis_url") if kind == "redis" else f"sqlite:///{tmp_path}/r.db"
    server = serve(TEST_APP, url, env={"LIVEDASH_TEST_TICK": "0.1"})
    page = context.new_page()
    page.goto(server.url)
    page.wait_for_function(f"() => ({Y})().length >= 10", timeout=30_000)

    server.kill(signal.SIGKILL)
    page.wait_for_function("() => window.livedash.state !== 'live'", timeout=30_000)
    # While no server runs, another process keeps publishing into the same store.
    hub = Hub(url)
    try:
        offline = [hub.publish("tick", {"pid": 0}).seq for _ in range(5)]
    finally:
        hub.close()
    server.start()  # same port, same store; its producer continues the numbering

    page.wait_for_function(f"() => ({Y})().at(-1) >= {offline[-1] + 20}", timeout=60_000)
    page.wait_for_function("() => window.livedash.state === 'live'", timeout=30_000)
    ys = page.evaluate(Y)
    assert ys == list(range(ys[0], ys[0] + len(ys))), "a gap or a duplicate in the graph"
    assert set(offline) <= set(ys)  # what was published while the server was down is shown
    assert page.evaluate("() => window.livedash.stats.gaps") == 0
