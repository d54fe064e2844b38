"""One app, several worker processes, one Redis: how `livedash serve` runs your own app.

Run (from the examples/ folder, so that `scaled_app` is importable):
    livedash serve scaled_app:create_app --workers 3 --store redis://127.0.0.1:6379/0
"""

import os
import time

from dash import Dash, html

from livedash import Hub, LiveText
from livedash.apps import AppOptions


def create_app(options: AppOptions) -> Dash:
    """Called once in every worker process, with the --store the command was given."""
    hub = Hub(options.store)

    @hub.every(1.0, stream="heartbeat")
    def heartbeat():
        # Runs in one worker at a time: the store gives the producer's lease to one of them.
        return {"pid": os.getpid(), "time": time.strftime("%H:%M:%S")}

    app = Dash(__name__)
    app.layout = html.Div([
        html.H1("Scaled out"),
        html.P(f"This page was served by worker {os.getpid()}.", id="served-by"),
        LiveText("heartbeat", "{time}: published by worker {pid}", id="heartbeat"),
    ])
    hub.init_app(app)
    return app
