"""The six scenarios. Each runs the three contenders one after the other and returns one JSON
object: its inputs, each contender's figures, the ratios, and the goal."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from bench.harness import (
    BEFORE_REV,
    CONTENDERS,
    ROOT,
    Browser,
    CountingProxy,
    Server,
    child_env,
    delivery,
    free_port,
    percentile,
    run_clients,
    wait_until,
)

#: CPU priority of the memory soak's processes, which run beside the other scenarios.
SOAK_NICE = 19


@dataclass
class Config:
    """What a run needs: quick or full, a scratch folder, the browser."""

    quick: bool
    workdir: Path
    browser: Browser
    #: latency samples (ms) per (contender, tabs), for the chart
    samples: dict[str, dict[int, list[float]]] = field(default_factory=dict)
    log: Any = print
    #: length of the memory soak (default: 600 s full, 25 s quick)
    soak_seconds: float | None = None
    #: the results folder (``clients`` writes ``serving.json`` there)
    out: Path | None = None


def figure(table: dict[str, Any], *path: str) -> Any:
    """``table[path[0]][path[1]]...``, or None where a contender did not run (``--contenders``)."""
    node: Any = table
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def ratio(a: float | None, b: float | None) -> float | None:
    """a / b, rounded; None when either is missing or b is 0."""
    if a is None or b is None or b == 0:
        return None
    return round(a / b, 1)


class CpuWindow:
    """Server CPU seconds and machine load over a measured window."""

    def __init__(self, server: Server) -> None:
        self.server = server
        psutil.cpu_percent()
        self.t0 = time.time()
        self.c0 = server.cpu()
        self.k0 = server.cpu_ticks()

    def close(self) -> dict[str, float]:
        t1, c1, k1 = time.time(), self.server.cpu(), self.server.cpu_ticks()
        return {
            "seconds": t1 - self.t0,
            "cpu_s": c1 - self.c0,
            "cpu_s_ticks": k1 - self.k0,
            "machine_busy_pct": psutil.cpu_percent(),
            "t0": self.t0,
            "t1": t1,
        }


# ---- 1 + 2: latency publish -> DOM, and server CPU per tab ---------------------------------
def _tabs_window(cfg: Config, server: Server, n: int, window: float) -> dict[str, Any]:
    """``n`` Chromium tabs on ``server`` for ``window`` seconds: delivery and server CPU."""
    cfg.log(f"  latency: {server.kind}, {n} tab(s)")
    try:
        context = cfg.browser.open_tabs(server.url, n, timeout=120)
    except Exception as exc:  # a step that cannot load is a finding, not a crash
        cfg.log(f"  latency: {server.kind}, {n} tab(s) did not load: {exc}")
        return {"error": f"tabs did not load: {str(exc)[:300]}"}
    time.sleep(1.0 if cfg.quick else 2.0)  # let every tab settle after loading
    cpu = CpuWindow(server)
    time.sleep(window)
    w = cpu.close()
    records = Browser.records(context)
    hidden = Browser.hidden_tabs(context)
    context.close()
    d = delivery(records, server.publishes(), w["t0"], w["t1"])
    cfg.samples.setdefault(server.kind, {})[n] = d.latencies_ms
    return {
        **d.summary(),
        "cpu_s_per_tab_min": round(w["cpu_s"] / n / (w["seconds"] / 60), 4),
        "cpu_s_per_min": round(w["cpu_s"] / (w["seconds"] / 60), 4),
        "cpu_s_per_min_psutil": round(w["cpu_s_ticks"] / (w["seconds"] / 60), 3),
        "server_rss_mb": round(server.rss() / 2**20, 1),
        "machine_busy_pct": w["machine_busy_pct"],
        "load_avg": load_average(),
        "hidden_tabs": hidden,
    }


def _headless_window(cfg: Config, server: Server, n: int, window: float) -> dict[str, Any]:
    """``n`` headless clients on ``server`` for ``window`` seconds: delivery and server CPU."""
    cfg.log(f"  delivery: {server.kind}, {n} headless client(s)")
    marks: dict[str, float] = {}

    def start() -> None:
        cpu = CpuWindow(server)
        threading.Timer(window - 0.5, lambda: marks.update(cpu.close())).start()

    r = run_clients(server.kind, server.port, n, window, cfg.workdir, on_connected=start)
    wait_until(lambda: "cpu_s" in marks, 10, "the CPU window")
    d = delivery(r["clients"], server.publishes(), r["t_start"], r["t_end"])
    return {
        **d.summary(),
        "connected": r["connected"],
        "cpu_s_per_client_min": round(marks["cpu_s"] / n / (marks["seconds"] / 60), 4),
        "machine_busy_pct": marks["machine_busy_pct"],
    }


def latency_and_cpu(cfg: Config) -> list[dict[str, Any]]:
    """Real Chromium tabs at 1 update/s: latency, changes never shown, server CPU per tab;
    then the same numbers of headless clients, to separate the server from the browser.

    Every contender's server is up for the whole scenario and the measured windows take turns
    (1 tab: each contender, 10 tabs: each contender, ...), so that a change of machine load
    falls on all of them alike rather than on whoever ran last."""
    counts = [1, 10] if cfg.quick else [1, 10, 50]
    window = 5.0 if cfg.quick else 15.0
    headless_counts = [10] if cfg.quick else counts
    headless_window = 4.0 if cfg.quick else 10.0
    tabs: dict[str, dict[str, Any]] = {k: {} for k in CONTENDERS}
    headless: dict[str, dict[str, Any]] = {k: {} for k in CONTENDERS}
    servers: dict[str, Server] = {}
    try:
        for kind in CONTENDERS:
            servers[kind] = Server(kind, cfg.workdir)
        for n in counts:
            for kind in CONTENDERS:
                tabs[kind][str(n)] = _tabs_window(cfg, servers[kind], n, window)
        for n in headless_counts:
            for kind in CONTENDERS:
                headless[kind][str(n)] = _headless_window(cfg, servers[kind], n, headless_window)
    finally:
        for server in servers.values():
            server.stop()

    def ratios(table: dict[str, dict[str, Any]], key: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for n in map(str, counts):
            ld = figure(table, "livedash", n, key)
            out[n] = {
                f"{k}/livedash": ratio(figure(table, k, n, key), ld)
                for k in CONTENDERS
                if k != "livedash"
            }
        return out

    base = {
        "inputs": {
            "update_rate_per_s": 1,
            "tabs": counts,
            "window_s": window,
            "page": "seed text page; the value carries its seq, the server logs publish times",
            "browser": f"headless Chromium {cfg.browser.version}, all tabs in one context",
            "livedash_server": "`livedash run`: uvicorn in process (a2wsgi for the Flask "
            "pages, livedash routes native ASGI), SQLite store",
            "before_server": f"livedash {BEFORE_REV}'s `livedash run`: werkzeug threaded dev "
            "server, a thread per stream, SQLite store",
            "dashws_server": "uvicorn (Dash fastapi backend), event-driven persistent callback",
            "poll_server": "werkzeug threaded dev server, dcc.Interval 1 s",
            "order": "all servers up for the whole scenario; windows take turns per tab count",
        },
    }
    return [
        {
            "scenario": "latency",
            "title": "Latency publish -> DOM (real Chromium tabs) and changes never shown",
            **base,
            "goal": "p50 <= 10 ms and p99 <= 30 ms at 10 tabs, p99 <= 100 ms at 50 tabs, "
            "0 changes lost",
            "results": {"browser_tabs": tabs, "headless_clients": headless},
            "ratios": {"p50_ms": ratios(tabs, "p50_ms"), "p99_ms": ratios(tabs, "p99_ms")},
        },
        {
            "scenario": "cpu",
            "title": "Server CPU seconds per tab per minute at 1 update/s",
            **base,
            "goal": "one tab <= 1/10 of the recipe's; <= 0.005 CPU-s per tab-minute at 10 tabs; "
            "below Dash WebSocket at 1, 10 and 50 tabs",
            "results": {
                "browser_tabs": {
                    k: {
                        n: {x: v[x] for x in v if x.startswith(("cpu", "server", "machine"))}
                        for n, v in tabs[k].items()
                    }
                    for k in CONTENDERS
                },
                "headless_clients": {
                    k: {
                        n: {"cpu_s_per_client_min": v.get("cpu_s_per_client_min")}
                        for n, v in headless[k].items()
                    }
                    for k in CONTENDERS
                },
            },
            "ratios": ratios(tabs, "cpu_s_per_tab_min"),
        },
    ]


# ---- 3: bytes per update on the wire --------------------------------------------------------
def bytes_per_update(cfg: Config) -> dict[str, Any]:
    """One Chromium tab through a byte-counting TCP proxy: TCP payload per update, both ways."""
    window = 4.0 if cfg.quick else 10.0
    modes = ("text",) if cfg.quick else ("text", "graph")
    results: dict[str, dict[str, Any]] = {m: {} for m in modes}
    for mode in modes:
        for kind in CONTENDERS:
            cfg.log(f"  bytes: {kind}, {mode}")
            server = Server(kind, cfg.workdir, mode=mode)
            proxy = CountingProxy(server.port)
            try:
                context = cfg.browser.open_tabs(
                    f"http://127.0.0.1:{proxy.port}/", 1, graph=mode == "graph", timeout=120
                )
                time.sleep(2.5)  # history and first paints are not steady-state traffic
                up0, down0 = proxy.snapshot()
                cpu = CpuWindow(server)
                t0 = time.time()
                time.sleep(window)
                up1, down1 = proxy.snapshot()
                t1 = time.time()
                w = cpu.close()
                stats = context.pages[0].evaluate(
                    "() => window.livedash ? window.livedash.stats : null"
                )
                context.close()
                updates = sum(1 for ts in server.publishes().values() if t0 <= ts <= t1)
                results[mode][kind] = {
                    "updates": updates,
                    "bytes_down": down1 - down0,
                    "bytes_up": up1 - up0,
                    "bytes_per_update": round((down1 - down0 + up1 - up0) / max(updates, 1), 1),
                    "down_per_update": round((down1 - down0) / max(updates, 1), 1),
                    "connections_opened": proxy.connections,
                    "server_cpu_s_per_tab_min": round(w["cpu_s"] / (w["seconds"] / 60), 4),
                    "client_stats": stats,
                }
                if mode == "text" and kind in ("before", "livedash"):
                    cfg.log(f"  bytes: {kind}, what a text update's parts cost")
                    results[mode][kind]["breakdown"] = wire_breakdown(cfg, server)
            finally:
                proxy.close()
                server.stop()
    return {
        "scenario": "bytes",
        "title": "Bytes per update on the wire (TCP payload, both directions, one tab)",
        "inputs": {
            "update_rate_per_s": 1,
            "window_s": window,
            "graph": "1,000-point rolling line; the recipe returns the whole go.Figure, Dash "
            "WebSocket pushes extendData, livedash LiveGraph appends",
            "counted": "a TCP proxy on 127.0.0.1 between Chromium and the server",
        },
        "goal": "<= 17 B per text update, <= 40 B per appended graph point",
        "breakdown": "bench.wire_cost: the event stream read twice (gzip, identity); the "
        "identity messages compressed again without the id line, without ts, with the data "
        "alone; the differences are what each part costs compressed",
        "results": results,
        "ratios": {
            mode: {
                "poll/livedash": ratio(
                    figure(results, mode, "poll", "bytes_per_update"),
                    figure(results, mode, "livedash", "bytes_per_update"),
                ),
                "dashws/livedash": ratio(
                    figure(results, mode, "dashws", "bytes_per_update"),
                    figure(results, mode, "livedash", "bytes_per_update"),
                ),
            }
            for mode in results
        },
    }


def wire_breakdown(cfg: Config, server: Server) -> dict[str, Any]:
    """``bench.wire_cost`` on ``server``: a text update's bytes and what id, ts and the batch
    framing cost of them (see that module)."""
    events = 5 if cfg.quick else 10
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.wire_cost",
            "--port",
            str(server.port),
            "--events",
            str(events),
            "--timeout",
            str(events * 3 + 30),
        ],
        cwd=ROOT,
        env=child_env(server.kind),
        capture_output=True,
        text=True,
        timeout=events * 3 + 60,
        check=False,
    )
    if out.returncode != 0:
        return {"error": out.stderr[-1500:]}
    result: dict[str, Any] = json.loads(out.stdout)
    return result


# ---- 4: clients held ------------------------------------------------------------------------
def clients_held(cfg: Config) -> dict[str, Any]:
    """Open streams on ONE worker, stepped up, 1 update/s to all (``bench.serving``): livedash
    after (uvicorn) and livedash before; the peers on their own
    servers, stepped until one fails. A step holds when every client connected, none
    dropped, nothing was lost and p99 delivery <= 250 ms."""
    from bench import serving

    steps = [200] if cfg.quick else [1000, 2000, 5000]
    peer_steps = [50] if cfg.quick else [100, 500, 1000]
    window = 3.0 if cfg.quick else 10.0
    servers = [k for k in serving.BENCH_SERVERS if k != "before" or "before" in CONTENDERS]
    results: dict[str, Any] = serving.ladder(servers, steps, window, cfg.workdir, log=cfg.log)
    for kind in [k for k in CONTENDERS if k in ("poll", "dashws")]:
        results[kind] = {"held": 0, "steps": {}}
        for n in peer_steps:
            cfg.log(f"  clients held: {kind}, {n}")
            row = _peer_step(cfg, kind, n, window)
            results[kind]["steps"][str(n)] = row
            if not row["ok"]:
                break
            results[kind]["held"] = n
    entry = {
        "scenario": "clients_held",
        "title": "Clients held on one worker: open streams at 1 update/s, p99 <= 250 ms, none lost",
        "inputs": {
            "steps": steps,
            "peer_steps": peer_steps,
            "window_s": window,
            "uvicorn": "livedash after: `livedash serve --workers 1` on the Flask page: uvicorn, "
            "livedash routes native ASGI, a2wsgi for pages",
            "before": f"livedash {BEFORE_REV}: `livedash serve --workers 1` (gunicorn, gevent)",
            "dashws_server": "uvicorn, one process (Dash's fastapi backend)",
            "poll_server": "werkzeug threaded dev server",
            "store": "SQLite",
            "order": "steps take turns across the livedash servers (1,000 on each, then 2,000 "
            "on each, ...)",
            "clients": "headless, asyncio in a separate process; livedash: one SSE stream each "
            "(gzip); Dash WebSocket: one socket + persistent callback each; recipe: one "
            "POST /_dash-update-component per second each",
        },
        "goal": ">= 5,000 streams on one worker at p99 <= 250 ms, none lost, <= 30 KB of RSS each",
        "results": results,
        "ratios": {},
    }
    serving.record(
        {
            "steps": steps,
            "window_s": window,
            "results": {k: results[k] for k in servers},
            "extras": serving.extras(),
            "from": "bench.run (make bench" + (" --quick)" if cfg.quick else ")"),
            "load_avg_end": load_average(),
        },
        path=(cfg.out or serving.RESULTS.parent) / "serving.json",
    )
    return entry


def _peer_step(cfg: Config, kind: str, n: int, window: float) -> dict[str, Any]:
    """``n`` headless clients on a fresh ``kind`` server (a peer) for ``window`` seconds."""
    from bench import serving

    server = Server(kind, cfg.workdir)
    try:
        time.sleep(1.0)
        rss0 = server.rss()
        marks: dict[str, Any] = {}

        def during() -> None:
            cpu = CpuWindow(server)

            def end() -> None:
                marks.update(cpu.close())
                marks["rss"] = server.rss()

            threading.Timer(window - 0.5, end).start()

        r = run_clients(kind, server.port, n, window, cfg.workdir, on_connected=during)
        wait_until(lambda: "rss" in marks, 10, "the window's end")
        d = delivery(r["clients"], server.publishes(), r["t_start"], r["t_end"])
        s = d.summary()
        ok = serving.holds(r, d.missed, s["p99_ms"], n)
        return {
            "ok": ok,
            "connected": r["connected"],
            "failed": r["failed_count"],
            "failures": r["failed"][:3],
            "connect_s": round(r["t_start"] - r["t_begin"], 1),
            **{k: s[k] for k in ("p50_ms", "p99_ms", "never_shown_pct")},
            "server_cpu_pct": round(100 * marks["cpu_s"] / marks["seconds"], 1),
            "rss_mb": round(marks["rss"] / 2**20, 1),
            "kib_per_stream": round((marks["rss"] - rss0) / n / 1024, 1),
            "machine_busy_pct": marks["machine_busy_pct"],
        }
    finally:
        server.stop()


# ---- 5: throughput per store ----------------------------------------------------------------
def _redis_store_available() -> str | None:
    """None when livedash has a Redis store, else why not."""
    from livedash.errors import ConfigError
    from livedash.stores import open_store

    try:
        store = open_store("redis://127.0.0.1:1/0")
    except ConfigError as exc:
        return str(exc)
    except Exception:  # any other failure (no server on port 1) means the store exists
        return None
    store.close()
    return None


def throughput(cfg: Config) -> dict[str, Any]:
    """Events/s published on one Hub and fanned out to 10 subscribers on an event loop (as
    open streams are on the ASGI core), per store, before and after; the runs alternate
    between the two so that a change of load falls on both."""
    seconds = 1.5 if cfg.quick else 3.0
    stores: dict[str, dict[str, Any]] = {"livedash": {}, "before": {}}
    tmp = Path(tempfile.mkdtemp(prefix="livedash-tp-", dir=cfg.workdir))
    redis_proc = None
    kinds = [k for k in ("before", "livedash") if k in CONTENDERS]
    try:
        urls = {"memory": "memory://", "sqlite": "sqlite:///{tmp}/tp-{kind}-{label}.db"}
        why_not = _redis_store_available()
        if why_not is None and shutil.which("redis-server"):
            port = free_port()
            redis_proc = subprocess.Popen(
                ["redis-server", "--port", str(port), "--save", "", "--appendonly", "no"],
                cwd=tmp,
                stdout=subprocess.DEVNULL,
            )

            def up() -> bool:
                with socket.socket() as s:
                    return s.connect_ex(("127.0.0.1", port)) == 0

            wait_until(up, 20, "redis-server")
            urls["redis"] = f"redis://127.0.0.1:{port}/0"
        else:
            for kind in kinds:
                stores[kind]["redis"] = {"skipped": why_not or "redis-server is not installed"}
        # One thread publishing one event per call (the goal's "single publishes"), one
        # publishing 100 per call, and four threads publishing one per call at once (request
        # threads, sources: what the Redis store's group commit serves).
        runs = {"batch_1": (1, 1), "batch_100": (100, 1), "batch_1_4_threads": (1, 4)}
        for name, url_form in urls.items():
            for label, (batch, publishers) in runs.items():
                for kind in kinds:
                    if kind == "before" and label == "batch_100":
                        continue  # publish_many is not what issue 13 changed
                    url = url_form.format(tmp=tmp, kind=kind, label=label)
                    cfg.log(f"  throughput: {kind}, {name}, {label.replace('_', ' ')}")
                    if name == "redis":  # every run starts from an empty Redis
                        _redis_flush(port)
                    stores[kind].setdefault(name, {})[label] = _throughput_run(
                        kind, url, seconds, batch, publishers
                    )
    finally:
        if redis_proc is not None:
            redis_proc.terminate()
            redis_proc.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)
    return {
        "scenario": "throughput",
        "title": "Events/s published and fanned out to 10 subscribers on an event loop, per store",
        "inputs": {
            "subscribers": 10,
            "seconds": seconds,
            "event": "3-field JSON object",
            "process": "one Python process: publisher thread(s), 10 subscriber coroutines on "
            "one asyncio loop in its own thread (bench.throughput --loop)",
            "runs": "batch_1: one thread, one event per publish; batch_100: one thread, "
            "publish_many of 100; batch_1_4_threads: four threads, one event per publish",
            "redis": "a private redis-server on a free port, no persistence, flushed per run",
            "before": f"livedash {BEFORE_REV}, the same harness",
        },
        "goal": ">= 100,000/s memory, >= 20,000/s single publishes on Redis, fanned out to "
        "10 subscribers",
        "results": {
            **stores,
            "poll": {"skipped": "no store and no fan-out: each tab's callback reads one value"},
            "dashws": {"skipped": "no store and no fan-out: each tab runs its own callback loop"},
        },
        "ratios": {},
    }


def _redis_flush(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(b"FLUSHALL\r\n")
        s.recv(64)


def _throughput_run(
    kind: str, url: str, seconds: float, batch: int, publishers: int
) -> dict[str, Any]:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.throughput",
            url,
            "--loop",
            "--seconds",
            str(seconds),
            "--batch",
            str(batch),
            "--publishers",
            str(publishers),
        ],
        cwd=ROOT,
        env=child_env(kind),
        capture_output=True,
        text=True,
        timeout=seconds + 90,
        check=False,
    )
    if out.returncode != 0:
        return {"error": out.stderr[-2000:]}
    result: dict[str, Any] = json.loads(out.stdout)
    result["load_avg"] = load_average()
    return result


# ---- 6: memory over time --------------------------------------------------------------------
def memory_over_time(cfg: Config) -> dict[str, Any]:
    """All three servers side by side for the soak, each at 200 events/s with 20 headless
    clients; RSS sampled throughout. Side by side, and in the background of the other
    scenarios at the lowest CPU priority, so that a 10-minute soak fits the run's budget:
    memory, not latency, is measured here."""
    seconds = cfg.soak_seconds or (25.0 if cfg.quick else 600.0)
    rate, n = 200.0, 20
    sample_every = 2.0 if cfg.quick else 5.0
    # Niced: the soak shares the machine with the foreground scenarios and must not skew them.
    # livedash before is left out: memory over time is not what issue 13 changed, and a
    # fourth server at 200 events/s would weigh on the foreground scenarios.
    kinds = [k for k in CONTENDERS if k != "before"]
    servers = {
        k: Server(k, cfg.workdir, rate=rate, max_seconds=seconds + 300, nice=SOAK_NICE)
        for k in kinds
    }
    series: dict[str, list[tuple[float, float]]] = {k: [] for k in kinds}
    results: dict[str, Any] = {}
    stop = threading.Event()

    def sample() -> None:
        t0 = time.time()
        while not stop.wait(sample_every):
            for k, s in servers.items():
                series[k].append((round(time.time() - t0, 1), round(s.rss() / 2**20, 2)))

    runs: dict[str, Any] = {}

    def clients(kind: str) -> None:
        runs[kind] = run_clients(
            kind, servers[kind].port, n, seconds, cfg.workdir, count_only=True, nice=SOAK_NICE
        )

    cfg.log(f"  memory over time: {seconds:.0f}s, {rate:.0f} events/s, {n} clients each")
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    cpu0 = {k: s.cpu() for k, s in servers.items()}
    threads = [threading.Thread(target=clients, args=(k,)) for k in kinds]
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + 240)
    stop.set()
    sampler.join(10)
    try:
        for kind, server in servers.items():
            rss = series[kind]
            warm = min(60.0, max(8.0, 0.2 * seconds))
            after = [m for t, m in rss if t >= warm]
            base = after[0] if after else None
            tail = after[-max(1, len(after) // 10) :]
            end = percentile(tail, 50) if tail else None
            r = runs.get(kind, {})
            results[kind] = {
                "rss_mb_start": rss[0][1] if rss else None,
                "rss_mb_after_warmup": base,
                "rss_mb_end": end,
                "growth_pct_after_warmup": ratio_pct(end, base),
                "server_cpu_pct": round(100 * (server.cpu() - cpu0[kind]) / seconds, 1),
                "clients_connected": r.get("connected"),
                "deliveries_per_client_per_s": round(r.get("delivered", 0) / n / seconds, 1)
                if r
                else None,
                "series": rss,
            }
    finally:
        for server in servers.values():
            server.stop()
    return {
        "scenario": "memory",
        "title": f"Memory over time: {seconds / 60:.1f} min at 200 events/s, 20 clients",
        "inputs": {
            "seconds": seconds,
            "events_per_s": rate,
            "clients": n,
            "warmup_s": min(60.0, max(8.0, 0.2 * seconds)),
            "sample_every_s": sample_every,
            "note": "the three servers run side by side, each with its own clients, niced to "
            f"{SOAK_NICE} in the background of the other scenarios",
        },
        "goal": "flat: < 10% RSS growth after warm-up",
        "results": results,
        "ratios": {},
    }


def ratio_pct(end: float | None, base: float | None) -> float | None:
    if end is None or base is None or base == 0:
        return None
    return round(100 * (end - base) / base, 1)


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]
