"""Event streams one worker holds, and what each costs, per way of serving.

For each step (default 1,000, 2,000 and 5,000 streams) and server, a fresh server with ONE
worker serves the seed text page from a SQLite store, its producer publishing 1 value/s;
headless SSE clients (``bench/clients.py``, in their own process; gzip as browsers ask,
``--no-gzip`` for identity) connect, then receive for a window. Reported per step: clients
connected, values lost, p50/p99 publish -> client delivery, server CPU, server RSS before any
client and at the window's end, and the growth per stream. A step holds when every client
connected, none dropped, nothing was lost and p99 <= 250 ms.

Servers (``--servers``), all ``livedash serve ... --workers 1`` unless said:

- ``uvicorn``: the page on Dash's default Flask backend, served the new default way:
  uvicorn, livedash's routes native ASGI, a2wsgi for the pages and callbacks.
- ``before``: the same page on livedash ``harness.BEFORE_REV`` (its default for a Flask app:
  gunicorn with the gevent worker).
- ``fastapi``: the page on Dash's fastapi backend (uvicorn).
- ``gunicorn-uvicorn``: the fastapi page under gunicorn with uvicorn's (deprecated)
  ``uvicorn.workers.UvicornWorker``.

Steps take turns across servers (1,000 on each, then 2,000 on each, ...) so that a change of
machine load falls on all of them alike. ``make bench`` runs ``uvicorn`` and ``before``
(its ``clients`` scenario); alone: ``.venv/bin/python -m bench.serving [--steps
1000,2000,5000] [--servers uvicorn,before] [--window 10]``, results on stdout and in
``bench/results/serving.json`` (one entry for gzip, one for identity runs).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil

from bench.harness import (
    ROOT,
    child_env,
    cpu_of,
    delivery,
    free_port,
    machine_facts,
    process_tree,
    read_publishes,
    rss_of,
    run_clients,
    use_before,
    wait_until,
)
from livedash.testing import ServedProcess

SERVERS = ("uvicorn", "before", "fastapi", "gunicorn-uvicorn")
#: The servers ``make bench`` compares (the others: ``python -m bench.serving``).
BENCH_SERVERS = ("uvicorn", "before")
RESULTS = ROOT / "bench" / "results" / "serving.json"
#: A step holds when p99 delivery is at most this (and everything else is clean).
P99_LIMIT_MS = 250


def holds(run: dict[str, Any], missed: int, p99_ms: float | None, n: int) -> bool:
    """Whether a step of ``n`` streams held: all connected, none failed or missed, p99 in
    the limit (the same verdict for livedash's servers and for the peers)."""
    return (
        run["connected"] == n
        and run["failed_count"] == 0
        and missed == 0
        and p99_ms is not None
        and p99_ms <= P99_LIMIT_MS
    )


class Served(ServedProcess):
    """One server with one worker on a free port, started for one step (stopped with
    :meth:`stop`)."""

    def __init__(self, kind: str, workdir: Path) -> None:
        if kind not in SERVERS:
            raise ValueError(f"unknown server {kind!r}; choose from {', '.join(SERVERS)}")
        self.port = free_port()
        self.log_path = workdir / f"{kind}-{self.port}.publish"
        self.log_path.touch()
        store = f"sqlite:///{workdir}/{kind}-{self.port}.db"
        env = dict(
            child_env("before" if kind == "before" else "livedash"),
            BENCH_LOG=str(self.log_path),
            BENCH_RATE="1",
            BENCH_BACKEND="fastapi" if kind in ("fastapi", "gunicorn-uvicorn") else "flask",
            LIVEDASH_SERVE_APP="bench.contenders:serving_app",
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
                "bench.contenders:serving_app", "--workers", "1", "--store", store,
                "--port", str(self.port),
            ]  # fmt: skip
        super().__init__(
            argv,
            f"http://127.0.0.1:{self.port}",
            workdir / f"{kind}-{self.port}.out",
            cwd=ROOT,
            env=env,
            ready_path="/livedash/health",
            ready_status=200,
            deadline=90,
        )
        self.launch()
        assert self.proc is not None
        self.ps = psutil.Process(self.proc.pid)
        self.wait_ready()

    def processes(self) -> list[psutil.Process]:
        """The server process and its workers."""
        return process_tree(self.ps)

    def rss(self) -> int:
        """Resident memory of the server process and its workers."""
        return rss_of(self.processes())

    def cpu(self) -> float:
        """CPU seconds of the server process and its workers (psutil's ticks)."""
        return cpu_of(self.processes())

    def publishes(self) -> dict[int, float]:
        """seq -> publish time, from the server's log."""
        return read_publishes(self.log_path)


def step(kind: str, n: int, window: float, workdir: Path, gzip: bool = True) -> dict[str, Any]:
    """Hold ``n`` streams on one ``kind`` worker for ``window`` seconds at 1 update/s."""
    server = Served(kind, workdir)
    try:
        time.sleep(2.0)  # the producer's first ticks and the worker's imports settle
        rss0 = server.rss()
        marks: dict[str, float] = {}

        def during() -> None:
            psutil.cpu_percent()
            marks.update(cpu0=server.cpu(), t0=time.monotonic())

            def end() -> None:
                marks.update(
                    end=server.rss(),
                    cpu1=server.cpu(),
                    t1=time.monotonic(),
                    busy=psutil.cpu_percent(),
                )

            threading.Timer(window - 0.5, end).start()

        extra = () if gzip else ("--no-gzip",)
        r = run_clients(
            "livedash",
            server.port,
            n,
            window,
            workdir,
            on_connected=during,
            extra=extra,
            ramp_timeout=max(60.0, n / 40),
        )
        wait_until(lambda: "end" in marks, 10, "the window's end")
        d = delivery(r["clients"], server.publishes(), r["t_start"], r["t_end"])
        s = d.summary()
        ok = holds(r, d.missed, s["p99_ms"], n)
        return {
            "ok": ok,
            "connected": r["connected"],
            "failed": r["failed_count"],
            "failures": r["failed"][:3],
            "never_shown_pct": s["never_shown_pct"],
            "p50_ms": s["p50_ms"],
            "p99_ms": s["p99_ms"],
            "connect_s": round(r["t_start"] - r["t_begin"], 1),
            "server_cpu_pct": round(
                100 * (marks["cpu1"] - marks["cpu0"]) / (marks["t1"] - marks["t0"]), 1
            ),
            "rss0_mb": round(rss0 / 2**20, 1),
            "rss_mb": round(marks["end"] / 2**20, 1),
            "kib_per_stream": round((marks["end"] - rss0) / n / 1024, 1),
            "machine_busy_pct": marks["busy"],
            "load_avg": [round(x, 2) for x in os.getloadavg()],
        }
    finally:
        server.stop()


def ladder(
    servers: list[str],
    steps: list[int],
    window: float,
    workdir: Path,
    *,
    gzip: bool = True,
    log: Any = None,
) -> dict[str, dict[str, Any]]:
    """Every server through every step, the steps taking turns across servers; per server the
    highest step held (``held``) and each step's row (``steps``)."""
    if "before" in servers:
        use_before(workdir)
    results: dict[str, dict[str, Any]] = {k: {"held": 0, "steps": {}} for k in servers}
    for n in steps:
        for kind in servers:
            if log is not None:
                log(f"  clients held: {kind}, {n} streams")
            try:
                row = step(kind, n, window, workdir, gzip=gzip)
            except (RuntimeError, TimeoutError) as exc:  # a step that breaks is a finding
                row = {"ok": False, "error": str(exc)[-500:]}
            results[kind]["steps"][str(n)] = row
            if row["ok"] and all(v["ok"] for v in results[kind]["steps"].values()):
                results[kind]["held"] = n
    return results


def _version(module: str) -> str | None:
    try:
        return importlib.metadata.version(module)
    except importlib.metadata.PackageNotFoundError:
        return None


def record(entry: dict[str, Any], gzip: bool = True, path: Path = RESULTS) -> None:
    """Keep ``entry`` in ``path`` (``serving.json``) under ``gzip`` or ``identity``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    runs = json.loads(path.read_text()) if path.exists() else {}
    runs["gzip" if gzip else "identity"] = entry
    path.write_text(json.dumps(runs, indent=1) + "\n")


def extras() -> dict[str, str | None]:
    """uvicorn picks uvloop and httptools when installed (uvicorn[standard]): say which."""
    return {m: _version(m) for m in ("uvloop", "httptools", "a2wsgi", "gevent", "gunicorn")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", default="1000,2000,5000", help="streams per step")
    parser.add_argument("--window", type=float, default=10.0, help="seconds of 1 update/s")
    parser.add_argument("--servers", default=",".join(BENCH_SERVERS), help=", ".join(SERVERS))
    parser.add_argument(
        "--no-gzip",
        action="store_true",
        help="clients ask for identity: each gzip stream keeps a compressor (~12 KiB)",
    )
    args = parser.parse_args(argv)
    steps = [int(s) for s in args.steps.split(",")]
    servers = args.servers.split(",")
    unknown = set(servers) - set(SERVERS)
    if unknown:
        parser.error(f"unknown servers {sorted(unknown)}; choose from {', '.join(SERVERS)}")
    facts = machine_facts()
    with tempfile.TemporaryDirectory(prefix="serving-") as tmp:
        results = ladder(
            servers,
            steps,
            args.window,
            Path(tmp),
            gzip=not args.no_gzip,
            log=lambda m: print(m, file=sys.stderr, flush=True),
        )
    for kind, r in results.items():
        for n, row in r["steps"].items():
            print(f"{kind:>17} {n:>5}: {json.dumps(row)}", flush=True)
    facts["load_avg_end"] = [round(x, 2) for x in os.getloadavg()]
    record(
        {
            "steps": steps,
            "window_s": args.window,
            "results": results,
            "extras": extras(),
            **facts,
        },
        gzip=not args.no_gzip,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
