"""The ticker in headless Chromium: watchlist (an AG Grid fed by LiveData), candles, tape,
symbol picker, HTTP ticks, and every tick applied to the watchlist across a hidden tab."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest

from livedash import Event, Hub
from livedash.apps import ticker
from livedash.sources.market import GBMSimulator, Tick
from livedash.testing import LiveServer, wait_until
from tests.e2e.real_tabs import Tab, real_browser

# The whole Ticker runs in the test's process at 60 ticks/s and its page loads the largest
# bundles (plotly.js, AG Grid): beside three other workers its page twice never got ready
# in 45 s (clean-clone runs). Its tests run alone, with the heavy ones.
pytestmark = [pytest.mark.browser, pytest.mark.heavy]

RECORD_TICKS = """() => {
  window.__ticks = [];
  window.livedash.onApply = (w, e) => {
    if (w.id === 'ticker-tape') window.__ticks.push([e[2], e[3].ticks.length]);
  };
}"""


#: The watchlist's rows as the grid holds them, in display order (its async queue applied).
GRID_ROWS = (
    "(() => { let g; try { g = window.dash_ag_grid.getApi('ticker-watchlist'); }"
    " catch (notYet) { return []; } g.flushAsyncTransactions(); const rows = [];"
    " g.forEachNodeAfterFilterAndSort(n => rows.push(n.data)); return rows; })()"
)


def _open(context: Any, url: str) -> Any:
    page = context.new_page()
    page.goto(url)
    page.wait_for_function(
        "() => window.livedash && ['ticker-quotes', 'ticker-tape', 'ticker-candles-ACME']"
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
    # Every symbol's row in order, filled from the quotes (history first, then live).
    page.wait_for_function(
        f"() => {GRID_ROWS}.filter(r => r.last).length === {len(symbols)}", timeout=45_000
    )
    rows = page.evaluate(GRID_ROWS)
    assert [r["s"] for r in rows] == list(symbols)
    first = [r["last"] for r in rows]
    page.wait_for_function(
        f"first => {GRID_ROWS}.some((r, i) => r.last !== first[i])", arg=first, timeout=30_000
    )
    # A changed price flashes its cell, green up or red down; changes are coloured by sign.
    page.wait_for_selector(
        "#ticker-watchlist .ag-cell-data-changed:is(.ticker-tick-up, .ticker-tick-down)",
        state="attached",
        timeout=30_000,
    )
    assert page.locator("#ticker-watchlist .ticker-up, #ticker-watchlist .ticker-down").count()
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
        f"() => {GRID_ROWS}.some(r => r.s === 'ZZZ' && r.last === 42.5 && r.vol === 700)"
        " && document.querySelector('#ticker-watchlist [row-id=\"ZZZ\"]')"
        "?.textContent.includes('42.50')",
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


class StoppableSimulator(GBMSimulator):
    """The default simulator (60 ticks/s) until :meth:`stop`: then no more ticks, so the
    streams settle and the page can be compared with them."""

    def __init__(self) -> None:
        super().__init__()
        self.stopped = threading.Event()

    def stop(self) -> None:
        self.stopped.set()

    def poll(self, elapsed: float) -> list[Tick]:
        ticks = super().poll(elapsed)
        return [] if self.stopped.is_set() else ticks


def _ticks(hub: Hub, after: int = 0) -> list[Event]:
    return hub.read(ticker.TICKS, after, 100_000)


def _count(events: list[Event]) -> int:
    return sum(len(e.data["ticks"]) for e in events)


APPLIED = (
    "(() => { const s = window.dash_stores?.[0]?.getState(); const p = s?.paths?.strs"
    "?.['ticker-applied']; if (!p) return null; let n = s.layout;"
    " for (const k of p) n = n[k]; return n.props.data; })()"
)
HIDDEN_S = 10


@pytest.mark.heavy
def test_every_tick_reaches_the_watchlist_at_60_ticks_per_second_across_a_hidden_tab(
    hub_factory: Callable[..., Hub], live_server: Callable[[Any], LiveServer]
) -> None:
    hub = hub_factory()
    source = StoppableSimulator()
    assert source.rate == 60
    server = live_server(ticker.create_push_app(hub, source))
    with real_browser() as cdp:
        tab = Tab(cdp, server.url)
        tab.wait_for(f"({APPLIED})?.ticks > 0 && {GRID_ROWS}.length >= 22", timeout=60)
        wait_until(lambda: _count(_ticks(hub)) >= 120, 60, "2 s of ticks while visible", 0.2)

        Tab(cdp, "about:blank")  # in front: the ticker's tab is hidden for real
        tab.wait_for("document.hidden")
        hidden_from = hub.store.head(ticker.TICKS)
        # An update sent just before the tab was hidden may still be applied: look after 1 s.
        wait_until(
            lambda: _count(_ticks(hub, hidden_from)) >= source.rate, 60, "1 s of hidden ticks", 0.2
        )
        updates = tab.eval("window.livedash.stats.updates")
        rows_hidden = tab.eval(GRID_ROWS)
        wait_until(
            lambda: _count(_ticks(hub, hidden_from)) >= HIDDEN_S * source.rate,
            60,
            f"{HIDDEN_S} s of ticks while hidden",
            0.2,
        )
        published_hidden = _count(_ticks(hub, hidden_from))
        # Nothing reached the grid while hidden (the quotes waited in LiveData).
        assert tab.eval("window.livedash.stats.updates") == updates
        assert tab.eval(GRID_ROWS) == rows_hidden
        backlog = tab.eval("window.livedash.widgets['ticker-quotes'].pending.length")

        tab.activate()
        tab.wait_for("!document.hidden")
        shown_from = hub.store.head(ticker.TICKS)
        wait_until(
            lambda: _count(_ticks(hub, shown_from)) >= 120, 60, "2 s of ticks after showing", 0.2
        )
        source.stop()
        # The desk has folded every published tick into a quote event.
        wait_until(
            lambda: (
                sum(e.data["ticks"] for e in hub.read(ticker.QUOTES, 0, 100_000))
                == _count(_ticks(hub))
            ),
            60,
            "the last quote event",
            0.2,
        )
        ticks = _ticks(hub)
        quotes = hub.read(ticker.QUOTES, 0, 100_000)
        tab.wait_for(f"({APPLIED}).seq === {quotes[-1].seq}")
        applied = tab.eval(APPLIED)
        rows = tab.eval(GRID_ROWS)
        state = tab.eval(
            "(() => { const s = window.dash_stores[0].getState(); let n = s.layout;"
            " for (const k of s.paths.strs['ticker-watchlist']) n = n[k];"
            " return n.props.rowData; })()"
        )
        stats = tab.eval("({...window.livedash.stats})")

    published = _count(ticks)
    last: dict[str, tuple[int, float]] = {}
    volume: dict[str, int] = {}
    for event in ticks:
        for t in event.data["ticks"]:
            last[t["s"]] = (event.seq, t["p"])
            volume[t["s"]] = volume.get(t["s"], 0) + t["v"]
    print(
        f"\nticker at {source.rate} ticks/s: {published} ticks published in {len(ticks)} events"
        f" ({published_hidden} while hidden {HIDDEN_S} s, {backlog} quote events held);"
        f" the page applied {applied['ticks']} ticks in {applied['quotes']} of"
        f" {len(quotes)} quote events; LiveData updates {stats['updates']}"
        f" (resets {stats['resets']})"
    )
    assert applied == {"quotes": len(quotes), "ticks": published, "seq": quotes[-1].seq}
    assert stats["resets"] == 0
    assert backlog >= HIDDEN_S * 4 - 4  # 4 quote events a second waited for the tab
    # Every symbol ends with its last price, the seq of its last tick and all its volume.
    grid = {r["s"]: r for r in rows}
    assert set(grid) == set(last)
    for symbol, (seq, price) in last.items():
        row = grid[symbol]
        assert (row["seq"], row["last"], row["vol"]) == (seq, price, volume[symbol]), symbol
    # Dash's rowData says what the grid shows.
    assert sorted(state, key=lambda r: r["s"]) == sorted(rows, key=lambda r: r["s"])
