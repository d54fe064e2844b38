"""The contenders, each served alone in its own process.

``python -m bench.contenders KIND --port P --mode text|graph --rate R --log FILE``

- ``poll``: the Dash recipe, dcc.Interval (1 s) firing a server callback that returns the whole
  text (or the whole figure), on Dash's Flask dev server, threaded (``livedash run seed
  --transport poll``).
- ``dashws``: Dash 4.4's own WebSocket callbacks, ``Dash(backend="fastapi")`` on uvicorn, one
  ``websocket=True, persistent=True`` callback per tab that awaits an ``asyncio.Event`` set by
  the producer and pushes with ``set_props`` (the event-driven, strongest variant).
- ``livedash``: a Hub (SQLite, the embedded default) + LiveText / LiveGraph + ``init_app``,
  served as ``livedash run`` serves it: uvicorn in this process (``livedash.serve.run``: a2wsgi
  for the Flask pages, livedash's routes native ASGI in front).
- ``before``: the same app on the livedash of ``harness.BEFORE_REV`` (the harness puts its
  ``src`` first on ``PYTHONPATH``), served as that ``livedash run`` served it: the threaded
  werkzeug dev server, a thread per open stream.

Every contender runs the same producer: ``rate`` values per second, each with a sequence number
shown in the page, and writes ``seq ts`` (publish time, epoch seconds) per value to ``--log``, so
the harness can match what the browser shows against when the server had it.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import random
import resource
import signal
import socket
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import datetime
from typing import Any, TextIO

TITLE = "Real-Time Updates"
TEXT_ID = "live-update-text"
GRAPH_ID = "live-graph"
#: Points kept in the rolling graph (the graph scenario's window).
WINDOW = 1000


def seed_value() -> dict[str, Any]:
    """The seed page's data: the recipe's time and random number."""
    return {"time": f"{datetime.now():%Y-%m-%d %H:%M:%S}", "number": random.randint(0, 100)}


def seed_text(data: dict[str, Any], seq: int) -> str:
    """What the page shows; ``(#seq)`` lets the browser say which value it shows."""
    return f"Current Time: {data['time']}, Random Number: {data['number']} (#{seq})"


def point_value() -> dict[str, Any]:
    """One graph point."""
    return {"value": round(random.gauss(50, 10), 3)}


class PublishLog:
    """``seq ts`` lines, one per published value, for the harness to read afterwards."""

    def __init__(self, path: str | None) -> None:
        # Appending: with several workers, whichever holds the producer lease writes.
        self._file: TextIO | None = open(path, "a", buffering=1) if path else None  # noqa: SIM115
        self._lock = threading.Lock()

    def write(self, seq: int, ts: float) -> None:
        if self._file is not None:
            with self._lock:
                self._file.write(f"{seq} {ts:.6f}\n")

    def close(self) -> None:
        if self._file is not None:
            with self._lock:
                self._file.close()
                self._file = None


def run_schedule(rate: float, tick: Callable[[], None], stop: threading.Event) -> None:
    """Call ``tick`` ``rate`` times per second on a fixed schedule (no drift, no bursts)."""
    period = 1.0 / rate
    next_at = time.monotonic() + period
    while not stop.wait(max(0.0, next_at - time.monotonic())):
        tick()
        next_at += period
        if next_at < time.monotonic() - 1.0:  # fell far behind: skip rather than burst
            next_at = time.monotonic() + period


# ---- the polling recipe ---------------------------------------------------------------------
class LatestValue:
    """The newest value, shared by the producer thread and the request threads."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.lock = threading.Lock()
        self.seq = 0
        self.data: dict[str, Any] = seed_value()
        self.xs: deque[str] = deque(maxlen=WINDOW)
        self.ys: deque[float] = deque(maxlen=WINDOW)

    def publish(self, log: PublishLog) -> None:
        data = point_value() if self.mode == "graph" else seed_value()
        with self.lock:
            self.seq += 1
            ts = time.time()
            self.data = data
            if self.mode == "graph":
                self.xs.append(f"{datetime.fromtimestamp(ts):%Y-%m-%d %H:%M:%S.%f}")
                self.ys.append(data["value"])
            seq = self.seq
        log.write(seq, ts)


def poll_app(mode: str, log: PublishLog, rate: float, stop: threading.Event) -> Any:
    """The recipe: an Interval fires a callback that returns the whole text or figure."""
    import plotly.graph_objects as go
    from dash import Dash, Input, Output, dcc, html

    latest = LatestValue(mode)
    if mode == "graph":
        for _ in range(WINDOW):
            latest.publish(PublishLog(None))
    app = Dash(__name__, title="bench: polling recipe")
    target = dcc.Graph(id=GRAPH_ID) if mode == "graph" else html.Div(id=TEXT_ID)
    app.layout = html.Div(
        [
            html.H1(TITLE),
            target,
            dcc.Interval(id="interval-component", interval=1000, n_intervals=0),
        ]
    )

    if mode == "graph":

        @app.callback(Output(GRAPH_ID, "figure"), Input("interval-component", "n_intervals"))
        def update_graph(n: int) -> Any:
            with latest.lock:
                xs, ys = list(latest.xs), list(latest.ys)
            return go.Figure(go.Scatter(x=xs, y=ys, mode="lines"))

    else:

        @app.callback(Output(TEXT_ID, "children"), Input("interval-component", "n_intervals"))
        def update_text(n: int) -> str:
            with latest.lock:
                data, seq = latest.data, latest.seq
            return seed_text(data, seq)

    threading.Thread(
        target=run_schedule, args=(rate, lambda: latest.publish(log), stop), daemon=True
    ).start()
    return app


# ---- Dash's own WebSocket callbacks ---------------------------------------------------------
class AsyncFeed:
    """Producer side for the WebSocket contender: values in a ring, and an asyncio.Event that
    is replaced on every publish so that every waiting tab loop wakes once."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.seq = 0
        self.ring: deque[tuple[int, float, dict[str, Any]]] = deque(maxlen=WINDOW)
        self.changed: asyncio.Event | None = None
        self.started = False

    def publish(self, log: PublishLog) -> None:
        self.seq += 1
        ts = time.time()
        self.ring.append((self.seq, ts, point_value() if self.mode == "graph" else seed_value()))
        log.write(self.seq, ts)
        if self.changed is not None:
            old, self.changed = self.changed, asyncio.Event()
            old.set()

    async def produce(self, rate: float, log: PublishLog) -> None:
        period = 1.0 / rate
        loop = asyncio.get_running_loop()
        next_at = loop.time() + period
        while True:
            await asyncio.sleep(max(0.0, next_at - loop.time()))
            self.publish(log)
            next_at += period
            if next_at < loop.time() - 1.0:
                next_at = loop.time() + period

    def ensure_started(self, rate: float, log: PublishLog) -> None:
        if not self.started:
            self.started = True
            self.changed = asyncio.Event()
            asyncio.get_running_loop().create_task(self.produce(rate, log))

    def since(self, seq: int) -> list[tuple[int, float, dict[str, Any]]]:
        return [item for item in self.ring if item[0] > seq]


def dashws_app(mode: str, log: PublishLog, rate: float, stop: threading.Event) -> Any:
    """One persistent WebSocket callback per tab, awaiting the producer's event."""
    from dash import Dash, ctx, dcc, html, set_props

    feed = AsyncFeed(mode)
    for _ in range(WINDOW if mode == "graph" else 0):
        feed.publish(PublishLog(None))

    def layout() -> Any:
        if mode == "graph":
            items = list(feed.ring)
            figure = {
                "data": [
                    {
                        "type": "scatter",
                        "mode": "lines",
                        "x": [datetime.fromtimestamp(ts).isoformat() for _, ts, _ in items],
                        "y": [d["value"] for _, _, d in items],
                    }
                ],
                "layout": {"uirevision": "g"},
            }
            target: Any = dcc.Graph(id=GRAPH_ID, figure=figure)
        else:
            target = html.Div(id=TEXT_ID)
        return html.Div([html.H1(TITLE), target])

    app = Dash(__name__, backend="fastapi", title="bench: Dash WebSocket callbacks")
    app.layout = layout

    @app.callback(websocket=True, persistent=True)
    async def stream() -> None:
        feed.ensure_started(rate, log)
        ws = ctx.websocket
        seen = feed.seq if mode == "graph" else feed.seq - 1
        while ws is not None and not ws.is_shutdown:
            fresh = feed.since(seen)
            if fresh:
                seen = fresh[-1][0]
                if mode == "graph":
                    xs = [datetime.fromtimestamp(ts).isoformat() for _, ts, _ in fresh]
                    ys = [d["value"] for _, _, d in fresh]
                    set_props(GRAPH_ID, {"extendData": [{"x": [xs], "y": [ys]}, [0], WINDOW]})
                else:
                    seq, _, data = fresh[-1]
                    set_props(TEXT_ID, {"children": seed_text(data, seq)})
            assert feed.changed is not None
            await feed.changed.wait()

    return app


# ---- livedash -------------------------------------------------------------------------------
def livedash_app(mode: str, log: PublishLog, rate: float, store: str) -> Any:
    """The seed page (or a 1,000-point rolling graph) on livedash, written as a user would:
    a Hub, a producer registered with ``hub.every``, LiveText / LiveGraph, ``init_app``."""
    from dash import Dash, html

    from livedash import Hub, LiveGraph, LiveText

    hub = Hub(store)
    stream = "points" if mode == "graph" else "seed"
    hub.stream(stream, max_events=max(WINDOW, 3600))
    app = Dash(__name__, title="bench: livedash")
    if mode == "graph":
        if hub.store.head(stream) < WINDOW:  # one worker fills the window; the others see it
            hub.publish_many([(stream, point_value()) for _ in range(WINDOW)])
        target: Any = LiveGraph(stream, x="ts", y="value", window=WINDOW, id=GRAPH_ID)
    else:
        target = LiveText(
            stream, "Current Time: {time}, Random Number: {number} (#{seq})", id=TEXT_ID
        )
    app.layout = html.Div([html.H1(TITLE), target])

    # Published here rather than returned, to log the stored seq and publish time; with
    # several workers the store's lease lets one of them run it.
    @hub.every(1.0 / rate, stream=stream)
    def produce() -> None:
        event = hub.publish(stream, point_value() if mode == "graph" else seed_value())
        log.write(event.seq, event.ts)

    hub.init_app(app)
    return app


def serving_app(options: Any) -> Any:
    """``livedash serve bench.contenders:serving_app`` (``bench/serving.py``): the seed text
    page on the backend named by ``BENCH_BACKEND``, its producer logging each publish to
    ``BENCH_LOG``. Here, not in bench.serving: the "before" livedash serves it, and that
    module imports the harness, which imports this livedash's test kit."""
    from dash import Dash, html

    from livedash import Hub, LiveText

    raise_fd_limit()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    log = PublishLog(os.environ.get("BENCH_LOG"))
    hub = Hub(options.store)
    app = Dash(__name__, title="bench: serving", backend=os.environ.get("BENCH_BACKEND", "flask"))
    text = "Current Time: {time}, Random Number: {number} (#{seq})"
    app.layout = html.Div([html.H1(TITLE), LiveText("seed", text, id=TEXT_ID)])

    @hub.every(1.0 / float(os.environ.get("BENCH_RATE", "1")), stream="seed")
    def produce() -> None:
        event = hub.publish("seed", seed_value())
        log.write(event.seq, event.ts)

    hub.init_app(app)
    return app


# ---- serving --------------------------------------------------------------------------------
def serve_cpu_clock(path: str) -> None:
    """Answer every connection on the UNIX socket ``path`` with this process's CPU seconds.

    ``time.process_time()`` counts every thread, exited ones too, to the nanosecond; psutil's
    cpu_times tick in 10 ms steps, too coarse for a tab that costs a few ms a minute."""
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(8)

    def loop() -> None:
        while True:
            conn, _ = server.accept()
            with conn:
                conn.sendall(f"{time.process_time():.9f}".encode())

    threading.Thread(target=loop, name="bench-cpu-clock", daemon=True).start()


class Profiler:
    """cProfile over every thread of this process (``BENCH_PROFILE=FILE``): the main thread
    (the server's event loop) and each thread started afterwards (fan-out, producers, request
    threads), merged into one pstats file at exit. For ``python -m bench.profile``."""

    def __init__(self, path: str) -> None:
        import cProfile

        self.path = path
        self._profiles: list[cProfile.Profile] = []
        self._lock = threading.Lock()
        main = self._new()
        run = threading.Thread.run
        new = self._new

        def profiled_run(thread: threading.Thread) -> None:
            profile = new()
            profile.enable()
            try:
                run(thread)
            finally:
                profile.disable()

        threading.Thread.run = profiled_run  # type: ignore[method-assign,assignment]
        main.enable()

    def _new(self) -> Any:
        import cProfile

        profile = cProfile.Profile()
        with self._lock:
            self._profiles.append(profile)
        return profile

    def dump(self) -> None:
        """Write the merged statistics (threads still running included, as far as they got)."""
        import pstats

        with self._lock:
            profiles = list(self._profiles)
        profiles[0].disable()
        stats = [p for p in profiles if p.getstats()]
        if stats:
            pstats.Stats(*stats).dump_stats(self.path)


def raise_fd_limit() -> None:
    """Thousands of open streams need thousands of descriptors."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=["poll", "dashws", "livedash", "before"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--mode", choices=["text", "graph"], default="text")
    parser.add_argument("--rate", type=float, default=1.0, help="values published per second")
    parser.add_argument("--log", help="file for 'seq ts' publish lines")
    parser.add_argument("--store", help="livedash store URL (default: SQLite in a temp dir)")
    parser.add_argument("--ctl", help="UNIX socket answering with this process's CPU seconds")
    parser.add_argument("--max-seconds", type=float, default=1200, help="exit after this long")
    args = parser.parse_args(argv)

    raise_fd_limit()
    # Request logging would be the largest cost of a polling server; keep it out of every
    # contender's figures alike.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    log = PublishLog(args.log)
    stop = threading.Event()
    profiler = Profiler(os.environ["BENCH_PROFILE"]) if os.environ.get("BENCH_PROFILE") else None

    def finish(*_: object) -> None:
        stop.set()
        log.close()
        if profiler is not None:
            profiler.dump()
        os._exit(0)

    signal.signal(signal.SIGTERM, finish)
    signal.signal(signal.SIGINT, finish)
    watchdog = threading.Timer(args.max_seconds, finish)
    watchdog.daemon = True
    watchdog.start()
    if args.ctl:
        serve_cpu_clock(args.ctl)

    if args.kind == "poll":
        app = poll_app(args.mode, log, args.rate, stop)
        app.run(host="127.0.0.1", port=args.port, debug=False, threaded=True)
    elif args.kind in ("livedash", "before"):
        with tempfile.TemporaryDirectory(prefix="livedash-bench-") as tmp:
            store = args.store or f"sqlite:///{tmp}/bench.db"
            app = livedash_app(args.mode, log, args.rate, store)
            if args.kind == "before":  # what `livedash run` did before the serving core
                app.run(host="127.0.0.1", port=args.port, debug=False, threaded=True)
            else:  # what `livedash run` does now
                from livedash.serve import run

                run(app, "127.0.0.1", args.port)
    else:
        import uvicorn

        app = dashws_app(args.mode, log, args.rate, stop)
        # What Dash's own app.run() starts for the fastapi backend, without the extra process.
        uvicorn.run(
            app.server, host="127.0.0.1", port=args.port, log_level="warning", access_log=False
        )
    finish()
    return 0


if __name__ == "__main__":
    sys.exit(main())
