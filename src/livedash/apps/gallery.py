"""The gallery: every shipped app as a page of one multi-page Dash app, on one Hub.

``livedash run`` (and ``make run``) serves it: Seed at ``/``, then Monitor, Ticker and
Chat. Each producer is registered once, so the cost of a stream does not depend on how
many pages or tabs show it.
"""

from __future__ import annotations

import json
from typing import Any

import dash
from dash import Dash, Input, Output, dcc, html

from livedash import Hub
from livedash.apps import AppOptions, chat, frame, monitor, seed, ticker
from livedash.errors import ConfigError

#: (path, nav label, module) of every page, in navigation order.
PAGES: tuple[tuple[str, str, str], ...] = (
    ("/", "Seed", "livedash.apps.seed"),
    ("/monitor", "Monitor", "livedash.apps.monitor"),
    ("/ticker", "Ticker", "livedash.apps.ticker"),
    ("/chat", "Chat", "livedash.apps.chat"),
)


def _layouts() -> dict[str, Any]:
    return {
        "livedash.apps.seed": seed.seed_layout,
        "livedash.apps.monitor": monitor.layout,
        "livedash.apps.ticker": ticker.layout,
        "livedash.apps.chat": chat.layout,
    }


def navbar() -> html.Nav:
    """The navigation bar: brand, one link per page and, at the right end, the connection
    badge (in the bar's flow, so it covers no chart or table of any page)."""
    return html.Nav(
        [
            frame.brand(),
            *[
                dcc.Link(label, href=path, id=f"nav-{label.lower()}", className="ld-nav-link")
                for path, label, _ in PAGES
            ],
            frame.badge(),
        ],
        className="ld-nav",
    )


def create_push_app(hub: Hub) -> Dash:
    """The gallery on ``hub``."""
    # pages_folder="": the pages are our app modules, registered below, not a folder scan.
    app = Dash(
        __name__,
        use_pages=True,
        pages_folder="",
        title="livedash",
        # No "Updating..." title at each update of the Ticker's watchlist (a LiveData callback).
        update_title="",
        suppress_callback_exceptions=True,  # each page's components exist only on that page
    )
    layouts = _layouts()
    for order, (path, label, module) in enumerate(PAGES):
        dash.register_page(  # type: ignore[no-untyped-call]
            module,
            path=path,
            name=label,
            title=f"livedash · {label}",
            order=order,
            layout=layouts[module],
        )
    app.layout = html.Div(
        [dcc.Location(id="nav-url"), navbar(), dash.page_container], className="ld-gallery"
    )

    # Highlight the current page's link (in the browser: no request per navigation).
    app.clientside_callback(  # type: ignore[no-untyped-call]
        "function (path) { return "
        + json.dumps([p for p, _, _ in PAGES])
        + ".map(function (p) { return 'ld-nav-link' + (p === path ? ' active' : ''); }); }",
        [Output(f"nav-{label.lower()}", "className") for _, label, _ in PAGES],
        Input("nav-url", "pathname"),
    )

    seed.register_producers(hub)
    monitor.register(app, hub)
    ticker.register(app, hub)
    chat.register(app, hub)
    hub.init_app(app)
    return app


def create_app(options: AppOptions) -> Dash:
    """Factory used by ``livedash run`` / ``livedash run gallery``."""
    if options.transport != "push":
        raise ConfigError(
            "the gallery only runs on push; for the polling recipe run `livedash run seed "
            "--transport poll`"
        )
    return create_push_app(Hub(options.store))
