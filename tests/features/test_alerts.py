"""Alerts: rules parse, fire after holding for their duration, clear on recovery, survive a
takeover; the banner and list show on every tab and clear (real Chromium)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from dash import Dash, html

from livedash import ConfigError, Event, Hub, LiveAlerts
from livedash.alerts import AlertRule, Alerts
from livedash.fanout import Subscription
from livedash.testing import LiveServer


def test_rules_parse_from_text() -> None:
    rule = AlertRule.parse("monitor", "cpu.total > 90 for 10 s", name="High CPU")
    assert (rule.field, rule.op, rule.threshold, rule.for_seconds) == ("cpu.total", ">", 90, 10)
    assert rule.condition == "cpu.total > 90 for 10 s"
    assert AlertRule.parse("m", "mem<=0.5 for 2m").for_seconds == 120
    assert AlertRule.parse("m", "temp >= -3.5").for_seconds == 0
    assert AlertRule.parse("m", "temp >= -3.5").name == "m: temp >= -3.5"
    for bad in ["cpu > ", "cpu ~ 3", "> 3", "cpu > 3 for ever"]:
        with pytest.raises(ConfigError, match="FIELD OP NUMBER"):
            AlertRule.parse("m", bad)
    with pytest.raises(ConfigError, match="unique"):
        Alerts([AlertRule.parse("m", "a > 1", name="x"), AlertRule.parse("m", "b > 1", name="x")])


class FakeClock:
    """The engine's clock for "for" timers that expire without a new event."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _take(sub: Subscription, n: int, timeout: float = 30.0) -> list[Event]:
    out: list[Event] = []
    deadline = time.monotonic() + timeout
    while len(out) < n:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"only {len(out)} of {n} alert events: {out}"
        events, _ = sub.get(min(remaining, 1.0))
        out += events
    return out


def _append(hub: Hub, stream: str, ts: float, data: dict[str, Any]) -> None:
    """Store an event with a chosen publish time (a scripted stream)."""
    hub.store.append_many([(stream, json.dumps(data), ts)])


def _engine(hub: Hub, rules: list[AlertRule], clock: Callable[[], float]) -> Alerts:
    engine = Alerts(rules, clock=clock)
    hub.add_source(engine)
    hub.start()
    assert engine.ready.wait(30)
    return engine


def test_alert_fires_after_its_duration_and_clears_on_recovery(
    hub_factory: Callable[..., Hub],
) -> None:
    hub = hub_factory()
    t0 = time.time() - 1000
    clock = FakeClock(t0)
    alerts = hub.subscribe(["alerts"])
    engine = _engine(hub, [AlertRule.parse("cpu", "total > 90 for 1 s", name="High CPU")], clock)
    script = [(0.0, 50), (1.0, 95), (1.5, 96), (1.7, "n/a"), (2.0, 97), (3.0, 99), (4.0, 60)]
    for offset, value in script:
        _append(hub, "cpu", t0 + offset, {"total": value})
    fired, cleared = _take(alerts, 2)
    assert fired.data["state"] == "firing"
    assert fired.data["rule"] == "High CPU"
    assert fired.data["value"] == 97  # the first event 1 s after the condition began
    assert fired.data["since"] == pytest.approx(t0 + 1.0)
    assert fired.data["condition"] == "total > 90 for 1 s"
    assert cleared.data["state"] == "resolved"
    assert cleared.data["value"] == 60
    assert engine.firing() == []
    # Nothing else was published: one firing, one recovery.
    assert hub.history("alerts", 10) == [fired, cleared]


def test_alert_fires_by_the_clock_when_the_stream_goes_quiet(
    hub_factory: Callable[..., Hub],
) -> None:
    hub = hub_factory()
    t0 = time.time() - 1000
    clock = FakeClock(t0)
    alerts = hub.subscribe(["alerts"])
    engine = _engine(hub, [AlertRule.parse("disk", "free < 5 for 30 s", name="Disk")], clock)
    _append(hub, "disk", t0, {"free": 3})
    deadline = time.monotonic() + 30
    while engine._state.get("Disk") is None or engine._state["Disk"].pending_since is None:
        assert time.monotonic() < deadline, "the event was never evaluated"
        time.sleep(0.01)
    assert alerts.pending() == 0  # pending, not firing: 30 s have not passed
    clock.now = t0 + 31
    (fired,) = _take(alerts, 1)
    assert (fired.data["state"], fired.data["value"]) == ("firing", 3)


def test_a_new_engine_carries_on_from_the_published_state(
    hub_factory: Callable[..., Hub],
) -> None:
    hub = hub_factory()
    t0 = time.time() - 1000
    rules = [AlertRule.parse("cpu", "total > 90", name="Hot")]
    alerts = hub.subscribe(["alerts"])
    first = _engine(hub, rules, FakeClock(t0))
    _append(hub, "cpu", t0, {"total": 95})
    assert _take(alerts, 1)[0].data["state"] == "firing"
    first.stop()  # its process died; another one takes the rules over
    second = _engine(hub, rules, FakeClock(t0))
    assert second.firing() == ["Hot"]
    _append(hub, "cpu", t0 + 1, {"total": 96})  # still hot: no second "firing"
    _append(hub, "cpu", t0 + 2, {"total": 10})
    (cleared,) = _take(alerts, 1)
    assert cleared.data["state"] == "resolved"


@pytest.mark.browser
def test_banner_and_list_on_every_tab_fire_and_clear(
    context: Any, hub_factory: Callable[..., Hub], live_server: Callable[[Any], LiveServer]
) -> None:
    hub = hub_factory()
    hub.add_source(
        Alerts(
            [
                AlertRule.parse("cpu", "total > 90", name="High CPU", severity="critical"),
                AlertRule.parse("cpu", "mem > 80", name="Memory"),
            ]
        )
    )
    app = Dash(__name__)
    app.layout = html.Div([LiveAlerts(id="alerts"), html.H1("page")])
    hub.init_app(app)
    server = live_server(app)
    pages = []
    for _ in range(2):
        page = context.new_page()
        page.goto(server.url)
        page.wait_for_selector("#alerts .livedash-alerts-none")
        pages.append(page)
    hub.publish("cpu", {"total": 95.5, "mem": 50})
    for page in pages:
        page.wait_for_selector("#alerts .livedash-alerts-banner", timeout=30_000)
        assert "1 alert firing: High CPU" in page.inner_text("#alerts .livedash-alerts-banner")
        item = page.inner_text("#alerts .livedash-alert--critical")
        assert "High CPU" in item and "total = 95.5 (total > 90)" in item
    hub.publish("cpu", {"total": 96, "mem": 85})
    for page in pages:
        page.wait_for_function(
            "() => document.querySelectorAll('#alerts .livedash-alert').length === 2",
            timeout=30_000,
        )
    # A tab opened now shows the same alerts from the stream's history.
    late = context.new_page()
    late.goto(server.url)
    late.wait_for_selector("#alerts .livedash-alerts-banner", timeout=30_000)
    assert "2 alerts firing" in late.inner_text("#alerts .livedash-alerts-banner")
    hub.publish("cpu", {"total": 20, "mem": 20})
    for page in [*pages, late]:
        page.wait_for_selector("#alerts .livedash-alerts-none", timeout=30_000)
        assert page.query_selector("#alerts .livedash-alerts-banner") is None
