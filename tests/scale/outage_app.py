"""The app ``tests/scale/test_outage.py`` serves to watch producers through a Redis outage.

Streams: ``tick``, published every :data:`TICK` seconds by ``@hub.every`` (once per
deployment, under a store lease), and ``beat``, by a :class:`livedash.sources.Every` that runs
in every process without a lease, so that it is called every tick whatever the store does.
Each of its calls appends a byte to the file ``$LIVEDASH_TEST_CALLS``: the test counts them to
know the outage lasted many ticks, without sleeping.
"""

from __future__ import annotations

import os
import time
from typing import Any

from dash import Dash, html

from livedash import Hub, LiveText
from livedash.apps import AppOptions
from livedash.sources import Every

#: Seconds between ticks of both producers.
TICK = 0.05


def create_app(options: AppOptions) -> Dash:
    """Build the outage test app on ``options.store``."""
    hub = Hub(options.store)
    calls = os.environ["LIVEDASH_TEST_CALLS"]

    @hub.every(TICK, stream="tick")
    def tick() -> dict[str, Any]:
        return {"t": time.time()}

    def beat() -> dict[str, Any]:
        with open(calls, "ab") as out:
            out.write(b".")
        return {"t": time.time()}

    hub.add_source(Every(TICK, beat, "beat", single=False))
    app = Dash(__name__, title="livedash outage test")
    app.layout = html.Div([LiveText("tick", "tick {seq}"), LiveText("beat", "beat {seq}")])
    hub.init_app(app)
    return app
