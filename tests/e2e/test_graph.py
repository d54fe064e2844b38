"""LiveGraph across ten tabs: every point shown exactly once, no tab stalls."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from dash import Dash, html

from livedash import Hub, LiveGraph
from livedash.testing import LiveServer

pytestmark = [pytest.mark.browser, pytest.mark.heavy]

POINTS = 60
Y_OF = "() => document.querySelector('#g .js-plotly-plot')?.data?.[0]?.y || []"


def test_ten_graph_tabs_show_every_point_exactly_once(
    context: Any, hub_factory: Callable[..., Hub], live_server: Callable[[Any], LiveServer]
) -> None:
    hub = hub_factory()
    app = Dash(__name__)
    app.layout = html.Div([LiveGraph("pts", x="seq", y="i", window=1000, id="g")])
    hub.init_app(app)
    server = live_server(app)
    stop = threading.Event()

    def feed() -> None:  # 10 points per second
        for i in range(POINTS):
            if stop.wait(0.1):
                return
            hub.publish("pts", {"i": i})

    feeder = threading.Thread(target=feed)
    feeder.start()
    try:
        pages = []
        for _ in range(10):  # tabs join while the feed runs: the late ones get history
            page = context.new_page()
            page.goto(server.url)
            pages.append(page)
        feeder.join()
        expected = list(range(POINTS))
        for page in pages:
            page.wait_for_function(
                f"() => JSON.stringify(({Y_OF})()) === JSON.stringify({expected})",
                timeout=60_000,
            )
            assert page.evaluate("() => window.livedash.stats.gaps") == 0
    finally:
        stop.set()
        feeder.join()
