"""Several livedash hosts behind a load balancer, simulated on one machine, and what scale costs.

The deployment is livedash.testing's (:mod:`livedash.testing.cluster`: each host a network
namespace running ``livedash serve APP --workers 2`` on its own address, one Redis or a Redis
Cluster on the bridge, nginx on 127.0.0.1 in front), here with :func:`create_app` on every
host and the site the docs give (``docs/snippets/nginx.conf``). Viewers are livedash.testing's
``StreamClient``: an event stream through nginx that resumes with ``Last-Event-ID``.

Needs root (namespaces), Debian's nginx, iproute2 and redis-server
(``scripts/ensure-system-deps.sh``)::

    python -m bench.cluster demo [--hosts 4] [--store redis|cluster] [--hold]
    python -m bench.cluster measure [--clients 4000] [--rate 1 2 5] [--seconds 20]

``demo`` (``make cluster-demo``) starts 4 hosts, spreads viewers over them through nginx,
SIGKILLs one host mid-stream and shows every viewer ending with every event once, in order.
``measure`` writes ``bench/results/multihost.json``: Redis commands per published event as
hosts grow 1 -> 4 (two client counts per host count), then delivered events/s, p50/p99
publish -> receive latency and CPU per delivery with thousands of clients over 4 hosts.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from livedash.testing import StreamClient, wait_until
from livedash.testing.cluster import DEADLINE, UPSTREAM_HEADER, Deployment
from livedash.testing.redis import RedisServer

ROOT = Path(__file__).resolve().parents[1]
SNIPPET = ROOT / "docs" / "snippets" / "nginx.conf"
RESULTS = ROOT / "bench" / "results" / "multihost.json"
#: The app every host serves (:func:`create_app`).
APP = "bench.cluster:create_app"
#: The graph keeps every point the demo publishes.
WINDOW = 5000


def create_app(options: Any) -> Any:
    """``livedash serve bench.cluster:create_app``, what every host serves: the ``feed``
    stream (published by the demo and the measurements) as text and as a graph keeping every
    point, so a gap or a duplicate stays visible in a browser (``demo --hold``)."""
    from dash import Dash, html

    from livedash import Hub, LiveGraph, LiveText

    hub = Hub(options.store)
    hub.stream("feed", max_events=WINDOW)
    app = Dash(__name__, title="livedash: several hosts")
    app.layout = html.Div(
        [
            LiveText("feed", "feed {seq}: {n}", id="feed-text"),
            LiveGraph("feed", x="seq", y="n", window=WINDOW, id="feed-graph"),
        ]
    )
    hub.init_app(app)
    return app


def deployment(directory: Path, **kwargs: Any) -> Deployment:
    """A :class:`~livedash.testing.cluster.Deployment` of this app behind the documented
    nginx site, its hosts started from the checkout."""
    return Deployment(directory, app=APP, site=SNIPPET.read_text(), cwd=ROOT, **kwargs)


def viewer(dep: Deployment) -> StreamClient:
    """A headless viewer of ``feed`` through the load balancer, resuming with
    ``Last-Event-ID`` whenever its connection ends (the browser's EventSource waits
    ``retry: 1000``; less here)."""
    return StreamClient(dep.url, "feed", timeout=20, retry=0.1)


def upstreams(client: StreamClient) -> list[str]:
    """The host (:data:`UPSTREAM_HEADER`) of each connection ``client`` made."""
    return [c.headers.get(UPSTREAM_HEADER.lower(), "?") for c in client.connections]


# ---- the demo ---------------------------------------------------------------------------------
def demo(args: argparse.Namespace) -> int:
    """Start the deployment, spread viewers over it, kill a host mid-stream, check them."""
    from livedash import Hub

    with (
        tempfile.TemporaryDirectory() as tmp,
        deployment(Path(tmp), hosts=args.hosts, store=args.store) as dep,
    ):
        print(
            f"{args.hosts} hosts ({', '.join(h.upstream for h in dep.hosts)}), store "
            f"{dep.store_url}, nginx on {dep.url}/"
        )
        if args.hold:
            print("open the URL in a browser; Ctrl-C stops and removes everything")
            with contextlib.suppress(KeyboardInterrupt):
                signal.pause()
            return 0
        total, half = 2 * args.events, args.events
        viewers = [viewer(dep) for _ in range(args.viewers)]
        hub = Hub(dep.store_url)
        try:
            for v in viewers:
                v.start()
            wait_until(
                lambda: all(v.subscribed.is_set() for v in viewers), DEADLINE, "viewers connect"
            )
            for n in range(1, half + 1):
                hub.publish("feed", {"n": n})
            wait_until(
                lambda: all(len(v.received) >= half for v in viewers), DEADLINE, "the first half"
            )
            spread = _spread(dep, viewers)
            print(f"viewers per host: {spread}")
            victim = dep.hosts[-1]
            victim.kill()
            print(f"SIGKILLed host {victim.name} ({spread.get(victim.name, 0)} viewers on it)")
            for n in range(half + 1, total + 1):
                hub.publish("feed", {"n": n})
                time.sleep(0.005)  # events go on while its viewers reconnect
            wait_until(
                lambda: all(len(v.received) >= total for v in viewers), DEADLINE, "every event"
            )
            print(f"viewers per host after: {_spread(dep, viewers)}")
        finally:
            for v in viewers:
                v.close()
            hub.close()
        exact = [
            [e.data["n"] for e in v.received] == list(range(1, total + 1)) and v.exactly_once.ok
            for v in viewers
        ]
        moved = sum(len(upstreams(v)) > 1 for v in viewers)
        print(
            f"{sum(exact)}/{len(viewers)} viewers got all {total} events exactly once, in "
            f"order; {moved} reconnected through nginx to another host"
        )
    print("torn down: hosts killed, namespaces, bridge, nginx and Redis removed")
    return 0 if all(exact) else 1


def _spread(dep: Deployment, viewers: list[StreamClient]) -> dict[str, int]:
    spread: dict[str, int] = {}
    for v in viewers:
        hosts = upstreams(v)
        host = dep.host_of(hosts[-1] if hosts else None)
        name = host.name if host else "?"
        spread[name] = spread.get(name, 0) + 1
    return dict(sorted(spread.items()))


# ---- measurements -----------------------------------------------------------------------------
def _commandstats(server: RedisServer) -> dict[str, int]:
    with server.client() as client:
        stats = client.info("commandstats")
    return {name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in stats.items()}


def _delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    out = {k: after[k] - before.get(k, 0) for k in after}
    return {k: v for k, v in sorted(out.items(), key=lambda kv: -kv[1]) if v > 0}


def _publish_paced(hub: Any, count: int, rate: float, log: dict[int, float]) -> None:
    """Publish ``count`` events of ``feed`` at ``rate`` per second, logging seq -> time."""
    start = time.monotonic()
    for n in range(count):
        delay = start + n / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        event = hub.publish("feed", {"n": n})
        log[event.seq] = event.ts


def commands_per_event(
    dep: Deployment, hosts: int, per_host: int, events: int, rate: float, workdir: Path
) -> dict[str, Any]:
    """Redis commands per published event with ``per_host`` clients on each of ``hosts``
    hosts (INFO commandstats before and after publishing ``events`` at ``rate``/s)."""
    from bench.harness import run_clients
    from livedash import Hub

    assert dep.redis is not None
    hub = Hub(dep.store_url)
    out: dict[str, Any] = {}
    log: dict[int, float] = {}

    def window() -> None:
        # Idle first: what the hosts cost with nothing published (heartbeats, blocked reads).
        idle_before = _commandstats(dep.redis)  # type: ignore[arg-type]
        time.sleep(2.0)
        idle = _delta(idle_before, _commandstats(dep.redis))  # type: ignore[arg-type]
        before = _commandstats(dep.redis)  # type: ignore[arg-type]
        started = time.monotonic()
        _publish_paced(hub, events, rate, log)
        time.sleep(1.0)  # let the last reads land
        elapsed = time.monotonic() - started
        delta = _delta(before, _commandstats(dep.redis))  # type: ignore[arg-type]
        total, idle_total = sum(delta.values()), sum(idle.values())
        out.update(
            commands=delta,
            commands_per_event=round(total / events, 2),
            idle_commands_per_s=round(idle_total / 2.0, 1),
            commands_per_event_net_of_idle=round((total - idle_total / 2.0 * elapsed) / events, 2),
        )

    try:
        result = run_clients(
            "livedash",
            dep.port,
            hosts * per_host,
            events / rate + 6,
            workdir,
            stream="feed",
            on_connected=window,
            count_only=True,
        )
    finally:
        hub.close()
    out.update(
        hosts=hosts,
        clients_per_host=per_host,
        clients_connected=result["connected"],
        events=events,
        delivered=result["delivered"],
        delivered_pct=round(100 * result["delivered"] / (hosts * per_host * events), 2),
    )
    return out


def _cpu_seconds(pids: list[int]) -> float:
    import psutil

    total = 0.0
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            t = psutil.Process(pid).cpu_times()
            total += t.user + t.system
    return total


#: Seconds of the throughput run with every client connected and nothing published (the
#: cost of holding the streams), and after the last publish (deliveries still in flight).
IDLE, TAIL = 5.0, 10.0


def throughput(
    dep: Deployment, clients: int, rate: float, seconds: float, workdir: Path, procs: int = 2
) -> dict[str, Any]:
    """Delivered events/s, publish -> receive latency and CPU per delivery with ``clients``
    headless clients over every running host (``procs`` client processes), ``rate``
    events/s for ``seconds``: :data:`IDLE` s connected and idle first, :data:`TAIL` s after."""
    from bench.harness import delivery, run_clients
    from livedash import Hub

    hub = Hub(dep.store_url)
    log: dict[int, float] = {}
    results: list[dict[str, Any]] = []
    connected = threading.Barrier(procs + 1)
    host_pids = {h.name: h.pids() for h in dep.hosts if h.running}
    others = {"nginx": _tree(dep.lb.proc), "redis": _tree(dep.redis.proc if dep.redis else None)}

    def clients_process(i: int, n: int) -> None:
        own = workdir / f"clients{i}"  # run_clients names its output by port and count
        own.mkdir(exist_ok=True)
        results.append(
            run_clients(
                "livedash",
                dep.port,
                n,
                IDLE + seconds + TAIL,
                own,
                stream="feed",
                ramp_timeout=240,
                on_connected=lambda: connected.wait(300),
            )
        )

    threads = [
        threading.Thread(target=clients_process, args=(i, clients // procs)) for i in range(procs)
    ]
    for t in threads:
        t.start()
    try:
        connected.wait(300)  # every client process connected: the window starts
        watched = {**host_pids, **others, "clients": _clients_pids()}
        snap = _Snapshot(watched)
        time.sleep(IDLE)
        idle = snap.cores()
        snap = _Snapshot(watched)
        _publish_paced(hub, int(rate * seconds), rate, log)
        time.sleep(TAIL - 2)  # the clients stop at TAIL; stop measuring just before
        busy = snap.cores()
    finally:
        for t in threads:
            t.join(timeout=seconds + 400)
        hub.close()
    got = [c for r in results for c in r["clients"]]
    t_start = min(log.values()) - 0.001
    t_end = max(log.values()) + 1.5  # delivery() counts values published until t_end - grace
    d = delivery(got, log, t_start, t_end).summary()
    delivered = sum(len(g) for g in got)
    hosts = len(host_pids)
    # CPU-seconds one host spent (above its idle cost) per delivery to one of its clients.
    extra = sum(busy[h] - idle[h] for h in host_pids) / hosts * snap.elapsed
    per_delivery_us = 1e6 * extra / (delivered / hosts)
    return {
        "hosts": hosts,
        "clients": clients,
        "clients_connected": sum(r["connected"] for r in results),
        "rate_events_per_s": rate,
        "events": len(log),
        "delivered": delivered,
        "delivered_events_per_s": round(delivered / (len(log) / rate)),
        "latency": d,
        "cpu_cores_idle": idle,
        "cpu_cores_publishing": busy,
        "window_s": round(snap.elapsed, 2),
        "host_cpu_us_per_delivery": round(per_delivery_us, 1),
        "host_idle_cpu_us_per_stream_per_s": round(
            1e6 * sum(idle[h] for h in host_pids) / clients, 2
        ),
        "nginx_cpu_us_per_delivery": round(
            1e6 * (busy["nginx"] - idle["nginx"]) * snap.elapsed / delivered, 1
        ),
    }


class _Snapshot:
    """CPU-seconds of groups of processes (and of the whole machine) from now on."""

    def __init__(self, groups: dict[str, list[int]]) -> None:
        self.groups = groups
        self.before = {name: _cpu_seconds(pids) for name, pids in groups.items()}
        self.busy = _busy()
        self.started = time.monotonic()
        self.elapsed = 0.0

    def cores(self) -> dict[str, float]:
        """Cores each group used on average since the snapshot; ``machine``: everything this
        machine ran, other sessions included."""
        self.elapsed = time.monotonic() - self.started
        out = {
            name: round((_cpu_seconds(pids) - self.before[name]) / self.elapsed, 3)
            for name, pids in self.groups.items()
        }
        out["machine"] = round((_busy() - self.busy) / self.elapsed, 3)
        return out


def _clients_pids() -> list[int]:
    """The headless client processes this process started (``bench.clients``)."""
    import psutil

    return [
        c.pid
        for c in psutil.Process().children(recursive=True)
        if "bench.clients" in " ".join(c.cmdline())
    ]


def _busy() -> float:
    """CPU-seconds every core of the machine has spent busy since boot."""
    import psutil

    t = psutil.cpu_times()
    return float(t.user + t.nice + t.system + t.irq + t.softirq + t.steal)


def _tree(proc: subprocess.Popen[bytes] | None) -> list[int]:
    """``proc``'s pid and its children's (nginx's workers)."""
    import psutil

    if proc is None or proc.poll() is not None:
        return []
    return [proc.pid, *(c.pid for c in psutil.Process(proc.pid).children(recursive=True))]


def measure(args: argparse.Namespace) -> int:
    """Commands per event for 1 -> 4 hosts, then throughput at ``--clients`` over 4 hosts."""
    from bench.harness import machine_facts

    report: dict[str, Any] = {
        "machine": machine_facts(),
        "note": "hosts, nginx, Redis and the clients all run on this machine's cores (see "
        "machine: cores, load averages at start and end), so the rates are a floor, not a "
        "ceiling",
    }
    first = 4 if args.skip_commands else 1
    with (
        tempfile.TemporaryDirectory() as tmp,
        deployment(Path(tmp), hosts=4, start=first, workers=args.workers) as dep,
    ):
        rows = []
        for hosts in range(first, 5) if not args.skip_commands else ():
            if hosts > 1:
                dep.start_host(hosts - 1)
            for per_host in args.per_host:
                row = commands_per_event(dep, hosts, per_host, args.events, 20.0, Path(tmp))
                print(
                    f"hosts {hosts} x {per_host} clients: {row['commands_per_event']} "
                    f"commands/event ({row['delivered_pct']}% delivered)",
                    flush=True,
                )
                rows.append(row)
        if rows:
            report["commands_per_event"] = rows
        report["throughput"] = []
        for rate in args.rate:
            run = throughput(dep, args.clients, rate, args.seconds, Path(tmp))
            print(json.dumps(run, indent=2), flush=True)
            report["throughput"].append(run)
    report["machine"]["load_avg_end"] = [round(x, 2) for x in os.getloadavg()]
    out = Path(args.out)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m bench.cluster demo|measure``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    d = sub.add_parser("demo", help="start it, kill a host mid-stream, check every viewer")
    d.add_argument("--hosts", type=int, default=4)
    d.add_argument("--store", choices=["redis", "cluster"], default="redis")
    d.add_argument("--viewers", type=int, default=40)
    d.add_argument("--events", type=int, default=200, help="published before and after the kill")
    d.add_argument("--hold", action="store_true", help="keep it up until Ctrl-C instead")
    m = sub.add_parser("measure", help="commands per event 1 -> 4 hosts; throughput at scale")
    m.add_argument("--workers", type=int, default=2)
    m.add_argument("--per-host", type=int, nargs=2, default=[10, 100], help="client counts")
    m.add_argument("--events", type=int, default=200, help="events per commands window")
    m.add_argument("--clients", type=int, default=4000)
    m.add_argument("--rate", type=float, nargs="+", default=[2.0], help="events/s, one run each")
    m.add_argument("--skip-commands", action="store_true", help="throughput runs only")
    m.add_argument("--seconds", type=float, default=20.0)
    m.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args(argv)
    # SIGTERM tears down like Ctrl-C: the context managers' exits run.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    from bench.contenders import raise_fd_limit

    raise_fd_limit()
    return demo(args) if args.command == "demo" else measure(args)


if __name__ == "__main__":
    sys.exit(main())
