"""The app the ASGI serving tests run with ``livedash serve tests.scale.asgi_apps:create_app``:
the scale tests' streams on Dash's fastapi backend.

Streams: ``tick`` (published every ``$LIVEDASH_TEST_TICK`` seconds by a producer, when set,
with the publishing worker's pid) and ``feed`` (published by the tests, over HTTP).
"""

from __future__ import annotations

import os
from typing import Any

from dash import Dash, html

from livedash import Hub, LiveText
from livedash.apps import AppOptions


def create_app(options: AppOptions) -> Dash:
    """Build the test app on ``options.store``, on the backend named by
    ``$LIVEDASH_TEST_BACKEND`` (default fastapi)."""
    hub = Hub(options.store)
    tick = os.environ.get("LIVEDASH_TEST_TICK")
    if tick:

        @hub.every(float(tick), stream="tick")
        def produce() -> dict[str, Any]:
            return {"pid": os.getpid()}

    backend = os.environ.get("LIVEDASH_TEST_BACKEND", "fastapi")
    app = Dash(__name__, title="livedash asgi test", backend=backend)
    app.layout = html.Div(
        [
            LiveText("tick", "tick {seq} from {pid}", id="tick-text"),
            LiveText("feed", "feed {seq}: {v}", id="feed-text"),
        ]
    )
    hub.init_app(app)
    return app
