"""An app on Dash's fastapi backend, served by uvicorn workers on one Redis.

Run (from the examples/ folder, so that `fastapi_app` is importable):
    livedash serve fastapi_app:create_app --workers 2 --store redis://127.0.0.1:6379/0

`livedash serve` sees backend="fastapi" and serves the app as it is, with no WSGI adapter;
livedash's routes run as ASGI middleware, where an open event stream costs a coroutine.
"""

import os
import random
import time

from dash import Dash, html

from livedash import Hub, LiveGraph, LiveText
from livedash.apps import AppOptions


def create_app(options: AppOptions) -> Dash:
    """Called once in every worker process, with the --store the command was given."""
    hub = Hub(options.store)

    @hub.every(1.0, stream="reading")
    def reading():
        # One worker at a time runs this: the store gives the producer's lease to one of them.
        return {"pid": os.getpid(), "time": time.strftime("%H:%M:%S"), "value": random.random()}

    app = Dash(__name__, backend="fastapi")
    app.layout = html.Div([
        html.H1("On FastAPI"),
        LiveText("reading", "{time}: {value:.3f} from worker {pid}", id="reading"),
        LiveGraph("reading", x="seq", y="value", window=60, id="reading-graph"),
    ])
    hub.init_app(app)
    return app
