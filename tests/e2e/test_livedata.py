"""LiveData in real Chromium: a stream as an ordinary Dash prop, read by clientside and server
callbacks, lossless and in order, one update in flight, a hidden tab's backlog in one update,
history on load, a reset past max_backlog, several LiveData on the page's one connection."""

from __future__ import annotations

import itertools
import statistics
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from dash import Dash, Input, Output, html
from dash.exceptions import PreventUpdate

from livedash import ConfigError, Hub, LiveData
from livedash.testing import LiveServer
from livedash.testing.browser import set_hidden
from tests.e2e.real_tabs import Tab, real_browser

pytestmark = pytest.mark.browser

#: A clientside callback that records every update of a LiveData's `data` in window.__rec[id]:
#: the seq and `i` of each event, and per update its size, reset flag and visibility.
RECORDER = """
function (update) {
  if (!update) return window.dash_clientside.no_update;
  const all = window.__rec = window.__rec || {};
  const rec = all[%r] = all[%r] || {seqs: [], values: [], updates: []};
  const ev = update.events;
  rec.updates.push({n: ev.length, reset: update.reset, hidden: document.hidden,
    first: ev.length ? ev[0].seq : null, last: ev.length ? ev[ev.length - 1].seq : null});
  ev.forEach(e => { rec.seqs.push(e.seq); rec.values.push(e.data.i); });
  return rec.seqs.length;
}
"""


def _rec(widget_id: str, field: str) -> str:
    return f"(window.__rec?.[{widget_id!r}]?.{field} || [])"


def _app(hub: Hub, *children: Any, record: tuple[str, ...] = ()) -> Dash:
    """A page of ``children``; each LiveData id in ``record`` gets the recorder callback."""
    app = Dash(__name__)
    app.layout = html.Div([*children, *(html.Div(id=f"{i}-count") for i in record)])
    for widget_id in record:
        app.clientside_callback(  # type: ignore[no-untyped-call]  # Dash leaves it untyped
            RECORDER % (widget_id, widget_id),
            Output(f"{widget_id}-count", "children"),
            Input(widget_id, "data"),
        )
    hub.init_app(app)
    return app


def _publish(hub: Hub, stream: str, first: int, count: int, rate: float = 0) -> int:
    """Publish ``{"i": first}`` ... ``{"i": first + count - 1}``, at ``rate`` events/s if given
    (paced by an Event nothing sets; no test assertion depends on the pacing); the last i."""
    pace = threading.Event()
    started = time.monotonic()
    for k in range(count):
        hub.publish(stream, {"i": first + k})
        if rate:
            ahead = started + (k + 1) / rate - time.monotonic()
            if ahead > 0.002:
                pace.wait(ahead)
    return first + count - 1


def _ready(widget_id: str) -> str:
    """The widget follows its stream and Dash has loaded the callbacks that read it."""
    return (
        f"window.livedash?.widgets?.[{widget_id!r}]?.started"
        f" && window.livedash.isReady({widget_id!r})"
    )


RATE = 1000  # events/s, as the issue asks
TOTAL = 8000
HIDE_AFTER = 1500  # events the visible tab has seen when it is hidden
HIDDEN_FOR = 2500  # events the hidden tab receives before it is shown again


@pytest.mark.heavy
def test_a_clientside_count_at_1000_events_per_second_sees_each_event_once_in_order(
    hub_factory: Callable[..., Hub], live_server: Callable[[Any], LiveServer]
) -> None:
    hub = hub_factory()
    server = live_server(_app(hub, LiveData("fast", id="feed"), record=("feed",)))
    with real_browser() as cdp:
        tab = Tab(cdp, server.url)
        tab.wait_for(_ready("feed"))
        producer = threading.Thread(target=_publish, args=(hub, "fast", 1, TOTAL, RATE))
        producer.start()
        try:
            tab.wait_for(f"{_rec('feed', 'seqs')}.length >= {HIDE_AFTER}")
            Tab(cdp, "about:blank")  # in front: the page is hidden for real
            tab.wait_for("document.hidden")
            # Updates sent (set_props) so far; one sent just before may still reach its callback.
            sent = tab.eval("window.livedash.stats.updates")
            received = tab.eval("window.livedash.stats.events")
            tab.wait_for(f"window.livedash.stats.events >= {received + HIDDEN_FOR}")
            backlog = tab.eval("window.livedash.widgets.feed.pending.length")
            assert tab.eval("window.livedash.stats.updates") == sent, "updated while hidden"
            tab.activate()
            tab.wait_for("!document.hidden")
        finally:
            producer.join()
        tab.wait_for(f"{_rec('feed', 'seqs')}.length >= {TOTAL}", timeout=60)
        seqs = tab.eval(_rec("feed", "seqs"))
        values = tab.eval(_rec("feed", "values"))
        updates = tab.eval(_rec("feed", "updates"))
        stats = tab.eval("({...window.livedash.stats})")

    sizes = [u["n"] for u in updates]
    # One callback run per update, in order: the first after the tab was shown is number `sent`.
    shown = updates[sent]
    print(
        f"\n{TOTAL} events at {RATE}/s: {len(updates)} updates (median {statistics.median(sizes)},"
        f" max {max(sizes)} events); hidden after {sum(sizes[:sent])} events, backlog {backlog}"
        f" events, first update when shown: {shown['n']} events; client stats {stats}"
    )
    assert values == list(range(1, TOTAL + 1)), "an event was lost, repeated or out of order"
    assert seqs == list(range(seqs[0], seqs[0] + TOTAL))
    assert not any(u["reset"] for u in updates)
    assert stats["updates"] == len(updates) and stats["resets"] == 0
    # The whole backlog in the first update after the tab was shown.
    assert not shown["hidden"]
    assert shown["first"] == seqs[sum(sizes[:sent]) - 1] + 1
    assert shown["n"] >= backlog >= HIDDEN_FOR


def test_the_first_update_carries_the_newest_history_events(
    context: Any, hub_factory: Callable[..., Hub], live_server: Callable[[Any], LiveServer]
) -> None:
    hub = hub_factory()
    _publish(hub, "h", 1, 50)
    server = live_server(_app(hub, LiveData("h", id="feed", history=20), record=("feed",)))
    page = context.new_page()
    page.goto(server.url)
    page.wait_for_function(f"() => {_rec('feed', 'seqs')}.length >= 20", timeout=30_000)
    first = page.evaluate(f"{_rec('feed', 'updates')}[0]")
    assert first["n"] == 20 and first["reset"] is False
    assert page.evaluate(_rec("feed", "values")) == list(range(31, 51))
    _publish(hub, "h", 51, 5)
    page.wait_for_function(f"() => {_rec('feed', 'seqs')}.length >= 25", timeout=30_000)
    assert page.evaluate(_rec("feed", "values")) == list(range(31, 56))


def test_past_max_backlog_one_update_resets_with_the_newest_history_events(
    context: Any, hub_factory: Callable[..., Hub], live_server: Callable[[Any], LiveServer]
) -> None:
    hub = hub_factory()
    feed = LiveData("r", id="feed", history=5, max_backlog=100)
    server = live_server(_app(hub, feed, record=("feed",)))
    page = context.new_page()
    page.goto(server.url)
    page.wait_for_function(f"() => {_ready('feed')}", timeout=30_000)
    last = _publish(hub, "r", 1, 10)
    page.wait_for_function(f"() => {_rec('feed', 'seqs')}.length === 10", timeout=30_000)

    # Exactly max_backlog events held: delivered whole when shown, no reset.
    set_hidden(page, True)
    last = _publish(hub, "r", last + 1, 100)
    page.wait_for_function(f"() => window.livedash.widgets.feed.lastSeq === {last}")
    set_hidden(page, False)
    page.wait_for_function(f"() => {_rec('feed', 'seqs')}.length === 110", timeout=30_000)
    assert page.evaluate(f"{_rec('feed', 'updates')}.at(-1)")["n"] == 100

    # One more than that: the next update says reset and carries the newest 5 events.
    set_hidden(page, True)
    last = _publish(hub, "r", last + 1, 101)
    page.wait_for_function(f"() => window.livedash.widgets.feed.lastSeq === {last}")
    assert page.evaluate("window.livedash.widgets.feed.pending.length") == 5
    set_hidden(page, False)
    page.wait_for_function(f"() => {_rec('feed', 'seqs')}.length === 115", timeout=30_000)
    reset = page.evaluate(f"{_rec('feed', 'updates')}.at(-1)")
    assert reset["reset"] is True and reset["n"] == 5
    assert page.evaluate(_rec("feed", "values"))[-5:] == list(range(last - 4, last + 1))

    # Then updates go on from there, not resetting.
    last = _publish(hub, "r", last + 1, 3)
    page.wait_for_function(f"() => {_rec('feed', 'seqs')}.length === 118", timeout=30_000)
    assert page.evaluate(_rec("feed", "values"))[-8:] == list(range(last - 7, last + 1))
    updates = page.evaluate(_rec("feed", "updates"))
    assert [u["reset"] for u in updates].count(True) == 1 and not updates[-1]["reset"]
    assert page.evaluate("window.livedash.stats.resets") == 1


def test_several_live_data_share_the_pages_one_connection(
    context: Any, hub_factory: Callable[..., Hub], live_server: Callable[[Any], LiveServer]
) -> None:
    hub = hub_factory()
    app = _app(hub, LiveData("a", id="da"), LiveData("b", id="db"), record=("da", "db"))
    server = live_server(app)
    page = context.new_page()
    page.goto(server.url)
    page.wait_for_function(f"() => {_ready('da')} && {_ready('db')}", timeout=30_000)
    assert page.evaluate("window.livedash.transport") == "sharedworker"
    # One subscription on the server, for both streams: the SharedWorker's one stream.
    deadline = time.monotonic() + 30
    while [s.streams for s in hub.subscriptions()] != [frozenset({"a", "b"})]:
        assert time.monotonic() < deadline, [s.streams for s in hub.subscriptions()]
        threading.Event().wait(0.05)  # polling the server's state, bounded by the deadline
    for k in range(30):
        hub.publish("a", {"i": k + 1})
        if k < 20:
            hub.publish("b", {"i": 100 + k})
    page.wait_for_function(
        f"() => {_rec('da', 'seqs')}.length === 30 && {_rec('db', 'seqs')}.length === 20",
        timeout=30_000,
    )
    assert page.evaluate(_rec("da", "values")) == list(range(1, 31))
    assert page.evaluate(_rec("db", "values")) == list(range(100, 120))
    # The page itself opened no event stream (the worker holds the one connection).
    streams = page.evaluate(
        "performance.getEntriesByType('resource').filter(r => r.name.includes('/events?')).length"
    )
    assert streams == 0
    assert len(hub.subscriptions()) == 1


def test_a_server_callback_on_data_sees_each_event_once_in_order(
    context: Any, hub_factory: Callable[..., Hub], live_server: Callable[[Any], LiveServer]
) -> None:
    hub = hub_factory()
    app = Dash(__name__)
    app.layout = html.Div([LiveData("s", id="feed"), html.Div(id="count")])
    seen: list[int] = []
    sizes: list[int] = []
    running = [0, 0]  # callbacks running now, most at once
    lock = threading.Lock()
    work = threading.Event()  # never set: its wait stands in for 20 ms of the callback's work

    @app.callback(Output("count", "children"), Input("feed", "data"))
    def count(update: dict[str, Any] | None) -> str:
        if update is None:
            raise PreventUpdate
        with lock:
            running[0] += 1
            running[1] = max(running)
        work.wait(0.02)
        with lock:
            running[0] -= 1
            assert update["reset"] is False
            sizes.append(len(update["events"]))
            seen.extend(e["data"]["i"] for e in update["events"])
            return f"{len(seen)} events"

    hub.init_app(app)
    server = live_server(app)
    page = context.new_page()
    page.goto(server.url)
    page.wait_for_function(f"() => {_ready('feed')}", timeout=30_000)
    total = 1000
    _publish(hub, "s", 1, total, rate=RATE)
    page.wait_for_function(
        f"() => document.getElementById('count').textContent === '{total} events'",
        timeout=60_000,
    )
    print(
        f"\nserver callback: {total} events at {RATE}/s in {len(sizes)} requests"
        f" (median {statistics.median(sizes)}, max {max(sizes)} events)"
    )
    assert seen == list(range(1, total + 1))
    assert sum(sizes) == total
    # One update in flight: the next waited for this callback to finish.
    assert running[1] == 1


def test_a_live_data_rendered_later_by_a_callback_gets_its_history_and_events(
    context: Any, hub_factory: Callable[..., Hub], live_server: Callable[[Any], LiveServer]
) -> None:
    hub = hub_factory()
    _publish(hub, "late", 1, 10)
    app = _app(hub, html.Button("show", id="show"), html.Div(id="slot"), record=("feed",))
    app.config.suppress_callback_exceptions = True  # feed is not in the first layout

    @app.callback(Output("slot", "children"), Input("show", "n_clicks"), prevent_initial_call=True)
    def show(_: int) -> Any:
        return LiveData("late", id="feed", history=3)

    server = live_server(app)
    page = context.new_page()
    page.goto(server.url)
    page.click("#show")
    page.wait_for_function(f"() => {_ready('feed')}", timeout=30_000)
    _publish(hub, "late", 11, 5)
    page.wait_for_function(f"() => {_rec('feed', 'seqs')}.length >= 8", timeout=30_000)
    assert page.evaluate(_rec("feed", "values")) == list(range(8, 16))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"id": ""}, "needs id="),
        ({"id": "x", "history": -1}, "history must be"),
        ({"id": "x", "history": 100_001, "max_backlog": 200_000}, "from 0 to 100,000"),
        ({"id": "x", "history": 50, "max_backlog": 10}, "max_backlog must be"),
        ({"id": "x", "interval": -5}, "interval must be"),
    ],
)
def test_bad_arguments_say_how_to_fix_them(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        LiveData("s", **kwargs)


def test_a_slow_async_clientside_callback_still_sees_each_event_once(
    context: Any, hub_factory: Callable[..., Hub], live_server: Callable[[Any], LiveServer]
) -> None:
    """A clientside callback that returns a promise settling after 30 ms (two frames): the
    next update waits for it, so none replaces one the callback has not read yet."""
    hub = hub_factory()
    app = Dash(__name__)
    app.layout = html.Div([LiveData("slow", id="feed"), html.Div(id="count")])
    app.clientside_callback(  # type: ignore[no-untyped-call]  # Dash leaves it untyped
        """
        async function (update) {
          if (!update) return window.dash_clientside.no_update;
          const rec = window.__slow = window.__slow || {values: [], runs: 0, most: 0, now: 0};
          rec.now += 1;
          rec.most = Math.max(rec.most, rec.now);
          await new Promise(resolve => setTimeout(resolve, 30));
          rec.now -= 1;
          rec.runs += 1;
          update.events.forEach(e => rec.values.push(e.data.i));
          return rec.values.length;
        }
        """,
        Output("count", "children"),
        Input("feed", "data"),
    )
    hub.init_app(app)
    page = context.new_page()
    page.goto(live_server(app).url)
    page.wait_for_function(f"() => {_ready('feed')}", timeout=30_000)
    total = 2000
    _publish(hub, "slow", 1, total, rate=RATE)
    page.wait_for_function(f"() => (window.__slow?.values.length || 0) >= {total}", timeout=60_000)
    rec = page.evaluate("window.__slow")
    print(f"\nslow clientside callback: {total} events in {rec['runs']} runs")
    assert rec["values"] == list(range(1, total + 1))
    assert rec["most"] == 1  # never two runs at once


def test_interval_spaces_the_updates(
    context: Any, hub_factory: Callable[..., Hub], live_server: Callable[[Any], LiveServer]
) -> None:
    hub = hub_factory()
    server = live_server(_app(hub, LiveData("iv", id="feed", interval=150), record=("feed",)))
    page = context.new_page()
    page.goto(server.url)
    page.wait_for_function(f"() => {_ready('feed')}", timeout=30_000)
    # When the client calls set_props for the feed (it stamps the interval's start just before).
    page.evaluate(
        """() => {
          const dc = window.dash_clientside, setProps = dc.set_props;
          window.__sent = [];
          dc.set_props = (id, props) => {
            if (id === 'feed') window.__sent.push(performance.now());
            return setProps(id, props);
          };
        }"""
    )
    total = 600
    _publish(hub, "iv", 1, total, rate=RATE)
    page.wait_for_function(f"() => {_rec('feed', 'seqs')}.length >= {total}", timeout=60_000)
    assert page.evaluate(_rec("feed", "values")) == list(range(1, total + 1))
    sent = page.evaluate("window.__sent")
    gaps = [b - a for a, b in itertools.pairwise(sent)]
    print(f"\ninterval=150: {total} events in {len(sent)} updates, gaps {min(gaps):.0f} ms and up")
    assert len(sent) >= 2 and min(gaps) >= 149


def test_events_dropped_by_retention_make_one_update_reset(
    context: Any, hub_factory: Callable[..., Hub], live_server: Callable[[Any], LiveServer]
) -> None:
    """The server lags behind a stream's retention (one batch larger than it): the page's
    updates never skip a seq without saying reset, and end with the newest history events."""
    hub = hub_factory()
    hub.stream("z", max_events=100)
    server = live_server(_app(hub, LiveData("z", id="feed", history=3), record=("feed",)))
    page = context.new_page()
    page.goto(server.url)
    page.wait_for_function(f"() => {_ready('feed')}", timeout=30_000)
    _publish(hub, "z", 1, 4)
    page.wait_for_function(f"() => {_rec('feed', 'seqs')}.length === 4", timeout=30_000)
    # By the time the fan-out reads the batch, retention has dropped all but its newest 100.
    hub.publish_many([("z", {"i": i}) for i in range(5, 1005)])
    try:
        page.wait_for_function(
            f"() => {_rec('feed', 'updates')}.at(-1)?.last === 1004"
            f" && window.livedash.widgets.feed.pending.length === 0",
            timeout=30_000,
        )
    finally:
        updates = page.evaluate(_rec("feed", "updates"))
        state = page.evaluate(
            "(({lastSeq, resetting, resetFrom, pending, inflight}) => ({lastSeq, resetting,"
            " resetFrom, pending: pending.map(e => e[1]), inflight}))(window.livedash.widgets.feed)"
        )
        print(f"\nretention reset: updates {updates}; widget {state}")
    previous = 0
    for u in updates:
        if u["n"]:
            assert u["reset"] or u["first"] == previous + 1, f"a hole without reset: {updates}"
            assert u["last"] - u["first"] == u["n"] - 1
            previous = u["last"]
    # One update says reset, with the newest 3 (history) events of that moment; those after it
    # follow in order (the loop above).
    resets = [u for u in updates if u["reset"]]
    assert len(resets) == 1, f"one update says reset: {updates}"
    assert resets[0]["n"] == 3 and resets[0]["first"] > 4
    assert page.evaluate(_rec("feed", "values"))[-3:] == [1002, 1003, 1004]


def test_a_shared_worker_that_never_starts_leaves_the_tab_its_own_connection(
    context: Any, hub_factory: Callable[..., Hub], live_server: Callable[[Any], LiveServer]
) -> None:
    """The SharedWorker's script fails to load (answered 404 here; Chromium under load was
    seen never to request it): the tab runs the client core itself and misses nothing."""
    hub = hub_factory()
    _publish(hub, "sw", 1, 5)
    server = live_server(_app(hub, LiveData("sw", id="feed", history=5), record=("feed",)))
    kinds: list[str] = []

    def worker_script(route: Any) -> None:
        kinds.append(route.request.resource_type)
        if len(kinds) == 1:  # the SharedWorker's request: before the page's own fallback
            route.fulfill(status=404, body="gone")
        else:
            route.continue_()

    context.route("**/livedash-worker.js*", worker_script)
    page = context.new_page()
    page.goto(server.url)
    page.wait_for_function(f"() => {_rec('feed', 'seqs')}.length >= 5", timeout=30_000)
    assert page.evaluate("window.livedash.transport") == "page"
    _publish(hub, "sw", 6, 5)
    page.wait_for_function(f"() => {_rec('feed', 'seqs')}.length >= 10", timeout=30_000)
    assert page.evaluate(_rec("feed", "values")) == list(range(1, 11))
    assert len(kinds) == 2, kinds
