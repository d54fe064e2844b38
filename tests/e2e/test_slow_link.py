"""A page on a slow link (300 ms latency, 50 kB/s, slowed after the page loaded): the graph
coalesces what arrives, shows every point once and in order, and the badge says what the
connection is doing: live while the slow stream flows, how far behind the feed it fell while
the feed outran the link, reconnecting when the link is cut, live again when it is back."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from dash import Dash, html
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from livedash import Hub, LiveGraph
from livedash.testing import LiveServer
from tests.e2e.throttle import ThrottleProxy

pytestmark = pytest.mark.browser

LATENCY = 0.3  # s, one way
RATE = 50_000  # bytes/s
EVENTS = 1_000
PER_S = 300  # published this fast (~230 kB/s on the wire), the events outrun the link
PAD = 400  # random hex per event: ~0.8 KB of JSON that the stream's gzip does not shrink
BADGE = "document.querySelector('#livedash-badge')?.dataset.state"
# Every state the badge takes from here on, not a sample of them.
WATCH_BADGE = """() => {
  const el = document.querySelector('#livedash-badge');
  window.badgeSeen = [el.dataset.state];
  new MutationObserver(() => window.badgeSeen.push(el.dataset.state))
    .observe(el, {attributes: true, attributeFilter: ['data-state']});
}"""
Y = "(document.querySelector('#g .js-plotly-plot')?.data?.[0]?.y || [])"


@pytest.fixture
def proxy_factory() -> Iterator[Callable[[int], ThrottleProxy]]:
    proxies: list[ThrottleProxy] = []

    def make(port: int) -> ThrottleProxy:
        proxies.append(ThrottleProxy(port))
        return proxies[-1]

    yield make
    for proxy in proxies:
        proxy.close()


def _publish(hub: Hub, first: int, count: int) -> int:
    pace = threading.Event()
    for i in range(first, first + count):
        hub.publish("pts", {"i": i, "pad": secrets.token_hex(PAD)})
        if i % 20 == 0:
            pace.wait(20 / PER_S)  # paces the producer; nothing waits on this timing
    return first + count - 1


def _wait(page: Any, proxy: ThrottleProxy, condition: str, timeout_s: float) -> None:
    """Wait for ``condition`` in the page, checked every 200 ms (not per animation frame: a
    busy headless page may run few of those); on a timeout, fail with what each side saw."""
    try:
        page.wait_for_function(f"() => {condition}", timeout=timeout_s * 1000, polling=200)
    except PlaywrightTimeoutError:
        seen = page.evaluate(
            f"({{stats: window.livedash.stats, state: window.livedash.state,"
            f" behind: window.livedash.behind, badge: {BADGE}, points: {Y}.length}})"
        )
        links = [
            (c.request[:60], c.fetched, c.down, c.throttled_down, round(c.paced_s, 1))
            for c in proxy.conns
        ]
        raise AssertionError(
            f"not true in {timeout_s} s: {condition}; page {seen}; links {links}"
        ) from None


@pytest.mark.timeout(300)
def test_a_slow_link_coalesces_shows_every_point_once_and_the_badge_tells_the_truth(
    context: Any,
    hub_factory: Callable[..., Hub],
    live_server: Callable[[Any], LiveServer],
    proxy_factory: Callable[[int], ThrottleProxy],
) -> None:
    hub = hub_factory()
    app = Dash(__name__)
    app.layout = html.Div([LiveGraph("pts", x="seq", y="i", window=5_000, id="g", controls=False)])
    hub.init_app(app)
    server = live_server(app)
    proxy = proxy_factory(server.port)
    page = context.new_page()
    page.goto(proxy.url)
    _wait(page, proxy, "window.livedash?.widgets?.g?.started", 45)
    _wait(page, proxy, f"{BADGE} === 'live'", 45)
    assert page.evaluate("window.livedash.transport") == "sharedworker"
    # Loaded means drawn too: dcc.Graph fetches plotly.js (4.8 MB) only when it mounts, and on
    # a busy machine that download can still be running here. Slowed to 50 kB/s it would take
    # another ~100 s, while the client keeps what arrives for a graph that is not drawn yet.
    _wait(page, proxy, "!!document.querySelector('#g .js-plotly-plot')?._fullLayout", 45)

    # Slowed after load: the event stream that is already open crosses the slow line too.
    proxy.throttle(LATENCY, RATE)
    before = page.evaluate("({...window.livedash.stats})")
    page.evaluate(WATCH_BADGE)
    last = _publish(hub, 1, EVENTS)
    _wait(page, proxy, f"{Y}.length >= {last}", 90)
    states = set(page.evaluate("window.badgeSeen"))
    after = page.evaluate("({...window.livedash.stats})")
    ys = page.evaluate(f"Array.from({Y})")
    assert ys == list(range(1, last + 1)), "a point is missing, repeated or out of order"
    assert page.evaluate("window.livedash.stats.gaps") == 0

    # The worker's stream was the slowed connection, and it carried the events: at 50 kB/s
    # its line was busy pacing for the time those bytes take on such a link.
    streams = proxy.event_streams()
    assert len(streams) == 1, [c.request for c in proxy.conns]
    stream = streams[0]
    assert stream.throttled_down > EVENTS * PAD // 2, stream
    assert stream.paced_s >= stream.throttled_down / RATE * 0.99

    # Coalesced: the points arrived in far fewer draws than events.
    extends = after["extends"] - before["extends"]
    events = after["events"] - before["events"]
    print(
        f"\nslow link: {events} events in {extends} extends ({events / max(extends, 1):.1f} per"
        f" draw), {stream.throttled_down:,} B on the stream over {stream.paced_s:.1f} s of"
        f" pacing; badge seen: {sorted(states)}"
    )
    assert events == EVENTS
    assert extends <= EVENTS // 4, (extends, events)
    # Slow is not broken, and not current either: 3.3 s of events (~760 kB) take ~15 s
    # through a 50 kB/s link, so the newest arrive many seconds after they were published.
    # The badge says so while the stream stays open (never reconnecting), and is live again
    # once caught up.
    assert states == {"live", "behind"}, states
    _wait(page, proxy, f"{BADGE} === 'live'", 30)

    # Cut the link: the badge says so, and the page resumes exactly when it comes back.
    proxy.cut()
    _wait(page, proxy, f"['reconnecting', 'offline'].includes({BADGE})", 30)
    last = _publish(hub, last + 1, 50)
    proxy.restore()
    _wait(page, proxy, f"{BADGE} === 'live'", 60)
    _wait(page, proxy, f"{Y}.length === {last}", 60)
    assert page.evaluate(f"Array.from({Y})") == list(range(1, last + 1))
