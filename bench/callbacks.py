"""The ``callbacks`` scenario: a stream into the page's own Dash callbacks, 10 tabs.

Three ways to run a callback per value of a stream, each showing the newest value's text
(``... (#seq)``) in the seed page's ``live-update-text``:

- ``clientside``: ``LiveData`` + a clientside callback (no request; the tab does the work);
- ``server``: ``LiveData`` + a server callback (one request per update per tab);
- ``dashws``: Dash 4.4's own WebSocket callbacks (``bench.contenders.dashws_app``: one
  persistent callback per tab on the fastapi backend, pushing with ``set_props``).

For each rate, the three servers are up together and their windows take turns; per window:
latency publish -> DOM (p50 / p99), values never shown, server CPU seconds per tab-minute and
requests the server answered.

``python -m bench.callbacks [--quick]`` runs the scenario alone and prints its table;
``make bench`` runs it as ``callbacks`` (``--only callbacks``).
``python -m bench.callbacks serve KIND --port P ...`` is one contender's server process.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench.contenders import (
    TEXT_ID,
    TITLE,
    PublishLog,
    dashws_app,
    raise_fd_limit,
    seed_text,
    seed_value,
    serve_cpu_clock,
)
from bench.harness import Browser, Server, child_env, delivery, free_port

KINDS = ("clientside", "server", "dashws")
LABELS = {
    "clientside": "LiveData + clientside callback",
    "server": "LiveData + server callback",
    "dashws": "Dash WebSocket callback",
}
TABS = 10

#: The clientside callback: the newest event of the update, as the seed page's text.
SHOW_NEWEST = """
function (update) {
    if (!update || !update.events.length) return window.dash_clientside.no_update;
    const e = update.events[update.events.length - 1];
    return `Current Time: ${e.data.time}, Random Number: ${e.data.number} (#${e.seq})`;
}
"""


# ---- the servers ------------------------------------------------------------------------------
class Requests:
    """Counts the Dash callback requests the server answers (``/_dash-update-component``)."""

    def __init__(self) -> None:
        self.count = 0
        self._lock = threading.Lock()

    def add(self) -> None:
        with self._lock:
            self.count += 1


def livedata_app(side: str, log: PublishLog, rate: float, store: str, requests: Requests) -> Any:
    """The seed page's text from a ``LiveData`` and a callback on it, clientside or server."""
    from dash import Dash, Input, Output, html, no_update
    from flask import request

    from livedash import Hub, LiveData

    hub = Hub(store)
    hub.stream("seed", max_events=3600)
    app = Dash(__name__, title=f"bench: LiveData + {side} callback")
    app.layout = html.Div([html.H1(TITLE), LiveData("seed", id="feed"), html.Div(id=TEXT_ID)])
    if side == "clientside":
        app.clientside_callback(SHOW_NEWEST, Output(TEXT_ID, "children"), Input("feed", "data"))
    else:

        @app.callback(Output(TEXT_ID, "children"), Input("feed", "data"), prevent_initial_call=True)
        def show(update: dict[str, Any]) -> Any:
            if not update["events"]:
                return no_update
            newest = update["events"][-1]
            return seed_text(newest["data"], newest["seq"])

    @app.server.before_request
    def count() -> None:
        if request.path.endswith("/_dash-update-component"):
            requests.add()

    @hub.every(1.0 / rate, stream="seed")
    def produce() -> None:
        event = hub.publish("seed", seed_value())
        log.write(event.seq, event.ts)

    hub.init_app(app)
    return app


def serve(argv: list[str]) -> int:
    """One contender's server process (what :class:`CallbackServer` starts)."""
    parser = argparse.ArgumentParser(prog="python -m bench.callbacks serve")
    parser.add_argument("kind", choices=KINDS)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--rate", type=float, default=1.0)
    parser.add_argument("--log", required=True)
    parser.add_argument("--ctl", required=True)
    parser.add_argument("--requests", required=True, help="file the request count is written to")
    parser.add_argument("--max-seconds", type=float, default=900)
    args = parser.parse_args(argv)
    raise_fd_limit()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    log = PublishLog(args.log)
    stop = threading.Event()
    requests = Requests()

    def report_requests() -> None:  # the harness reads the count at the window's ends
        while not stop.wait(0.25):
            Path(args.requests).write_text(str(requests.count))

    def finish(*_: object) -> None:
        stop.set()
        log.close()
        os._exit(0)

    signal.signal(signal.SIGTERM, finish)
    watchdog = threading.Timer(args.max_seconds, finish)
    watchdog.daemon = True
    watchdog.start()
    serve_cpu_clock(args.ctl)
    threading.Thread(target=report_requests, daemon=True).start()
    if args.kind == "dashws":
        import uvicorn

        app = dashws_app("text", log, args.rate, stop)
        uvicorn.run(
            app.server, host="127.0.0.1", port=args.port, log_level="warning", access_log=False
        )
    else:
        from livedash.serve import run

        with tempfile.TemporaryDirectory(prefix="livedash-bench-cb-") as tmp:
            app = livedata_app(args.kind, log, args.rate, f"sqlite:///{tmp}/bench.db", requests)
            run(app, "127.0.0.1", args.port)
    finish()
    return 0


class CallbackServer(Server):
    """A contender of this scenario in its own process: :class:`bench.harness.Server`'s
    CPU clock, publish log and lifecycle, started with ``python -m bench.callbacks serve``."""

    def __init__(self, kind: str, workdir: Path, rate: float) -> None:
        self.kind = kind
        self.port = free_port()
        tag = f"cb-{kind}-{rate:g}-{self.port}"
        self.log_path = workdir / f"{tag}.publish"
        self.ctl_path = workdir / f"{tag}.ctl"
        self.requests_path = workdir / f"{tag}.requests"
        self.log_path.touch()
        cmd = [
            sys.executable,
            "-m",
            "bench.callbacks",
            "serve",
            kind,
            "--port",
            str(self.port),
            "--rate",
            str(rate),
            "--log",
            str(self.log_path),
            "--ctl",
            str(self.ctl_path),
            "--requests",
            str(self.requests_path),
        ]
        self.launch_contender(cmd, workdir / f"{tag}.out", child_env())

    def requests(self) -> int:
        """Dash callback requests answered so far (as of the last quarter second)."""
        try:
            return int(self.requests_path.read_text() or 0)
        except (FileNotFoundError, ValueError):
            return 0


# ---- the scenario -----------------------------------------------------------------------------
def _window(browser: Browser, server: CallbackServer, window: float, log: Any) -> dict[str, Any]:
    """``TABS`` tabs on ``server`` for ``window`` seconds: latency, loss, CPU, requests."""
    log(f"  callbacks: {server.kind}, {TABS} tabs")
    try:
        context = browser.open_tabs(server.url, TABS, timeout=120)
    except Exception as exc:  # a window that cannot load is a finding, not a crash
        return {"error": f"tabs did not load: {str(exc)[:300]}"}
    time.sleep(2.0)  # let every tab settle after loading
    t0, c0, r0 = time.time(), server.cpu(), server.requests()
    time.sleep(window)
    t1, c1 = time.time(), server.cpu()
    time.sleep(0.5)  # the request count is written every quarter second
    r1 = server.requests()
    records = Browser.records(context)
    context.close()
    d = delivery(records, server.publishes(), t0, t1)
    minutes = (t1 - t0) / 60
    return {
        **d.summary(),
        "cpu_s_per_tab_min": round((c1 - c0) / TABS / minutes, 4),
        "requests_per_tab_s": round((r1 - r0) / TABS / (t1 - t0), 2),
        "server_rss_mb": round(server.rss() / 2**20, 1),
    }


def run(quick: bool, workdir: Path, browser: Browser, log: Any = print) -> dict[str, Any]:
    """The scenario; its JSON entry (as ``bench.run`` writes it)."""
    from bench import scenarios

    rates = [1.0, 10.0]
    window = 5.0 if quick else 15.0
    kinds = [k for k in KINDS if k != "dashws" or "dashws" in scenarios.CONTENDERS]
    results: dict[str, dict[str, Any]] = {}
    for rate in rates:
        servers: dict[str, CallbackServer] = {}
        try:
            for kind in kinds:
                servers[kind] = CallbackServer(kind, workdir, rate)
            results[f"{rate:g}"] = {
                kind: _window(browser, servers[kind], window, log) for kind in kinds
            }
        finally:
            for server in servers.values():
                server.stop()
    ratios = {
        rate: {
            f"{k}/clientside": {
                key: scenarios.ratio(row.get(k, {}).get(key), row["clientside"].get(key))
                for key in ("cpu_s_per_tab_min", "p50_ms", "p99_ms")
            }
            for k in kinds
            if k != "clientside"
        }
        for rate, row in results.items()
    }
    entry = {
        "scenario": "callbacks",
        "title": f"Your own callbacks on a stream, {TABS} tabs: LiveData (clientside, server) "
        "vs Dash WebSocket callbacks",
        "inputs": {
            "tabs": TABS,
            "rates_per_s": rates,
            "window_s": window,
            "page": "seed text; each callback shows the newest value of its update, with its seq",
            "clientside": "LiveData + clientside callback; livedash run (uvicorn, a2wsgi), SQLite",
            "server": "LiveData + server callback; livedash run (uvicorn, a2wsgi), SQLite",
            "dashws": "Dash fastapi backend on uvicorn, a persistent websocket callback per tab "
            "awaiting the producer's asyncio.Event, set_props",
            "browser": f"headless Chromium {browser.version}, the tabs in one context",
        },
        "goal": "a clientside LiveData callback: no request per update and less server CPU per "
        "tab than Dash WebSocket callbacks; a server callback: a request per update per tab",
        "results": results,
        "ratios": ratios,
    }
    log("\n" + markdown(entry))
    return entry


def scenario(cfg: Any) -> dict[str, Any]:
    """``bench.run``'s entry point (``--only callbacks``)."""
    return run(cfg.quick, cfg.workdir, cfg.browser, cfg.log)


def markdown(entry: dict[str, Any]) -> str:
    """The scenario's table: per rate and contender, latency, loss, CPU, requests."""
    lines = [
        f"**{entry['title']}**",
        "",
        "| updates/s | contender | p50 / p99 ms | unseen | CPU-s per tab-minute | "
        "requests per tab-second |",
        "|---|---|---|---|---|---|",
    ]
    for rate, row in entry["results"].items():
        for kind, r in row.items():
            if "error" in r:
                lines.append(f"| {rate} | {LABELS[kind]} | {r['error']} | | | |")
                continue
            lines.append(
                f"| {rate} | {LABELS[kind]} | {r['p50_ms']:.0f} / {r['p99_ms']:.0f} | "
                f"{r['never_shown_pct']:.1f}% | {r['cpu_s_per_tab_min']:.4f} | "
                f"{r['requests_per_tab_s']:.2f} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["serve"]:
        return serve(argv[1:])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5 s windows instead of 15 s")
    parser.add_argument("--out", type=Path, help="write the JSON entry here")
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="livedash-bench-cb-"))
    browser = Browser()
    try:
        entry = run(args.quick, workdir, browser, lambda m: print(m, file=sys.stderr, flush=True))
    finally:
        browser.close()
    print(markdown(entry))
    if args.out:
        args.out.write_text(json.dumps(entry, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
