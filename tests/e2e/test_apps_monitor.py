"""The monitor page in headless Chromium: everything moves every second; CPU over 90% is red."""

from __future__ import annotations

import re
import statistics
from collections.abc import Callable
from typing import Any

import pytest
from dash import Dash

from livedash import Hub
from livedash.apps import monitor
from livedash.testing import LiveServer

pytestmark = pytest.mark.browser

GRAPHS = ["monitor-cpu", "monitor-mem", "monitor-net", "monitor-disk", "monitor-load"]
KPIS = ["kpi-cpu", "kpi-mem", "kpi-load", "kpi-rx", "kpi-tx", "kpi-dr", "kpi-dw"]
WIDGETS = [*GRAPHS, *KPIS, "monitor-procs"]

# From now on, record (seq, ts) of every event each widget applies.
RECORD = """() => {
  window.__seen = {};
  window.livedash.onApply = (w, e) => {
    (window.__seen[w.id] = window.__seen[w.id] || []).push([e[1], e[2]]);
  };
}"""


def _wait_for_widgets(page: Any, ids: list[str]) -> None:
    page.wait_for_function(
        f"() => window.livedash && {ids!r}.every(id => id in window.livedash.widgets)",
        timeout=45_000,
    )


def test_monitor_graphs_and_indicators_get_new_values_every_second(
    context: Any, hub_factory: Callable[..., Hub], live_server: Callable[[Any], LiveServer]
) -> None:
    server = live_server(monitor.create_push_app(hub_factory()))
    page = context.new_page()
    page.goto(server.url)
    _wait_for_widgets(page, WIDGETS)
    page.evaluate(RECORD)
    # Every widget sees at least four new samples.
    page.wait_for_function(
        f"() => {WIDGETS!r}.every(id => (window.__seen[id] || []).length >= 4)", timeout=30_000
    )
    seen: dict[str, list[list[float]]] = page.evaluate("() => window.__seen")
    for wid in WIDGETS:
        seqs = [int(s) for s, _ in seen[wid]]
        assert seqs == sorted(set(seqs)), (wid, seqs)
        gaps = [b[1] - a[1] for a, b in zip(seen[wid], seen[wid][1:], strict=False)]
        # One sample per second (publish times; generous for a busy machine).
        assert 0.5 < statistics.median(gaps) < 2.0, (wid, gaps)
    # What a person sees: lines growing, numbers in the tiles, five processes.
    for gid in GRAPHS:
        n = page.evaluate(
            f"() => document.querySelector('#{gid} .js-plotly-plot').data[0].y.length"
        )
        assert n >= 4, gid
    cores = page.evaluate(
        "() => document.querySelector('#monitor-cpu .js-plotly-plot').data.length"
    )
    assert cores >= 2  # total + at least one core
    cpu_text = page.inner_text("#kpi-cpu-value")
    assert re.fullmatch(r"\d+\.\d%", cpu_text), cpu_text
    assert re.fullmatch(r"[\d.]+ [kMG]?B/s", page.inner_text("#kpi-rx-value"))
    assert page.locator("#monitor-procs-body tr").count() == 5


def _kpi_app(hub: Hub) -> Dash:
    # The real page, fed by the test instead of psutil.
    app = Dash(__name__)
    app.layout = monitor.layout()
    hub.init_app(app)
    return app


def _sample(cpu: float) -> dict[str, Any]:
    return {
        "cpu": cpu,
        "cores": [cpu, cpu],
        "mem": 40.0,
        "net_rx": 1_250_000.0,
        "net_tx": 0.0,
        "disk_r": 0.0,
        "disk_w": 512.0,
        "load1": 0.5,
        "load5": 0.5,
        "load15": 0.5,
        "procs": [{"pid": 1, "name": "<b>init</b>", "cpu": cpu, "mem": 0.1}],
    }


@pytest.mark.parametrize(
    ("cpu", "level", "background"),
    [
        (95.0, "danger", "rgb(254, 242, 242)"),
        (75.0, "warn", "rgb(255, 251, 235)"),
        (90.0, "warn", "rgb(255, 251, 235)"),
        (12.5, "ok", "rgb(255, 255, 255)"),
    ],
)
def test_cpu_tile_turns_red_above_90_percent(
    cpu: float,
    level: str,
    background: str,
    context: Any,
    hub_factory: Callable[..., Hub],
    live_server: Callable[[Any], LiveServer],
) -> None:
    hub = hub_factory()
    server = live_server(_kpi_app(hub))
    page = context.new_page()
    page.goto(server.url)
    _wait_for_widgets(page, KPIS)
    hub.publish("monitor", _sample(cpu))
    page.wait_for_function(
        f"() => document.querySelector('#kpi-cpu-value').textContent === '{cpu:.1f}%'",
        timeout=30_000,
    )
    page.wait_for_function(
        f"() => document.querySelector('#kpi-cpu').classList.contains('livedash-kpi--{level}')",
        timeout=15_000,
    )
    # The tile's colour fades in (CSS transition): wait for the final colour.
    page.wait_for_function(
        "bg => getComputedStyle(document.querySelector('#kpi-cpu')).backgroundColor === bg",
        arg=background,
        timeout=15_000,
    )
    assert page.inner_text("#kpi-rx-value") == "1.25 MB/s"
    assert page.inner_text("#kpi-dw-value") == "512 B/s"
    # Process names are text, never markup.
    assert page.inner_text("#monitor-procs-body").count("<b>init</b>") == 1
