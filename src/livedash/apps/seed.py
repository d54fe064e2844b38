"""The classic Dash "real-time updates" page, in two flavours.

``poll``: the recipe as written (dcc.Interval firing a callback every second), on current Dash
imports. ``push``: the same page on livedash; one producer publishes once per second however
many tabs are open, and no request is made per update.
"""

from __future__ import annotations

import random
from datetime import datetime
from typing import Any

from dash import Dash, Input, Output, dcc, html

from livedash import Hub
from livedash.apps import AppOptions, frame
from livedash.components import LiveText

TITLE = "Real-Time Updates"
TEMPLATE = "Current Time: {time}, Random Number: {number}"


def seed_text() -> str:
    """The recipe's text for now."""
    return (
        f"Current Time: {datetime.now():%Y-%m-%d %H:%M:%S}, Random Number: {random.randint(0, 100)}"
    )


def create_poll_app() -> Dash:
    """The recipe exactly: an H1, a Div and a 1 s dcc.Interval firing a server callback."""
    app = Dash(__name__, title="livedash seed (poll)")
    app.layout = html.Div(
        [
            html.H1(TITLE),
            html.Div(id="live-update-text"),
            dcc.Interval(id="interval-component", interval=1000, n_intervals=0),
        ]
    )

    @app.callback(
        Output("live-update-text", "children"), Input("interval-component", "n_intervals")
    )
    def update_text(n: int) -> str:
        return seed_text()

    return app


def seed_layout() -> Any:
    """The seed page's layout on livedash (also used by the gallery)."""
    return html.Div(
        [html.H1(TITLE), LiveText("seed", TEMPLATE, id="live-update-text")],
        className="seed",
    )


def register_producers(hub: Hub) -> None:
    """Publish the seed event once per second."""

    @hub.every(1.0, stream="seed")
    def seed() -> dict[str, Any]:
        return {"time": f"{datetime.now():%Y-%m-%d %H:%M:%S}", "number": random.randint(0, 100)}

    hub.stream("seed", max_events=3600)


def create_push_app(hub: Hub) -> Dash:
    """The seed page on livedash push."""
    app = Dash(__name__, title="livedash seed")
    app.layout = frame.standalone("Seed", seed_layout())
    register_producers(hub)
    hub.init_app(app)
    return app


def create_app(options: AppOptions) -> Dash:
    """Factory used by ``livedash run seed``."""
    if options.transport == "poll":
        return create_poll_app()
    app = create_push_app(Hub(options.store))
    return app
