"""Late joiners: a tab opened after 500 events shows the history window at once."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from dash import Dash, html

from livedash import Hub, LiveGraph, LiveText
from livedash.testing import LiveServer

pytestmark = pytest.mark.browser

WINDOW = 100
Y = "() => document.querySelector('#hist-graph .js-plotly-plot')?.data?.[0]?.y || []"


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def test_tab_opened_after_500_events_shows_the_window_at_once(
    kind: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    context: Any,
    hub_factory: Callable[..., Hub],
    live_server: Callable[[Any], LiveServer],
) -> None:
    url = request.getfixturevalue("redis_url") if kind == "redis" else f"sqlite:///{tmp_path}/h.db"
    hub = hub_factory(url)
    for start in range(0, 500, 100):
        hub.publish_many(("hist", {"v": v}) for v in range(start, start + 100))
    app = Dash(__name__)
    app.layout = html.Div(
        [
            LiveText("hist", "latest {v} (seq {seq})", id="hist-text"),
            LiveGraph("hist", x="seq", y="v", window=WINDOW, id="hist-graph"),
        ]
    )
    hub.init_app(app)
    page = context.new_page()
    page.goto(live_server(app).url)
    page.wait_for_function(f"() => ({Y})().length > 0", timeout=30_000)
    # The first drawing already holds the whole window: one extendData, the last 100 points.
    assert page.evaluate(Y) == list(range(400, 500))
    assert page.evaluate("() => window.livedash.stats.extends") == 1
    page.wait_for_function(
        "() => document.querySelector('#hist-text').textContent === 'latest 499 (seq 500)'",
        timeout=30_000,
    )
    # Live events continue the window without a gap.
    hub.publish("hist", {"v": 500})
    page.wait_for_function(f"() => ({Y})().at(-1) === 500", timeout=30_000)
    assert page.evaluate(Y) == list(range(401, 501))
    assert page.evaluate("() => window.livedash.stats.gaps") == 0
