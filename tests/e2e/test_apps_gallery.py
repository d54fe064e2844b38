"""The gallery in headless Chromium: the navigation bar reaches every page, and each is live."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from livedash import Hub
from livedash.apps import gallery
from livedash.testing import LiveServer

pytestmark = pytest.mark.browser

# (nav link, path, a selector that only that page has, a live widget it shows or None)
PAGES = [
    ("Monitor", "/monitor", "#kpi-cpu", "kpi-cpu"),
    ("Ticker", "/ticker", "#ticker-watchlist", "ticker-quotes"),
    ("Chat", "/chat", "#chat-name", None),
    ("Seed", "/", "#live-update-text", "live-update-text"),
]


def test_navigation_reaches_every_page_and_each_page_is_live(
    context: Any, hub_factory: Callable[..., Hub], live_server: Callable[[Any], LiveServer]
) -> None:
    server = live_server(gallery.create_push_app(hub_factory()))
    page = context.new_page()
    page.goto(server.url)
    page.wait_for_selector("#live-update-text")
    assert page.locator(".ld-nav .ld-nav-link").all_inner_texts() == [
        "Seed",
        "Monitor",
        "Ticker",
        "Chat",
    ]
    page.evaluate("() => { window.__marker = 'same document'; }")
    for label, path, selector, widget in PAGES:
        page.click(f".ld-nav >> text={label}")
        page.wait_for_selector(selector, timeout=45_000)
        assert page.url == server.url + path
        assert page.get_attribute(f"#nav-{label.lower()}", "class") == "ld-nav-link active"
        # Dash shows "Updating..." as the title while the page's callbacks run; the page's own
        # title follows when they finish.
        page.wait_for_function(
            "title => document.title === title", arg=f"livedash · {label}", timeout=45_000
        )
        if widget is not None:
            # The page's widgets fill from their streams: history first, then live.
            page.wait_for_function(
                "id => { const w = window.livedash.widgets[id];"
                " return w && w.started && w.lastSeq > 0; }",
                arg=widget,
                timeout=45_000,
            )
    # Navigation stayed in one document (Dash pages), so one connection served every page.
    assert page.evaluate("() => window.__marker") == "same document"
    assert page.evaluate("() => window.livedash.transport") == "sharedworker"


def test_each_page_opens_directly(
    context: Any, hub_factory: Callable[..., Hub], live_server: Callable[[Any], LiveServer]
) -> None:
    server = live_server(gallery.create_push_app(hub_factory()))
    for label, path, selector, _ in PAGES:
        page = context.new_page()
        page.goto(server.url + path)
        page.wait_for_selector(selector, timeout=45_000)
        assert page.get_attribute(f"#nav-{label.lower()}", "class") == "ld-nav-link active"
        page.close()
