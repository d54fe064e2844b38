"""What a person sees on the app pages: the connection badge covers nothing, axis labels are
not clipped, and every page's badge goes live (the chat's too, before a room is joined)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from dash import Dash, html

from livedash import Hub, LiveGraph
from livedash.apps import chat, gallery, monitor, seed, ticker
from livedash.testing import LiveServer

pytestmark = pytest.mark.browser

#: What the badge must not cover: graphs, tables (the tape is one), tiles, cards, controls.
CONTENT = ".js-plotly-plot, table, .ld-card, .livedash-kpi, .livedash-chat, input, button"

#: (path in the gallery, the standalone app's factory, widgets that must be filled first)
PAGES: list[tuple[str, Callable[[Hub], Dash], list[str]]] = [
    ("/", seed.create_push_app, ["live-update-text"]),
    (
        "/monitor",
        monitor.create_push_app,
        ["monitor-cpu", "monitor-disk", "monitor-load", "monitor-procs"],
    ),
    ("/ticker", ticker.create_push_app, ["ticker-quotes", "ticker-tape", "ticker-candles-ACME"]),
    ("/chat", chat.create_push_app, []),
]

# The content boxes the badge's box meets (viewport coordinates, after two frames).
OVERLAPS = """async (selector) => {
  await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
  const badges = [...document.querySelectorAll('#livedash-badge')];
  const b = badges[0].getBoundingClientRect();
  const hits = [...document.querySelectorAll(selector)].filter(el => {
    const r = el.getBoundingClientRect();
    return r.width > 0 && r.height > 0 && r.left < b.right && b.left < r.right
      && r.top < b.bottom && b.top < r.bottom;
  }).map(el => el.tagName + '#' + el.id + '.' + String(el.className).slice(0, 40));
  return {badges: badges.length, box: [b.left, b.top, b.width, b.height], hits};
}"""


def _wait_live(page: Any) -> None:
    # The badge says live once the shared connection's event stream is open.
    page.wait_for_selector("#livedash-badge[data-state='live']", state="attached", timeout=45_000)


def _wait_filled(page: Any, widgets: list[str]) -> None:
    page.wait_for_function(
        "ids => ids.every(id => { const w = window.livedash.widgets[id];"
        " return w && w.started && w.lastSeq > 0; })",
        arg=widgets,
        timeout=45_000,
    )


def _assert_badge_covers_nothing(page: Any, where: str) -> None:
    found = page.evaluate(OVERLAPS, CONTENT)
    assert found["badges"] == 1, (where, found)
    assert found["box"][2] > 0 and found["box"][3] > 0, (where, found)  # shown, not hidden
    assert found["hits"] == [], (where, found)


@pytest.mark.parametrize("viewport", [(1400, 1000), (1280, 720)])
def test_badge_covers_no_graph_table_or_tape_on_any_gallery_page(
    browser: Any,
    hub_factory: Callable[..., Hub],
    live_server: Callable[[Any], LiveServer],
    viewport: tuple[int, int],
) -> None:
    server = live_server(gallery.create_push_app(hub_factory()))
    ctx = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]})
    try:
        page = ctx.new_page()
        for path, _, widgets in PAGES:
            page.goto(server.url + path)
            _wait_live(page)
            _wait_filled(page, widgets)
            _assert_badge_covers_nothing(page, path)
    finally:
        ctx.close()


@pytest.mark.parametrize(("path", "factory", "widgets"), PAGES, ids=[p[0] for p in PAGES])
def test_badge_covers_nothing_on_each_app_served_alone(
    browser: Any,
    hub_factory: Callable[..., Hub],
    live_server: Callable[[Any], LiveServer],
    path: str,
    factory: Callable[[Hub], Dash],
    widgets: list[str],
) -> None:
    server = live_server(factory(hub_factory()))
    ctx = browser.new_context(viewport={"width": 1280, "height": 720})
    try:
        page = ctx.new_page()
        page.goto(server.url)
        _wait_live(page)
        _wait_filled(page, widgets)
        _assert_badge_covers_nothing(page, path)
    finally:
        ctx.close()


# Every x tick label of a graph (both lines of a two-line date tick) and the graph's box.
X_TICKS = """id => {
  const svg = document.querySelector('#' + id + ' .js-plotly-plot .main-svg');
  const box = svg.getBoundingClientRect();
  // A label plotly hides (it would overlap its neighbour) has an empty box: not drawn.
  const ticks = [...document.querySelectorAll('#' + id + ' .xaxislayer-above .xtick text')]
    .map(t => { const r = t.getBoundingClientRect();
                return {text: t.textContent, top: r.top, bottom: r.bottom, h: r.height}; })
    .filter(t => t.h > 0);
  return {top: box.top, bottom: box.bottom, ticks};
}"""


def test_ticker_date_axis_labels_are_inside_both_charts(
    context: Any, hub_factory: Callable[..., Hub], live_server: Callable[[Any], LiveServer]
) -> None:
    server = live_server(ticker.create_push_app(hub_factory()))
    page = context.new_page()
    page.goto(server.url)
    _wait_filled(page, ["ticker-candles-ACME"])
    # Candles drawn: the axis has its ticks for the real time range.
    page.wait_for_function(
        "() => (document.querySelector('#ticker-candles-ACME .js-plotly-plot')?.data?.[0]"
        "?.x || []).length >= 2",
        timeout=45_000,
    )
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
    for graph in ("ticker-candles-ACME", "ticker-candles-ACME-volume"):
        axis = page.evaluate(X_TICKS, graph)
        assert axis["ticks"], (graph, axis)
        # The date under the first tick makes it two lines; it must be drawn too.
        assert any(len(t["text"]) > 8 for t in axis["ticks"]), (graph, axis)
        for tick in axis["ticks"]:
            assert axis["top"] <= tick["top"] and tick["bottom"] <= axis["bottom"], (graph, tick)


# Every y tick label of a graph and the graph's box, left to right.
Y_TICKS = """id => {
  const box = document.querySelector('#' + id + ' .js-plotly-plot .main-svg')
    .getBoundingClientRect();
  const ticks = [...document.querySelectorAll('#' + id + ' .yaxislayer-above .ytick text')]
    .map(t => { const r = t.getBoundingClientRect();
                return {text: t.textContent, left: r.left, right: r.right, w: r.width}; })
    .filter(t => t.w > 0);
  return {left: box.left, right: box.right, ticks};
}"""


def test_long_y_tick_labels_are_inside_the_graph(
    context: Any, hub_factory: Callable[..., Hub], live_server: Callable[[Any], LiveServer]
) -> None:
    # The monitor's rate axes: "400MB/s" is wider than the default left margin.
    hub = hub_factory()
    app = Dash(__name__)
    app.layout = html.Div(
        [
            LiveGraph(
                "disk",
                y="rate",
                id="g",
                controls=False,
                layout={"yaxis": {"tickformat": "~s", "ticksuffix": "B/s"}},
            )
        ]
    )
    hub.init_app(app)
    for rate in (1e5, 4.5e8, 2e8):
        hub.publish("disk", {"rate": rate})
    server = live_server(app)
    page = context.new_page()
    page.goto(server.url)
    page.wait_for_function(
        "() => (document.querySelector('#g .js-plotly-plot')?.data?.[0]?.y || []).length === 3",
        timeout=45_000,
    )
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
    axis = page.evaluate(Y_TICKS, "g")
    assert any("MB/s" in t["text"] for t in axis["ticks"]), axis
    for tick in axis["ticks"]:
        assert axis["left"] <= tick["left"] and tick["right"] <= axis["right"], tick


@pytest.mark.parametrize("alone", [False, True], ids=["gallery", "alone"])
def test_chat_page_goes_live_before_a_room_is_joined(
    context: Any,
    hub_factory: Callable[..., Hub],
    live_server: Callable[[Any], LiveServer],
    alone: bool,
) -> None:
    hub = hub_factory()
    app = chat.create_push_app(hub) if alone else gallery.create_push_app(hub)
    hub.publish(chat.room_stream("random"), {"user": "Grace", "text": "anyone here?"})
    server = live_server(app)
    page = context.new_page()
    page.goto(server.url + ("" if alone else "/chat"))
    page.wait_for_selector("#chat-name")
    _wait_live(page)
    assert page.text_content("#livedash-badge") == "live"
    # What it follows before joining: each room's newest message, live.
    page.wait_for_function(
        "() => document.querySelector('#chat-latest-random')?.textContent"
        " === 'Grace: anyone here?'",
        timeout=30_000,
    )
    assert page.text_content("#chat-latest-support") == "no messages yet"
    hub.publish(chat.room_stream("support"), {"user": "Ada", "text": "<b>help</b>"})
    page.wait_for_function(
        "() => document.querySelector('#chat-latest-support')?.textContent === 'Ada: <b>help</b>'",
        timeout=30_000,
    )
