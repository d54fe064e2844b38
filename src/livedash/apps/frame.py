"""The frame shared by the shipped apps: a top bar that holds the connection badge.

The browser client shows the connection state in the element with id ``livedash-badge``
when the page has one; otherwise it adds its own, fixed in the bottom-right corner, where it
can cover a chart or a table. The apps place it in their top bar, in the page's flow.
"""

from __future__ import annotations

from typing import Any

from dash import html
from dash.development.base_component import Component

#: The id the browser client looks for (assets/livedash.js).
BADGE_ID = "livedash-badge"


def badge() -> html.Div:
    """An empty element the client fills with the connection state (live, reconnecting...)."""
    aria: dict[str, Any] = {"aria-live": "polite"}  # a wildcard prop: not a keyword
    return html.Div(id=BADGE_ID, className="ld-badge-slot", role="status", **aria)


def brand() -> html.Div:
    """The livedash word mark of the top bar."""
    return html.Div(["live", html.Span("dash")], className="ld-brand")


def topbar(title: str) -> html.Nav:
    """The top bar of an app served on its own: brand, the app's name, the badge."""
    return html.Nav(
        [brand(), html.Span(title, className="ld-nav-title"), badge()], className="ld-nav"
    )


def standalone(title: str, page: Component) -> html.Div:
    """``page`` under a :func:`topbar`: the layout of an app served on its own."""
    return html.Div([topbar(title), page], className="ld-standalone")
