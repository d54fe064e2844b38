"""The app the scale tests serve with ``livedash serve tests.scale.apps:create_app``.

Streams: ``tick`` (published every ``$LIVEDASH_TEST_TICK`` seconds by a producer, when set,
with the publishing worker's pid) and ``feed`` (published by the tests, over HTTP or the store).
"""

from __future__ import annotations

import os
from typing import Any

from dash import Dash, html

from livedash import Hub, LiveGraph, LiveText
from livedash.apps import AppOptions

#: The graphs keep every point the tests publish, so a gap or a duplicate stays visible.
WINDOW = 5000


def create_app(options: AppOptions) -> Dash:
    """Build the test app on ``options.store``."""
    hub = Hub(options.store)
    for stream in ("tick", "feed"):
        hub.stream(stream, max_events=WINDOW)
    tick = os.environ.get("LIVEDASH_TEST_TICK")
    if tick:

        @hub.every(float(tick), stream="tick")
        def produce() -> dict[str, Any]:
            return {"pid": os.getpid()}

    app = Dash(__name__, title="livedash scale test")
    app.layout = html.Div(
        [
            LiveText("tick", "tick {seq} from {pid}", id="tick-text"),
            LiveGraph("tick", x="seq", y="seq", window=WINDOW, id="tick-graph"),
            LiveText("feed", "feed {seq}: {v}", id="feed-text"),
            LiveGraph("feed", x="seq", y="seq", window=WINDOW, id="feed-graph"),
        ]
    )
    hub.init_app(app)
    return app
