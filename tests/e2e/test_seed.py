"""The seed page in real headless Chromium, on both transports."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from livedash import Hub
from livedash.apps.seed import create_poll_app, create_push_app
from livedash.testing import LiveServer

pytestmark = pytest.mark.browser

SEED_RE = r"^Current Time: \d{4}-\d\d-\d\d \d\d:\d\d:\d\d, Random Number: \d+$"
TEXT = "#live-update-text"

# Collects every distinct text the div shows, from the moment it is installed.
TRACK_TEXTS = """() => {
  const el = document.querySelector('#live-update-text');
  window.__texts = [el.textContent];
  new MutationObserver(() => {
    const t = el.textContent;
    if (t !== window.__texts[window.__texts.length - 1]) window.__texts.push(t);
  }).observe(el, {childList: true, characterData: true, subtree: true});
}"""


def _open_seed(context: Any, url: str) -> Any:
    page = context.new_page()
    page.goto(url)
    page.wait_for_function(
        f"() => /{SEED_RE[1:-1]}/.test(document.querySelector('{TEXT}')?.textContent || '')",
        timeout=15_000,
    )
    return page


def _seed_server(
    transport: str, hub_factory: Callable[..., Hub], live_server: Callable[[Any], LiveServer]
) -> LiveServer:
    if transport == "poll":
        return live_server(create_poll_app())
    return live_server(create_push_app(hub_factory()))


@pytest.mark.parametrize("transport", ["push", "poll"])
def test_seed_page_shows_heading_and_live_text(
    transport: str,
    context: Any,
    hub_factory: Callable[..., Hub],
    live_server: Callable[[Any], LiveServer],
) -> None:
    server = _seed_server(transport, hub_factory, live_server)
    page = _open_seed(context, server.url)
    assert page.inner_text("h1") == "Real-Time Updates"
    requests: list[str] = []
    context.on("request", lambda r: requests.append(r.url))
    page.evaluate(TRACK_TEXTS)
    # Two changes within 3.5 s: the updates come every second.
    page.wait_for_function("() => window.__texts.length >= 3", timeout=3_500)
    texts = page.evaluate("() => window.__texts")
    assert all(re.match(SEED_RE, t) for t in texts), texts
    updates = [u for u in requests if "_dash-update-component" in u]
    if transport == "push":
        # Push: after load, updates arrive on the open stream; no request per update.
        assert requests == []
    else:
        assert len(updates) >= 2


@pytest.mark.heavy
def test_ten_tabs_in_one_browser_all_stay_live(
    context: Any, hub_factory: Callable[..., Hub], live_server: Callable[[Any], LiveServer]
) -> None:
    server = _seed_server("push", hub_factory, live_server)
    pages = [_open_seed(context, server.url) for _ in range(10)]
    for page in pages:
        page.evaluate(TRACK_TEXTS)
    for page in pages:
        page.wait_for_function("() => window.__texts.length >= 2", timeout=15_000)
        assert page.evaluate("() => window.livedash.transport") == "sharedworker"
        assert page.inner_text("#livedash-badge") == "live"
