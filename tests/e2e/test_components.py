"""The examples of docs/howto/components.md ("Any component") in Chromium, run as the page says:
an AG Grid upserted from every trade, a dcc.Graph appended one extend at a time, Mantine
notifications from the alerts stream. Each page is checked against the stream in the example's
own store."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from livedash.events import Event
from livedash.stores import open_store
from livedash.testing.browser import set_hidden
from tests.e2e.test_examples import run_command, start

pytestmark = pytest.mark.browser


@contextmanager
def example(name: str, tmp_path: Path, context: Any, init_script: str = "") -> Iterator[Any]:
    """The example served from a copy in ``tmp_path`` and a page on it."""
    with start(run_command(name), tmp_path) as url:
        page = context.new_page()
        if init_script:
            page.add_init_script(init_script)
        page.goto(url)
        yield page


def events(tmp_path: Path, db: str, stream: str) -> list[Event]:
    """Every event of ``stream`` in the example's SQLite file (it runs in ``tmp_path/work``)."""
    store = open_store(f"sqlite:///{tmp_path / 'work' / db}")
    try:
        return store.read(stream, 0, 1_000_000)
    finally:
        store.close()


#: Dash's own state of a component prop (what callbacks read as State).
DASH_PROP = """([id, prop]) => {
  const state = window.dash_stores[0].getState();
  let node = state.layout;
  for (const key of state.paths.strs[id]) node = node[key];
  return node.props[prop];
}"""


def test_ag_grid_rows_are_the_newest_trade_of_each_symbol_and_dash_state_follows(
    context: Any, tmp_path: Path
) -> None:
    with example("ag_grid_watchlist.py", tmp_path, context) as page:
        page.wait_for_function(
            "() => /^\\d+ trades applied, newest #\\d+$/"
            ".test(document.getElementById('applied-text')?.textContent || '')",
            timeout=30_000,
        )
        # Five rows, and a cell flashes when its value changes.
        page.wait_for_function(
            "() => document.querySelectorAll('#watchlist .ag-row').length >= 5", timeout=30_000
        )
        page.wait_for_selector("#watchlist .ag-cell-data-changed", state="attached", timeout=30_000)
        page.wait_for_function(
            "() => parseInt(document.getElementById('applied-text').textContent) >= 100",
            timeout=30_000,
        )
        # One consistent snapshot: the grid's rows when Dash's rowData (which dash-ag-grid
        # writes back after each flush of its async queue) says the same. Trades keep
        # arriving, so both are read together, at each try, rather than the grid once and
        # Dash's state against it later (a later trade could move rowData past that snapshot).
        handle = page.wait_for_function(
            """(prop) => {
              const grid = window.dash_ag_grid.getApi('watchlist');
              const rows = []; grid.forEachNode(n => rows.push(n.data));
              const key = (list) => JSON.stringify(list.map(r => [r.symbol, r.seq]).sort());
              const dash = ("""
            + DASH_PROP
            + """)(prop) || [];
              return key(dash) === key(rows) ? rows : false;
            }""",
            arg=["watchlist", "rowData"],
            polling=50,
            timeout=30_000,
        )
        rows: list[dict[str, Any]] = handle.json_value()
    trades = events(tmp_path, "ag_grid_watchlist.db", "trades")
    newest = max(r["seq"] for r in rows)  # the grid shows every trade up to here, none after
    first = newest - sum(r["trades"] for r in rows) + 1  # the first trade the page was given
    applied = [e for e in trades if first <= e.seq <= newest]
    assert first >= 1 and len(applied) == newest - first + 1
    by_symbol = {r["symbol"]: r for r in rows}
    assert set(by_symbol) == {e.data["symbol"] for e in applied}
    for symbol, row in by_symbol.items():
        mine = [e for e in applied if e.data["symbol"] == symbol]
        assert row["seq"] == mine[-1].seq, symbol
        assert (row["price"], row["size"]) == (mine[-1].data["price"], mine[-1].data["size"])
        assert row["trades"] == len(mine), symbol


#: Records every Plotly.extendTraces call (the points it carries) and how many ran at once.
RECORD_EXTENDS = """
(() => {
  const rec = window.__extends = {sizes: [], now: 0, most: 0};
  let plotly;
  Object.defineProperty(window, 'Plotly', {configurable: true, get: () => plotly, set: (p) => {
    const extend = p.extendTraces;
    p.extendTraces = function (gd, update, ...rest) {
      rec.now += 1;
      rec.most = Math.max(rec.most, rec.now);
      rec.sizes.push(update.customdata ? update.customdata[0].length : -1);
      const done = () => { rec.now -= 1; };
      const drawn = extend.call(this, gd, update, ...rest);
      Promise.resolve(drawn).then(done, done);
      return drawn;
    };
    plotly = p;
  }});
})();
"""

#: The chart's points: seqs (customdata), prices, and Dash's figure state of the same trace.
CHART = (
    "() => { const d = document.querySelector('#chart .js-plotly-plot').data[0];"
    " const f = (" + DASH_PROP + ")(['chart', 'figure']).data[0];"
    " return {seqs: Array.from(d.customdata), ys: Array.from(d.y),"
    " state: Array.from(f.customdata)}; }"
)


def test_graph_draws_every_price_once_with_one_extend_in_flight(
    context: Any, tmp_path: Path
) -> None:
    drawn = "parseInt(document.getElementById('drawn')?.textContent || '0')"
    with example("graph_extend.py", tmp_path, context, RECORD_EXTENDS) as page:
        page.wait_for_function(f"() => {drawn} >= 40", timeout=30_000)
        # Hidden: the prices wait in LiveData; shown: all of them in one extend.
        set_hidden(page, True)
        pending = "window.livedash.widgets.prices.pending.length"
        # An update sent just before hiding may still be drawn: count from 1 s later on.
        page.wait_for_function(f"() => {pending} >= 20", timeout=30_000)
        calls = page.evaluate("window.__extends.sizes.length")
        page.wait_for_function(f"() => {pending} >= 40", timeout=30_000)
        assert page.evaluate("window.__extends.sizes.length") == calls, "drew while hidden"
        held = page.evaluate(pending)
        set_hidden(page, False)
        page.wait_for_function(f"() => window.__extends.sizes.length > {calls}", timeout=30_000)
        page.wait_for_function(f"() => {drawn} >= 100", timeout=30_000)
        rec = page.evaluate("window.__extends")
        chart = page.evaluate(CHART)
    seqs = chart["seqs"]
    assert rec["most"] == 1, "two extends in flight"
    assert rec["sizes"][calls] >= held, "the hidden backlog took more than one extend"
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), "a price drawn twice or missing"
    assert chart["state"] == seqs, "Dash's figure state is not what is drawn"
    prices = {e.seq: e.data["price"] for e in events(tmp_path, "graph_extend.db", "prices")}
    assert chart["ys"] == [prices[s] for s in seqs]
    # The chart starts full: the first extend carried the stream's history.
    assert rec["sizes"][0] > 1


def test_notifications_show_an_alert_firing_then_resolved(context: Any, tmp_path: Path) -> None:
    note = "#notifications ~ * .mantine-Notification-root, .mantine-Notification-root"
    with example("notifications.py", tmp_path, context) as page:
        page.wait_for_function(
            "() => /^\\d+\\.\\d °C$/.test(document.getElementById('temp')?.textContent || '')",
            timeout=30_000,
        )
        # The boiler is over 80 °C for ~3 s of every 12 s: the rule fires within one cycle.
        page.wait_for_function(
            "sel => [...document.querySelectorAll(sel)]"
            ".some(n => n.textContent.includes('Boiler hot is firing'))",
            arg=note,
            timeout=45_000,
        )
        firing = page.evaluate(
            "() => window.dash_mantine_components.appNotifications.store.notifications"
            ".map(n => [n.id, n.color])"
        )
        # The same notification turns green when the rule resolves.
        page.wait_for_function(
            "sel => [...document.querySelectorAll(sel)]"
            ".some(n => n.textContent.includes('Boiler hot resolved'))",
            arg=note,
            timeout=45_000,
        )
        resolved = page.evaluate(
            "() => window.dash_mantine_components.appNotifications.store.notifications"
            ".map(n => [n.id, n.color])"
        )
    assert firing == [["alert-Boiler-hot", "red"]]
    assert resolved == [["alert-Boiler-hot", "green"]]
    states = [e.data["state"] for e in events(tmp_path, "notifications.db", "alerts")]
    assert "firing" in states and "resolved" in states[states.index("firing") :]
