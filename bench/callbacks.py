"""The ``callbacks`` scenario: a stream into the page's own Dash callbacks, 10 tabs.

Three ways to run a callback per value of a stream, each showing the newest value's text
(``... (#seq)``) in the seed page's ``live-update-text``, and livedash's own widget beside
them for reference:

- ``clientside``: ``LiveData`` + a clientside callback (no request; the tab does the work);
- ``server``: ``LiveData`` + a server callback (one request per update per tab);
- ``dashws``: Dash 4.4's own WebSocket callbacks (``bench.contenders.dashws_app``: one
  persistent callback per tab on the fastapi backend, pushing with ``set_props``);
- ``widget``: ``LiveText`` (no callback: livedash sets the text itself).

For each rate, the servers are up together and their windows take turns, in ``rounds``
rounds (the order rotating), so that each contender meets the same mix of machine load; per
contender, over its windows: latency publish -> DOM (p50 / p99), values never shown, server
CPU seconds per tab-minute, Chromium's CPU seconds per tab-minute (every process of the
browser: what the page's work costs on this 2-core machine, where it competes with the
server and the other tabs) and requests the server answered.

``python -m bench.callbacks [--quick]`` runs the scenario alone and prints its table; it and
``make bench`` (``--only callbacks``) write ``bench/results/callbacks-<commit>.md`` and
``.json``. ``python -m bench.callbacks serve KIND --port P ...`` is one contender's server
process.
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

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
from bench.harness import Browser, Delivery, Server, child_env, delivery, free_port

KINDS = ("clientside", "server", "dashws", "widget")
LABELS = {
    "clientside": "LiveData + clientside callback",
    "server": "LiveData + server callback",
    "dashws": "Dash WebSocket callback",
    "widget": "LiveText (no callback; reference)",
}
TABS = 10
RESULTS = Path(__file__).resolve().parent / "results"
#: Seconds each contender is measured per round, and rounds (full, quick).
WINDOW_S = 5.0
ROUNDS = {False: 3, True: 1}

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


def livedata_app(
    side: str,
    log: PublishLog,
    rate: float,
    store: str,
    requests: Requests,
    update_title: str | None = None,
) -> Any:
    """The seed page's text from a ``LiveData`` and a callback on it, clientside or server
    (or, ``widget``, from a ``LiveText``), written as docs/howto/callbacks.md says."""
    from dash import Dash, Input, Output, html, no_update
    from flask import request

    from livedash import Hub, LiveData, LiveText

    hub = Hub(store)
    hub.stream("seed", max_events=3600)
    # update_title="", as the how-to says for callbacks on a stream: Dash's default retitles
    # the tab "Updating..." and back around every callback run, which costs the browser more
    # than the callback (``--update-title "Updating..."`` measures Dash's default).
    app = Dash(__name__, title=f"bench: {LABELS[side]}", update_title=update_title)
    if side == "widget":
        text = LiveText(
            "seed", "Current Time: {time}, Random Number: {number} (#{seq})", id=TEXT_ID
        )
        app.layout = html.Div([html.H1(TITLE), text])
    else:
        app.layout = html.Div([html.H1(TITLE), LiveData("seed", id="feed"), html.Div(id=TEXT_ID)])
    if side == "clientside":
        app.clientside_callback(SHOW_NEWEST, Output(TEXT_ID, "children"), Input("feed", "data"))
    elif side == "server":

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
    parser.add_argument("--update-title", help="Dash's update_title for the LiveData pages")
    args = parser.parse_args(argv)
    raise_fd_limit()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    log = PublishLog(args.log)
    stop = threading.Event()
    requests = Requests()

    def report_requests() -> None:  # the harness reads "count time" at the window's ends
        target = Path(args.requests)
        scratch = target.with_suffix(".tmp")
        while not stop.wait(0.25):
            # Replaced whole: a reader never sees a half-written file.
            scratch.write_text(f"{requests.count} {time.time():.3f}")
            scratch.replace(target)

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
            store = f"sqlite:///{tmp}/bench.db"
            app = livedata_app(args.kind, log, args.rate, store, requests, args.update_title)
            run(app, "127.0.0.1", args.port)
    finish()
    return 0


class CallbackServer(Server):
    """A contender of this scenario in its own process: :class:`bench.harness.Server`'s
    CPU clock, publish log and lifecycle, started with ``python -m bench.callbacks serve``."""

    def __init__(
        self, kind: str, workdir: Path, rate: float, update_title: str | None = None
    ) -> None:
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
        if update_title:
            cmd += ["--update-title", update_title]
        self.launch_contender(cmd, workdir / f"{tag}.out", child_env())

    def requests(self) -> tuple[int, float]:
        """Dash callback requests answered so far and when that was counted (the server
        writes it every quarter second): a rate over two readings is unbiased by the lag."""
        try:
            count, at = self.requests_path.read_text().split()
        except FileNotFoundError:  # not written yet: nothing answered
            return 0, time.time()
        return int(count), float(at)


# ---- the scenario -----------------------------------------------------------------------------
def browser_cpu() -> float:
    """CPU seconds used so far by the Chromium processes this process drives (Playwright's
    driver is our child, Chromium its): browser, GPU, page and worker processes."""
    total = 0.0
    for p in psutil.Process().children(recursive=True):
        try:
            if "chrom" in p.name():
                t = p.cpu_times()
                total += t.user + t.system
        except psutil.NoSuchProcess:
            continue
    return total


@dataclass
class Tally:
    """One contender's windows at one rate, summed."""

    seconds: float = 0.0
    server_cpu: float = 0.0
    browser_cpu: float = 0.0
    requests: float = 0.0
    request_seconds: float = 0.0
    rss: int = 0
    latencies: list[float] = field(default_factory=list)
    expected: int = 0
    missed: int = 0
    unshown: int = 0
    values: int = 0
    errors: list[str] = field(default_factory=list)

    def add(self, d: Delivery) -> None:
        self.latencies += d.latencies_ms
        self.expected += d.expected
        self.missed += d.missed
        self.unshown += d.shown_by_none
        self.values += d.values

    def summary(self) -> dict[str, Any]:
        if not self.seconds:
            return {"error": "; ".join(self.errors) or "not measured"}
        d = Delivery(self.latencies, self.expected, self.missed, self.unshown, self.values)
        minutes = self.seconds / 60
        return {
            **d.summary(),
            "windows_s": round(self.seconds, 1),
            "cpu_s_per_tab_min": round(self.server_cpu / TABS / minutes, 4),
            "browser_cpu_s_per_tab_min": round(self.browser_cpu / TABS / minutes, 3),
            "requests_per_tab_s": round(
                self.requests / TABS / self.request_seconds if self.request_seconds else 0, 2
            ),
            "server_rss_mb": round(self.rss / 2**20, 1),
            **({"errors": self.errors} if self.errors else {}),
        }


def _window(
    browser: Browser, server: CallbackServer, window: float, tally: Tally, log: Any
) -> None:
    """``TABS`` tabs on ``server`` for ``window`` seconds, added to ``tally``."""
    log(f"  callbacks: {server.kind}, {TABS} tabs, load {os.getloadavg()[0]:.1f}")
    try:
        context = browser.open_tabs(server.url, TABS, timeout=120)
    except Exception as exc:  # a window that cannot load is a finding, not a crash
        tally.errors.append(f"tabs did not load: {str(exc)[:300]}")
        return
    time.sleep(2.0)  # let every tab settle after loading
    (r0, rt0), b0 = server.requests(), browser_cpu()
    t0, c0 = time.time(), server.cpu()
    time.sleep(window)
    t1, c1 = time.time(), server.cpu()
    b1 = browser_cpu()
    time.sleep(0.5)  # the request count is written every quarter second
    r1, rt1 = server.requests()
    records = Browser.records(context)
    context.close()
    tally.add(delivery(records, server.publishes(), t0, t1))
    tally.seconds += t1 - t0
    tally.server_cpu += c1 - c0
    tally.browser_cpu += b1 - b0
    tally.requests += r1 - r0
    tally.request_seconds += rt1 - rt0
    tally.rss = max(tally.rss, server.rss())


def run(
    quick: bool,
    workdir: Path,
    browser: Browser,
    log: Any = print,
    out: Path | None = RESULTS,
    update_title: str | None = None,
) -> dict[str, Any]:
    """The scenario; its JSON entry (as ``bench.run`` writes it). Also writes
    ``callbacks-<commit>.md`` and ``.json`` to ``out`` (None: not). ``update_title``: Dash's
    for the LiveData pages (None: off, as the how-to says)."""
    from bench import scenarios
    from bench.abuse import commit

    rates = [1.0, 10.0]
    rounds = ROUNDS[quick]
    kinds = [k for k in KINDS if k != "dashws" or "dashws" in scenarios.CONTENDERS]
    load_start = [round(x, 2) for x in os.getloadavg()]
    results: dict[str, dict[str, Any]] = {}
    for rate in rates:
        servers: dict[str, CallbackServer] = {}
        tallies = {kind: Tally() for kind in kinds}
        try:
            for kind in kinds:
                servers[kind] = CallbackServer(kind, workdir, rate, update_title)
            for r in range(rounds):
                # The order rotates: no contender always follows the same one.
                for kind in kinds[r % len(kinds) :] + kinds[: r % len(kinds)]:
                    _window(browser, servers[kind], WINDOW_S, tallies[kind], log)
            results[f"{rate:g}"] = {kind: tallies[kind].summary() for kind in kinds}
        finally:
            for server in servers.values():
                server.stop()
    load_end = [round(x, 2) for x in os.getloadavg()]
    keys = ("cpu_s_per_tab_min", "browser_cpu_s_per_tab_min", "p50_ms", "p99_ms")
    ratios = {
        rate: {
            f"{k}/clientside": {
                key: scenarios.ratio(row.get(k, {}).get(key), row["clientside"].get(key))
                for key in keys
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
            "window_s": WINDOW_S,
            "rounds": rounds,
            "update_title": update_title,
            "page": "seed text; each callback shows the newest value of its update, with its seq",
            "clientside": "LiveData + clientside callback; livedash run (uvicorn, a2wsgi), "
            f"SQLite; Dash(update_title={update_title!r})",
            "server": "LiveData + server callback; livedash run (uvicorn, a2wsgi), SQLite; "
            f"Dash(update_title={update_title!r})",
            "dashws": "Dash fastapi backend on uvicorn, a persistent websocket callback per tab "
            "awaiting the producer's asyncio.Event, set_props",
            "widget": "LiveText on the same server as the LiveData contenders (reference)",
            "browser": f"headless Chromium {browser.version}, the tabs in one context (one "
            "window: the front tab's renderer at nice 0, the others' at nice 5)",
        },
        "machine": {
            "commit": commit(),
            "cores": os.cpu_count(),
            "load_avg_start": load_start,
            "load_avg_end": load_end,
            "mode": "quick" if quick else "full",
        },
        "goal": "a clientside LiveData callback: no request per update and less server CPU per "
        "tab than Dash WebSocket callbacks; a server callback: a request per update per tab",
        "results": results,
        "ratios": ratios,
    }
    table = markdown(entry)
    log("\n" + table)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        name = f"callbacks-{entry['machine']['commit'].rstrip('+')}"
        (out / f"{name}.json").write_text(json.dumps(entry, indent=1) + "\n")
        (out / f"{name}.md").write_text(table + "\n")
        log(f"written: {out / name}.md, .json")
    return entry


def scenario(cfg: Any) -> dict[str, Any]:
    """``bench.run``'s entry point (``--only callbacks``)."""
    return run(cfg.quick, cfg.workdir, cfg.browser, cfg.log, cfg.out or RESULTS)


def markdown(entry: dict[str, Any]) -> str:
    """The scenario's table: per rate and contender, latency, loss, CPU, requests."""
    machine = entry.get("machine", {})
    inputs = entry["inputs"]
    lines = [f"**{entry['title']}**", ""]
    if machine:
        lines += [
            f"livedash {machine['commit']}, {machine['mode']} run: {inputs.get('rounds', 1)} "
            f"round(s) of {inputs['window_s']:g} s per contender and rate, the contenders "
            f"taking turns; LiveData pages with Dash(update_title={inputs.get('update_title')!r});"
            f" {machine['cores']} cores, load average {machine['load_avg_start']} "
            f"at the start, {machine['load_avg_end']} at the end (other work shares the "
            "machine).",
            "",
        ]
    lines += [
        "| updates/s | contender | p50 / p99 ms | unseen | server CPU-s per tab-minute | "
        "browser CPU-s per tab-minute | requests per tab-second |",
        "|---|---|---|---|---|---|---|",
    ]
    for rate, row in entry["results"].items():
        for kind, r in row.items():
            if "p50_ms" not in r or r["p50_ms"] is None:
                lines.append(
                    f"| {rate} | {LABELS[kind]} | {r.get('error', 'no samples')} | | | | |"
                )
                continue
            browser = r.get("browser_cpu_s_per_tab_min")
            lines.append(
                f"| {rate} | {LABELS[kind]} | {r['p50_ms']:.0f} / {r['p99_ms']:.0f} | "
                f"{r['never_shown_pct']:.1f}% | {r['cpu_s_per_tab_min']:.4f} | "
                f"{'' if browser is None else f'{browser:.3f}'} | "
                f"{r['requests_per_tab_s']:.2f} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["serve"]:
        return serve(argv[1:])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help=f"1 round of {WINDOW_S:g} s instead of 3"
    )
    parser.add_argument(
        "--out", type=Path, default=RESULTS, help="results folder (callbacks-<commit>.md/.json)"
    )
    parser.add_argument(
        "--update-title",
        help="Dash's update_title for the LiveData pages (default: none, as the how-to says; "
        "'Updating...' is Dash's default)",
    )
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="livedash-bench-cb-"))
    browser = Browser()
    try:
        log = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
        entry = run(args.quick, workdir, browser, log, args.out, args.update_title)
    finally:
        browser.close()
    print(markdown(entry))
    return 0


if __name__ == "__main__":
    sys.exit(main())
