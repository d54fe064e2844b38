"""How long a 24-hour window over one event per second (86,400 events) takes to open.

    .venv/bin/python -m bench.window_open [--events 86400] [--runs 5] [--store sqlite|memory]

Three figures, each the median (and worst) of ``--runs`` runs:

* ``store``: ``Store.read_range`` of the whole day (decode included);
* ``http``: ``GET /livedash/range?span=86400&points=2000`` over HTTP: read, MinMax
  downsampling to 2,000 points, JSON;
* ``browser``: in headless Chromium, from the click on "24h" to the downsampled figure
  drawn by Plotly (the widget's load finished and its redraw landed).

The goal (issue 7) is under one second for the browser figure.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from dash import Dash, html

from livedash import Hub, LiveGraph, Retention
from livedash.testing import LiveServer, chromium_path, launch_chromium

STREAM = "day"


def seed(hub: Hub, events: int) -> None:
    """One event per second ending now, in batches (as a day of publishing would leave it)."""
    hub.store.set_retention(STREAM, Retention(max_events=None))
    now = time.time()
    rnd = random.Random(1)
    batch: list[tuple[str, str, float]] = []
    for i in range(events):
        data = {"cpu": round(rnd.uniform(0, 100), 2), "mem": round(rnd.uniform(0, 100), 2)}
        batch.append((STREAM, json.dumps(data), now - events + i))
        if len(batch) == 5000:
            hub.store.append_many(batch)
            batch = []
    if batch:
        hub.store.append_many(batch)


def summary(samples: list[float]) -> str:
    return f"median {statistics.median(samples):7.1f} ms   worst {max(samples):7.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=86_400)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--store", choices=["sqlite", "memory"], default="sqlite")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="livedash-window-"))
    url = f"sqlite:///{folder / 'day.db'}" if args.store == "sqlite" else "memory://"
    hub = Hub(url)
    started = time.perf_counter()
    seed(hub, args.events)
    print(
        f"seeded {args.events:,} events into {args.store} in {time.perf_counter() - started:.1f} s"
    )

    store_ms = []
    for _ in range(args.runs):
        t = time.perf_counter()
        n = len(hub.store.read_range(STREAM, time.time() - 86_400, None, 1_000_001))
        store_ms.append((time.perf_counter() - t) * 1000)
    print(f"store.read_range ({n:,} events)      {summary(store_ms)}")

    app = Dash(__name__)
    app.layout = html.Div([LiveGraph(STREAM, y=["cpu", "mem"], window=300, id="g")])
    hub.init_app(app)
    server = LiveServer(app)
    base = server.url
    try:
        http_ms = []
        body: dict[str, Any] = {}
        for _ in range(args.runs):
            t = time.perf_counter()
            query = f"stream={STREAM}&span=86400&points=2000&y=cpu&y=mem"
            with urllib.request.urlopen(f"{base}/livedash/range?{query}", timeout=60) as r:
                body = json.loads(r.read())
            http_ms.append((time.perf_counter() - t) * 1000)
        points = [len(t["x"]) for t in body["traces"]]
        print(f"GET /livedash/range (2 traces -> {points})  {summary(http_ms)}")
        print(f"browser click '24h' -> drawn          {summary(browser(base, args.runs))}")
        print(f"load average (1, 5, 15 min): {os.getloadavg()}")
    finally:
        server.stop()
        hub.close()
        shutil.rmtree(folder, ignore_errors=True)


def browser(base: str, runs: int) -> list[float]:
    """Milliseconds from the click on "24h" to the figure drawn, measured in the page."""
    from playwright.sync_api import sync_playwright

    path = chromium_path()
    if path is None:
        raise SystemExit("chromium is not installed (make system-deps)")
    out = []
    with sync_playwright() as p:
        b = launch_chromium(p, executable=path)
        page = b.new_page()
        page.goto(base)
        page.wait_for_function(
            "() => (document.querySelector('#g .js-plotly-plot')?.data?.[0]?.x || []).length",
            timeout=60_000,
        )
        w = "window.livedash.widgets.g"
        for _ in range(runs):
            for span, key in (("points", "null"), ("86400", "86400")):
                page.evaluate(
                    f"""() => {{ window.__t0 = performance.now();
                    document.querySelector("button[data-span='{span}']").click(); }}"""
                )
                page.wait_for_function(
                    f"() => {w}.mode === 'live' && String({w}.span) === '{key}' && {w}.lastLoad"
                    f" && String({w}.lastLoad.span) === '{key}' && !{w}.inflight",
                    timeout=60_000,
                )
                if key != "null":
                    out.append(page.evaluate("performance.now() - window.__t0"))
        b.close()
    return out


if __name__ == "__main__":
    main()
