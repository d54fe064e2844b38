"""LiveGraph under heavy browser load: ~120 events/s into one graph, two browsers with two tabs
each. Every tab's plot must hold each point once, in order, with no gap, and keep exactly the
newest ``window`` points; not only at the end but at every moment a watcher in the page looks
(after each Plotly draw and every 50 ms), so a duplicate that would later be trimmed out of the
window is still caught.

Counts only: the feed's rate is a load level, never an assertion, and every wait is a
generous deadline on a condition.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from dash import Dash, html

from livedash import Hub, LiveGraph
from livedash.testing import LiveServer

pytestmark = [pytest.mark.browser, pytest.mark.heavy]

STREAM = "load"
EVENTS = 2400  # ~20 s at the feed's rate
RATE = 120.0  # events per second, one publish each
WINDOW = 1000  # smaller than EVENTS, so trimming is exercised
FIELDS = ["a", "b"]  # two traces sharing x: twice the drawing per extend
GRAPH = "#load-graph .js-plotly-plot"

#: Watches the plot: after every Plotly draw and every 50 ms, each trace's x must be
#: consecutive seqs and no longer than the window. Also records what the client hands over
#: (onApply) and how often Plotly.extendTraces runs (dcc.Graph's replays show there).
WATCH = """([sel, windowSize]) => {
  const w = {checks: 0, bad: 0, first: null, seqs: [], extendCalls: 0, gd: null};
  window.__watch = w;
  window.livedash.onApply = (widget, e) => { if (widget.spec.kind === 'graph') w.seqs.push(e[1]); };
  const real = window.Plotly.extendTraces;
  window.Plotly.extendTraces = function () {
    w.extendCalls += 1;
    return real.apply(this, arguments);
  };
  const check = () => {
    const gd = document.querySelector(sel);
    if (!gd || !gd.data) return;
    if (gd !== w.gd) { w.gd = gd; gd.on('plotly_afterplot', check); }
    w.checks += 1;
    gd.data.forEach((trace, t) => {
      const x = trace.x || [];
      let problem = x.length > windowSize ? 'length ' + x.length : null;
      for (let i = 1; !problem && i < x.length; i++) {
        if (x[i] !== x[i - 1] + 1) problem = 'x[' + i + ']=' + x[i] + ' after ' + x[i - 1];
      }
      if (problem) {
        w.bad += 1;
        if (!w.first) w.first = 'trace ' + t + ': ' + problem + ' (of ' + x.length + ')';
      }
    });
  };
  setInterval(check, 50);
  check();
}"""
SUMMARY = """(sel) => {
  const w = window.__watch;
  const gd = document.querySelector(sel);
  return {checks: w.checks, bad: w.bad, first: w.first, applied: w.seqs.length,
          appliedInOrder: w.seqs.every((seq, i) => seq === i + 1),
          extendCalls: w.extendCalls, extends: window.livedash.stats.extends,
          gaps: window.livedash.stats.gaps, hidden: document.hidden,
          xs: gd.data.map((t) => Array.from(t.x)), ys: gd.data.map((t) => Array.from(t.y))};
}"""


def test_graph_tabs_under_heavy_load_draw_every_point_once_in_order(
    browser: Any, hub_factory: Callable[..., Hub], live_server: Callable[[Any], LiveServer]
) -> None:
    hub = hub_factory()
    hub.stream(STREAM, max_events=10_000)  # nothing is trimmed by retention: no resets
    app = Dash(__name__)
    app.layout = html.Div([LiveGraph(STREAM, x="seq", y=FIELDS, window=WINDOW, id="load-graph")])
    hub.init_app(app)
    server = live_server(app)
    contexts = [browser.new_context() for _ in range(2)]  # two browsers: two connections
    stop = threading.Event()
    feeder: threading.Thread | None = None
    try:
        pages = []
        for ctx in contexts:
            for _ in range(2):
                page = ctx.new_page()
                page.goto(server.url)
                page.wait_for_function(
                    f"() => document.querySelector('{GRAPH}')?._fullLayout"
                    " && window.livedash.state === 'live'"
                )
                page.evaluate(WATCH, [GRAPH, WINDOW])
                pages.append(page)

        def feed() -> None:
            for i in range(EVENTS):
                if stop.wait(1 / RATE):
                    return
                hub.publish(STREAM, {"a": i, "b": -i})

        feeder = threading.Thread(target=feed, daemon=True)
        feeder.start()
        feeder.join(timeout=300)
        assert not feeder.is_alive(), "the feed did not finish"
        assert hub.store.head(STREAM) == EVENTS

        last = list(range(EVENTS - WINDOW + 1, EVENTS + 1))
        for n, page in enumerate(pages):
            page.wait_for_function(
                f"() => document.querySelector('{GRAPH}').data[0].x.at(-1) === {EVENTS}"
                f" && window.__watch.seqs.at(-1) === {EVENTS}",
                timeout=120_000,
            )
            s = page.evaluate(SUMMARY, GRAPH)
            where = f"tab {n}: {s['extends']} extends sent, {s['extendCalls']} Plotly extends run"
            assert not s["hidden"], "a hidden tab draws nothing: this test needs visible tabs"
            # The client handed each event to the graph once, in order (seqs start at 1).
            assert s["applied"] == EVENTS and s["appliedInOrder"], where
            assert s["gaps"] == 0, where
            # Each batch the client sent ran Plotly.extendTraces once: nothing was replayed.
            assert s["extendCalls"] == s["extends"], where
            # The plot never held a duplicate, a gap, a reordering or too many points ...
            assert s["checks"] > 0, where
            assert s["bad"] == 0, f"{where}; {s['bad']} bad looks, first: {s['first']}"
            # ... and ends with exactly the newest WINDOW points of every trace.
            assert s["xs"] == [last, last], where
            assert s["ys"] == [[v - 1 for v in last], [1 - v for v in last]], where
    finally:
        stop.set()
        if feeder is not None:
            feeder.join(timeout=10)
        for ctx in contexts:
            ctx.close()
