"""The ticker in headless Chromium: watchlist, candles, tape, symbol picker, HTTP ticks."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest

from livedash import Hub
from livedash.apps import ticker
from livedash.sources.market import GBMSimulator
from tests.conftest import LiveServer

pytestmark = pytest.mark.browser

RECORD_TICKS = """() => {
  window.__ticks = [];
  window.livedash.onApply = (w, e) => {
    if (w.id === 'ticker-tape') window.__ticks.push([e[2], e[3].ticks.length]);
  };
}"""


def _open(context: Any, url: str) -> Any:
    page = context.new_page()
    page.goto(url)
    page.wait_for_function(
        "() => window.livedash && ['ticker-watchlist', 'ticker-tape', 'ticker-candles-ACME']"
        ".every(id => id in window.livedash.widgets)",
        timeout=45_000,
    )
    return page


def _candles(page: Any, gid: str) -> int:
    return int(
        page.evaluate(
            f"() => (document.querySelector('#{gid} .js-plotly-plot')?.data?.[0]?.close || [])"
            ".length"
        )
    )


def test_watchlist_chart_and_tape_update_at_the_feed_rate(
    context: Any, hub_factory: Callable[..., Hub], live_server: Callable[[Any], LiveServer]
) -> None:
    server = live_server(ticker.create_push_app(hub_factory()))
    page = _open(context, server.url)
    page.evaluate(RECORD_TICKS)
    symbols = GBMSimulator().symbols()
    rows = page.locator("#ticker-watchlist-body tr")
    page.wait_for_function(
        f"() => document.querySelectorAll('#ticker-watchlist-body tr').length === {len(symbols)}",
        timeout=45_000,
    )
    symbol_cells = page.locator("#ticker-watchlist-body tr td:first-child")
    assert symbol_cells.all_text_contents() == list(symbols)
    assert rows.count() == len(symbols)
    first = page.text_content("#ticker-watchlist-body")
    page.wait_for_function(
        "t => document.querySelector('#ticker-watchlist-body').textContent !== t",
        arg=first,
        timeout=30_000,
    )
    # A changed price flashes its cell (green up, red down).
    page.wait_for_selector(
        "#ticker-watchlist-body td[class*='livedash-flash-']", state="attached", timeout=30_000
    )
    # Candles: one per second, growing; the volume bars follow.
    page.wait_for_function(
        "() => (document.querySelector('#ticker-candles-ACME .js-plotly-plot')"
        "?.data?.[0]?.close || []).length >= 3",
        timeout=45_000,
    )
    assert (
        page.evaluate(
            "() => document.querySelector('#ticker-candles-ACME-volume .js-plotly-plot')"
            ".data[0].y.length"
        )
        >= 3
    )
    page.wait_for_function(
        "() => document.querySelectorAll('#ticker-tape-body tr').length === 12", timeout=30_000
    )
    # End to end: every tick reaches the browser; >= 50 per second of publish time.
    page.wait_for_function(
        "() => window.__ticks.length > 2 && "
        "window.__ticks[window.__ticks.length - 1][0] - window.__ticks[0][0] >= 3",
        timeout=45_000,
    )
    ticks: list[list[float]] = page.evaluate("() => window.__ticks")
    span = ticks[-1][0] - ticks[0][0]
    rate = sum(n for _, n in ticks[1:]) / span
    assert rate >= 50, ticks


def test_picking_a_symbol_shows_its_candles(
    context: Any, hub_factory: Callable[..., Hub], live_server: Callable[[Any], LiveServer]
) -> None:
    server = live_server(ticker.create_push_app(hub_factory()))
    page = _open(context, server.url)
    page.click("#ticker-symbol")
    page.click(".dash-dropdown-option >> text=NOVA")
    page.wait_for_selector("#ticker-candles-NOVA", timeout=30_000)
    page.wait_for_function(
        "() => (document.querySelector('#ticker-candles-NOVA .js-plotly-plot')"
        "?.data?.[0]?.close || []).length >= 2",
        timeout=45_000,
    )
    assert page.locator("#ticker-candles-ACME").count() == 0


def test_ticks_published_over_http_reach_the_watchlist_and_candles(
    context: Any, hub_factory: Callable[..., Hub], live_server: Callable[[Any], LiveServer]
) -> None:
    hub = hub_factory()
    server = live_server(ticker.create_push_app(hub))
    page = _open(context, server.url)
    body = {"stream": "ticks", "data": {"ticks": [{"s": "ZZZ", "p": 42.5, "v": 700}]}}
    request = urllib.request.Request(
        server.url + "/livedash/publish",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
    page.wait_for_function(
        "() => [...document.querySelectorAll('#ticker-watchlist-body tr')]"
        ".some(tr => tr.cells[0].textContent === 'ZZZ' && tr.cells[1].textContent === '42.50')",
        timeout=30_000,
    )
    deadline = time.monotonic() + 30
    while not hub.history(ticker.candle_stream("ZZZ"), 1) and time.monotonic() < deadline:
        time.sleep(0.1)  # the desk closes the candle once its second is over
    (candle,) = hub.history(ticker.candle_stream("ZZZ"), 1)
    assert {k: candle.data[k] for k in "ohlcv"} == {
        "o": 42.5,
        "h": 42.5,
        "l": 42.5,
        "c": 42.5,
        "v": 700,
    }
