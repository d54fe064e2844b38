"""LiveGraph controls in real Chromium: time windows show the right span, pause/resume and
zoom lose nothing, a replay at 10x shows the original values in order, hidden tabs draw
nothing and catch up in one batch."""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from dash import Dash, Input, Output, State, html

from livedash import Hub, LiveGraph
from livedash.testing import LiveServer
from livedash.testing.browser import set_hidden
from livedash.transport import range as range_module

pytestmark = pytest.mark.browser

GD = "document.querySelector('#g .js-plotly-plot')"
Y = f"(({GD}?.data?.[0]?.y) || [])"
W = "window.livedash.widgets.g"
# Seconds between the oldest and the newest plotted point (x drawn as local date strings).
EXTENT = f"""(() => {{
  const xs = {GD}.data[0].x;
  const t = s => new Date(String(s).replace(' ', 'T')).getTime() / 1000;
  return xs.length ? t(xs[xs.length - 1]) - t(xs[0]) : -1;
}})()"""


def _app(hub: Hub, graph: Any) -> Dash:
    app = Dash(__name__)
    app.layout = html.Div([graph])
    hub.init_app(app)
    return app


def _seed(hub: Hub, stream: str, seconds: int, spike_at: int | None = None) -> float:
    """One event per second for the last ``seconds`` seconds; returns the newest ts."""
    hub.stream(stream, max_events=None)
    now = time.time()
    rnd = random.Random(seconds)
    records = []
    for i in range(seconds):
        v = 500.0 if i == spike_at else round(rnd.uniform(0, 100), 3)
        records.append((stream, json.dumps({"v": v, "i": i}), now - seconds + i))
    hub.store.append_many(records)
    return now - 1


def _seeded_since(newest: float, seconds: int, t: float) -> int:
    """How many of the points ``_seed`` wrote (``newest`` its return) are at ``t`` or later."""
    return sum(1 for i in range(seconds) if newest - (seconds - 1) + i >= t)


def _wait_loaded(page: Any, span: str) -> None:
    page.wait_for_function(
        f"() => {W}.mode === 'live' && String({W}.span) === '{span}' && {W}.lastLoad"
        f" && String({W}.lastLoad.span) === '{span}' && !{W}.inflight",
        timeout=30_000,
    )


def test_window_selector_shows_the_right_span_and_keeps_streaming(
    context: Any, hub_factory: Callable[..., Hub], live_server: Callable[[Any], LiveServer]
) -> None:
    hub = hub_factory()
    newest = _seed(hub, "w", 600)
    server = live_server(_app(hub, LiveGraph("w", y="v", window=50, id="g")))
    page = context.new_page()
    page.goto(server.url)
    page.wait_for_function(f"() => {Y}.length === 50", timeout=30_000)
    assert page.get_attribute("button[data-span='points']", "aria-pressed") == "true"

    for label, span in [("1m", 60), ("5m", 300)]:
        clicked = time.time()
        page.click(f"button[data-span='{span}']")
        _wait_loaded(page, str(span))
        assert page.get_attribute(f"button[data-span='{span}']", "aria-pressed") == "true"
        assert page.inner_text(f"button[data-span='{span}']") == label
        # The server cut the window at its own clock when it answered: span seconds back.
        since = page.evaluate(f"{W}.lastLoad.since")
        assert clicked - span - 1 <= since <= time.time() - span + 1
        # The graph shows exactly the seeded points from there on (one per second).
        shown = _seeded_since(newest, 600, since)
        assert page.evaluate(f"{W}.lastLoad.count") == shown > 0
        extent = page.evaluate(EXTENT)
        assert extent == pytest.approx(shown - 1, abs=0.01), f"{label}: {extent:.2f} s"
    # The 24 h window holds all ten minutes; nothing to downsample.
    page.click("button[data-span='86400']")
    _wait_loaded(page, "86400")
    assert page.evaluate(f"{Y}.length") == 600
    assert page.evaluate(EXTENT) == pytest.approx(599, abs=0.01)
    # Live points keep arriving in a time window.
    hub.publish("w", {"v": 1234.5})
    page.wait_for_function(f"() => {Y}[{Y}.length - 1] === 1234.5", timeout=30_000)
    assert page.evaluate(f"{Y}.length") == 601
    # Back to the newest-N-points view.
    page.click("button[data-span='points']")
    _wait_loaded(page, "null")
    page.wait_for_function(f"() => {Y}.length === 50 && {Y}[49] === 1234.5", timeout=30_000)


def test_a_window_answered_429_while_heavy_reads_are_full_loads_once_they_free(
    context: Any, hub_factory: Callable[..., Hub], live_server: Callable[[Any], LiveServer]
) -> None:
    hub = hub_factory()
    newest = _seed(hub, "busy", 120)
    server = live_server(_app(hub, LiveGraph("busy", y="v", window=20, id="g")))
    page = context.new_page()
    page.goto(server.url)
    page.wait_for_function(f"() => {Y}.length === 20", timeout=30_000)
    # Take every heavy-read slot of this process (the server runs in it) with reads that
    # wait for the gate: the window's read is then refused 429 by the real route.
    reads = range_module.READS
    gate = threading.Event()
    statuses: list[int] = []
    page.on(
        "response",
        lambda r: statuses.append(r.status) if "/livedash/range" in r.url else None,
    )

    def blocked() -> bytes:
        gate.wait(60)
        return b""

    held = []
    try:
        while not reads.full():
            job = reads.submit(blocked)
            assert job is not None
            held.append(job)
        with page.expect_response(
            lambda r: "/livedash/range" in r.url and r.status == 429, timeout=30_000
        ) as refused:
            page.click("button[data-span='60']")
        assert refused.value.headers["retry-after"] == "1"
    finally:
        gate.set()
    # The client asks again after Retry-After and the window loads.
    _wait_loaded(page, "60")
    since = page.evaluate(f"{W}.lastLoad.since")
    shown = sum(1 for i in range(120) if newest - 119 + i >= since)
    assert page.evaluate(f"{W}.lastLoad.count") == shown > 0
    assert statuses[0] == 429 and statuses[-1] == 200


def test_a_day_at_one_event_per_second_is_downsampled_and_keeps_its_spike(
    context: Any, hub_factory: Callable[..., Hub], live_server: Callable[[Any], LiveServer]
) -> None:
    hub = hub_factory()
    newest = _seed(hub, "day", 86_400, spike_at=43_210)
    server = live_server(_app(hub, LiveGraph("day", y="v", window=100, id="g")))
    page = context.new_page()
    page.goto(server.url)
    page.wait_for_function(f"() => {Y}.length === 100", timeout=30_000)
    page.click("button[data-span='86400']")
    _wait_loaded(page, "86400")
    load = page.evaluate(f"{W}.lastLoad")
    # The window is the last 24 h by the server's clock when it answered.
    assert load["count"] == sum(1 for i in range(86_400) if newest - 86_399 + i >= load["since"])
    n = page.evaluate(f"{Y}.length")
    assert 1000 < n <= 2000
    assert page.evaluate(f"Math.max(...{Y})") == 500.0  # MinMax keeps the spike
    assert 86_000 <= page.evaluate(EXTENT) <= 86_399.01


def test_pause_freezes_the_view_and_resume_draws_everything_in_one_batch(
    context: Any, hub_factory: Callable[..., Hub], live_server: Callable[[Any], LiveServer]
) -> None:
    hub = hub_factory()
    server = live_server(_app(hub, LiveGraph("p", x="seq", y="i", window=1000, id="g")))
    page = context.new_page()
    page.goto(server.url)
    page.wait_for_selector(".ldg-pause")
    for i in range(10):
        hub.publish("p", {"i": i})
    page.wait_for_function(f"() => {Y}.length === 10 && !{W}.inflight", timeout=30_000)

    page.click(".ldg-pause")
    assert page.evaluate(f"{W}.mode") == "paused"
    for i in range(10, 50):
        hub.publish("p", {"i": i})
    page.wait_for_function(f"() => {W}.held.length === 40", timeout=30_000)
    assert "40 new" in page.inner_text(".ldg-state")
    assert page.evaluate(Y) == list(range(10))  # frozen while data kept arriving
    extends = page.evaluate("window.livedash.stats.extends")
    page.click(".ldg-pause")  # now "Resume"
    page.wait_for_function(f"() => {Y}.length === 50", timeout=30_000)
    assert page.evaluate(Y) == list(range(50))
    assert page.evaluate("window.livedash.stats.extends") - extends == 1
    assert page.evaluate("window.livedash.stats.gaps") == 0

    # Zooming pauses; resuming returns to the live, autoscaled view with nothing lost.
    page.evaluate(f"window.Plotly.relayout({GD}, {{'xaxis.range': [3, 8]}})")
    page.wait_for_function(f"() => {W}.mode === 'paused'", timeout=30_000)
    assert page.evaluate(f"{W}.pauseReason") == "zoom"
    for i in range(50, 60):
        hub.publish("p", {"i": i})
    page.wait_for_function(f"() => {W}.held.length === 10", timeout=30_000)
    assert page.evaluate(f"{Y}.length") == 50
    page.click(".ldg-pause")
    page.wait_for_function(f"() => {Y}.length === 60", timeout=30_000)
    assert page.evaluate(Y) == list(range(60))
    assert page.evaluate(f"{GD}._fullLayout.xaxis.autorange") is True


def test_replay_at_10x_shows_the_original_values_in_order_then_returns_to_live(
    context: Any, hub_factory: Callable[..., Hub], live_server: Callable[[Any], LiveServer]
) -> None:
    hub = hub_factory()
    rnd = random.Random(5)
    values = [round(rnd.uniform(-50, 50), 2) for _ in range(30)]
    events = []
    for v in values:  # a scripted stream: 30 events over about 3 seconds
        events.append(hub.publish("r", {"v": v}))
        time.sleep(0.1)  # the script's own pacing (what replay reproduces), not a wait
    server = live_server(_app(hub, LiveGraph("r", x="seq", y="v", window=1000, id="g")))
    page = context.new_page()
    page.goto(server.url)
    page.wait_for_function(f"() => {Y}.length === 30", timeout=30_000)
    page.evaluate(
        "() => { window.__replayed = []; window.livedash._onApply = (w, e) => "
        "{ if (w.mode === 'replay') window.__replayed.push([e[1], e[3].v]); }; }"
    )

    page.click(".ldg-replay-open")
    page.wait_for_selector(".ldg-replaybar:not([hidden])")
    # Pick the range in the bar's inputs (local time, whole seconds).
    page.evaluate(
        """([since, until]) => {
          const p = n => String(n).padStart(2, '0');
          const local = ts => { const d = new Date(ts * 1000); return d.getFullYear() + '-' +
            p(d.getMonth() + 1) + '-' + p(d.getDate()) + 'T' + p(d.getHours()) + ':' +
            p(d.getMinutes()) + ':' + p(d.getSeconds()); };
          document.querySelector('.ldg-from').value = local(since);
          document.querySelector('.ldg-to').value = local(until);
        }""",
        [int(events[0].ts) - 1, int(events[-1].ts) + 2],
    )
    page.select_option(".ldg-speed", "10")
    page.click(".ldg-play")
    page.wait_for_function(f"() => {W}.mode === 'replay'", timeout=30_000)
    page.wait_for_function(f"() => {W}.replay.done", timeout=60_000)
    replayed = page.evaluate("window.__replayed")
    assert replayed == [[e.seq, e.data["v"]] for e in events]
    assert page.evaluate(Y) == values
    clock = page.inner_text(".ldg-clock")
    assert "10\u00d7" in clock and "finished" in clock
    # While replaying, live events are held; back to live shows them all.
    hub.publish("r", {"v": 999.0})
    page.wait_for_function(f"() => {W}.held.length === 1", timeout=30_000)
    page.click(".ldg-live")
    page.wait_for_function(f"() => {W}.mode === 'live' && {Y}.length === 31", timeout=30_000)
    assert page.evaluate(Y) == [*values, 999.0]
    assert page.is_hidden(".ldg-replaybar")


def test_a_hidden_tab_draws_nothing_and_catches_up_in_one_batch(
    context: Any, hub_factory: Callable[..., Hub], live_server: Callable[[Any], LiveServer]
) -> None:
    hub = hub_factory()
    server = live_server(_app(hub, LiveGraph("h", x="seq", y="i", window=1000, id="g")))
    page = context.new_page()
    page.goto(server.url)
    page.wait_for_selector(".ldg-pause")
    for i in range(5):
        hub.publish("h", {"i": i})
    page.wait_for_function(f"() => {Y}.length === 5 && !{W}.inflight", timeout=30_000)
    # Count every Plotly redraw from here on: the rendering work a hidden tab must not do.
    page.evaluate(f"window.__draws = 0; {GD}.on('plotly_afterplot', () => window.__draws++)")
    set_hidden(page, True)
    received = page.evaluate("window.livedash.stats.events")
    extends = page.evaluate("window.livedash.stats.extends")
    for i in range(5, 35):
        hub.publish("h", {"i": i})
    page.wait_for_function(f"() => window.livedash.stats.events >= {received + 30}", timeout=30_000)
    # Let the client's frame loop run many times (timer fallback: 100 ms) before checking.
    page.evaluate("new Promise(r => setTimeout(r, 500))")
    assert page.evaluate("window.__draws") == 0
    assert page.evaluate("window.livedash.stats.extends") == extends
    assert page.evaluate(f"{Y}.length") == 5
    set_hidden(page, False)
    page.wait_for_function(f"() => {Y}.length === 35", timeout=30_000)
    assert page.evaluate(Y) == list(range(35))
    assert page.evaluate("window.livedash.stats.extends") - extends == 1
    assert page.evaluate("window.__draws") >= 1


def test_a_callback_reading_the_figure_gets_what_is_drawn(
    context: Any, hub_factory: Callable[..., Hub], live_server: Callable[[Any], LiveServer]
) -> None:
    """State(graph, "figure") in a server callback is the drawn x/y after a window change and
    back, pause / resume, a zoom and a replay (Dash's state tells the truth)."""
    hub = hub_factory()
    newest = _seed(hub, "f", 300)
    app = Dash(__name__)
    app.layout = html.Div(
        [
            LiveGraph("f", y="v", window=100, id="g"),
            html.Button("read", id="read"),
            html.Pre(id="state"),
        ]
    )

    @app.callback(
        Output("state", "children"),
        Input("read", "n_clicks"),
        State("g", "figure"),
        prevent_initial_call=True,
    )
    def read(clicks: int, figure: dict[str, Any]) -> str:
        trace = figure["data"][0]
        return json.dumps({"clicks": clicks, "x": trace["x"], "y": trace["y"]})

    hub.init_app(app)
    server = live_server(app)
    page = context.new_page()
    page.goto(server.url)
    reads = 0

    def figure_is_drawn(label: str) -> int:
        """Click Read; the callback's figure must be what the plot draws. The drawn count."""
        nonlocal reads
        page.wait_for_function(f"() => !{W}.inflight && {W}.pending.length === 0", timeout=30_000)
        reads += 1
        page.click("#read")
        page.wait_for_function(
            f"() => (document.getElementById('state').textContent || '').startsWith("
            f"'{{\"clicks\": {reads},')",
            timeout=30_000,
        )
        state = json.loads(page.text_content("#state") or "")
        drawn = page.evaluate(f"({{x: Array.from({GD}.data[0].x), y: Array.from({GD}.data[0].y)}})")
        assert state["y"] == drawn["y"], f"{label}: the figure's y is not what is drawn"
        assert state["x"] == drawn["x"], f"{label}: the figure's x is not what is drawn"
        return len(drawn["y"])

    page.wait_for_function(f"() => {Y}.length === 100", timeout=30_000)
    assert figure_is_drawn("on load") == 100

    page.click("button[data-span='60']")
    _wait_loaded(page, "60")
    published = time.time()
    hub.publish("f", {"v": 1001.0})
    page.wait_for_function(f"() => {Y}.at(-1) === 1001", timeout=30_000)
    drawn = figure_is_drawn("1 min window")
    # The window holds the live point and the seeded points newer than a minute before the
    # browser appended it, a moment between `published` and now (10 ms either side for the
    # browser's coarser clock): a count that does not depend on how long the machine took.
    fewest = _seeded_since(newest, 300, time.time() + 0.01 - 60)
    most = _seeded_since(newest, 300, published - 0.01 - 60)
    assert 1 + fewest <= drawn <= 1 + most <= 61

    page.click("button[data-span='points']")
    _wait_loaded(page, "null")
    page.wait_for_function(f"() => {Y}.length === 100 && {Y}.at(-1) === 1001", timeout=30_000)
    hub.publish("f", {"v": 1002.0})
    page.wait_for_function(f"() => {Y}.at(-1) === 1002", timeout=30_000)
    assert figure_is_drawn("back to Last 100") == 100

    page.click(".ldg-pause")
    for v in (1003.0, 1004.0):
        hub.publish("f", {"v": v})
    page.wait_for_function(f"() => {W}.held.length === 2", timeout=30_000)
    assert figure_is_drawn("paused") == 100
    page.click(".ldg-pause")  # Resume
    page.wait_for_function(f"() => {Y}.at(-1) === 1004", timeout=30_000)
    assert figure_is_drawn("resumed") == 100

    # A zoom makes dcc.Graph redraw its figure: the points stay the live ones.
    page.evaluate(f"window.Plotly.relayout({GD}, {{'yaxis.range': [0, 50]}})")
    page.wait_for_function(f"() => {W}.mode === 'paused'", timeout=30_000)
    page.click(".ldg-pause")
    page.wait_for_function(f"() => {W}.mode === 'live' && {Y}.at(-1) === 1004", timeout=30_000)
    assert figure_is_drawn("after a zoom") == 100

    page.click(".ldg-replay-open")
    page.wait_for_selector(".ldg-replaybar:not([hidden])")
    page.select_option(".ldg-speed", "100")
    page.click(".ldg-play")
    page.wait_for_function(f"() => {W}.mode === 'replay' && {W}.replay.done", timeout=60_000)
    assert figure_is_drawn("replayed") > 0
    page.click(".ldg-live")
    page.wait_for_function(f"() => {W}.mode === 'live' && {Y}.at(-1) === 1004", timeout=30_000)
    assert figure_is_drawn("back to live") == 100
