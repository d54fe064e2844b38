"""Event streams one worker holds on Dash's fastapi backend, and what each one costs.

For each server and step (default 1,000 and 2,000 streams), a fresh server with ONE worker
serves the seed text page from a SQLite store, its producer publishing 1 value/s; headless
SSE clients (``bench/clients.py``, in their own process; gzip as browsers ask, ``--no-gzip``
for identity) connect, then receive for a window. Reported per step: clients connected,
values lost, p50/p99 publish -> client delivery, server RSS before any client and at the
window's end, and the growth per stream.

Servers (``--servers``):

- ``uvicorn``: ``livedash serve`` on the fastapi app: uvicorn, ``--workers 1``.
- ``gunicorn-uvicorn``: the same app under gunicorn with uvicorn's (deprecated)
  ``uvicorn.workers.UvicornWorker``, the other way to run N uvicorn workers.
- ``gevent``: ``livedash serve`` on the same page on Dash's Flask backend (gunicorn, gevent
  worker), the reference the README's figures come from.

Run: ``.venv/bin/python -m bench.asgi_held [--steps 1000,2000] [--window 10]``; results go to
stdout and ``bench/results/asgi_held.json`` (one entry for gzip, one for identity runs). Not
part of ``make bench``.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import logging
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import psutil

from bench.contenders import TEXT_ID, TITLE, PublishLog, raise_fd_limit, seed_value
from bench.harness import (
    ROOT,
    delivery,
    free_port,
    machine_facts,
    read_publishes,
    rss_of,
    run_clients,
    wait_until,
)

SERVERS = ("uvicorn", "gunicorn-uvicorn", "gevent")
RESULTS = ROOT / "bench" / "results" / "asgi_held.json"


def create_app(options: Any) -> Any:
    """``livedash serve bench.asgi_held:create_app``: the seed text page on the backend named
    by ``BENCH_BACKEND``, its producer logging each publish to ``BENCH_LOG``."""
    from dash import Dash, html

    from livedash import Hub, LiveText

    raise_fd_limit()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    log = PublishLog(os.environ.get("BENCH_LOG"))
    hub = Hub(options.store)
    app = Dash(__name__, title="bench: asgi", backend=os.environ.get("BENCH_BACKEND", "fastapi"))
    text = "Current Time: {time}, Random Number: {number} (#{seq})"
    app.layout = html.Div([html.H1(TITLE), LiveText("seed", text, id=TEXT_ID)])

    @hub.every(1.0 / float(os.environ.get("BENCH_RATE", "1")), stream="seed")
    def produce() -> None:
        event = hub.publish("seed", seed_value())
        log.write(event.seq, event.ts)

    hub.init_app(app)
    return app


class Served:
    """One server with one worker on a free port, started for one step."""

    def __init__(self, kind: str, workdir: Path) -> None:
        self.port = free_port()
        self.log_path = workdir / f"{kind}-{self.port}.publish"
        self.log_path.touch()
        store = f"sqlite:///{workdir}/{kind}-{self.port}.db"
        env = dict(
            os.environ,
            PYTHONPATH=str(ROOT),
            BENCH_LOG=str(self.log_path),
            BENCH_RATE="1",
            BENCH_BACKEND="flask" if kind == "gevent" else "fastapi",
            LIVEDASH_SERVE_APP="bench.asgi_held:create_app",
            LIVEDASH_SERVE_STORE=store,
        )
        if kind == "gunicorn-uvicorn":
            argv = [
                sys.executable, "-m", "gunicorn", "--workers", "1",
                "--worker-class", "uvicorn.workers.UvicornWorker",
                "--bind", f"127.0.0.1:{self.port}", "livedash.serve:asgi_app()",
            ]  # fmt: skip
        else:
            argv = [
                str(Path(sys.executable).with_name("livedash")), "serve",
                "bench.asgi_held:create_app", "--workers", "1", "--store", store,
                "--port", str(self.port),
            ]  # fmt: skip
        self.out = open(workdir / f"{kind}-{self.port}.out", "w")  # noqa: SIM115
        self.proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=self.out, stderr=self.out)
        self.ps = psutil.Process(self.proc.pid)
        wait_until(self._ready, 90, f"{kind} on port {self.port}", 0.2)

    def _ready(self) -> bool:
        if self.proc.poll() is not None:
            raise RuntimeError(f"server exited: {Path(self.out.name).read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/livedash/health") as r:
                return r.status == 200
        except OSError:
            return False

    def rss(self) -> int:
        """Resident memory of the server process and its workers."""
        return rss_of([self.ps, *self.ps.children(recursive=True)])

    def publishes(self) -> dict[int, float]:
        """seq -> publish time, from the server's log."""
        return read_publishes(self.log_path)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        self.out.close()


def step(kind: str, n: int, window: float, workdir: Path, gzip: bool = True) -> dict[str, Any]:
    """Hold ``n`` streams on one ``kind`` worker for ``window`` seconds at 1 update/s."""
    server = Served(kind, workdir)
    try:
        time.sleep(2.0)  # the producer's first ticks and the worker's imports settle
        rss0 = server.rss()
        marks: dict[str, int] = {}

        def during() -> None:
            marks["connected"] = server.rss()
            threading.Timer(window - 0.5, lambda: marks.update(end=server.rss())).start()

        extra = () if gzip else ("--no-gzip",)
        r = run_clients(
            "livedash", server.port, n, window, workdir, on_connected=during, extra=extra
        )
        wait_until(lambda: "end" in marks, 10, "the window's end")
        s = delivery(r["clients"], server.publishes(), r["t_start"], r["t_end"]).summary()
        return {
            "connected": r["connected"],
            "failed": r["failed_count"],
            "never_shown_pct": s["never_shown_pct"],
            "p50_ms": s["p50_ms"],
            "p99_ms": s["p99_ms"],
            "connect_s": round(r["t_start"] - r["t_begin"], 1),
            "rss0_mb": round(rss0 / 2**20, 1),
            "rss_mb": round(marks["end"] / 2**20, 1),
            "kib_per_stream": round((marks["end"] - rss0) / n / 1024, 1),
        }
    finally:
        server.stop()


def _version(module: str) -> str | None:
    try:
        return importlib.metadata.version(module)
    except importlib.metadata.PackageNotFoundError:
        return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", default="1000,2000", help="streams per step")
    parser.add_argument("--window", type=float, default=10.0, help="seconds of 1 update/s")
    parser.add_argument("--servers", default=",".join(SERVERS), help=", ".join(SERVERS))
    parser.add_argument(
        "--no-gzip",
        action="store_true",
        help="clients ask for identity: each gzip stream keeps a compressor (~25 KiB)",
    )
    args = parser.parse_args(argv)
    steps = [int(s) for s in args.steps.split(",")]
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="asgi-held-") as tmp:
        for kind in args.servers.split(","):
            for n in steps:
                print(f"{kind}: {n} streams ...", file=sys.stderr, flush=True)
                row = step(kind, n, args.window, Path(tmp), gzip=not args.no_gzip)
                results.setdefault(kind, {})[str(n)] = row
                print(f"{kind:>17} {n:>5}: {json.dumps(row)}", flush=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    runs = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    runs["gzip" if not args.no_gzip else "identity"] = {
        "steps": steps,
        "window_s": args.window,
        "results": results,
        # uvicorn picks uvloop and httptools when installed (uvicorn[standard]): say which.
        "uvicorn_extras": {m: _version(m) for m in ("uvloop", "httptools")},
        **machine_facts(),
    }
    RESULTS.write_text(json.dumps(runs, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
