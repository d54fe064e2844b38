"""Soak: a livedash server under steady load for a long time.

``make soak`` (or ``python -m bench.soak --minutes 30``) starts ``livedash run`` with a token and
an SQLite store (``--serve N`` uses ``livedash serve`` with N workers instead), publishes
``--rate`` events per second through the authenticated HTTP ingest in batches, and follows
the stream with ``--clients`` headless SSE clients in a separate process, each checking that
it gets every event exactly once, in order (reconnecting with ``Last-Event-ID`` if its
stream drops). At the end it prints and saves (``bench/results/soak-*.json``):

- published (events acknowledged by ingest) and delivered/published over all clients,
  with missing and duplicate counts;
- publish-to-client latency p50 / p99 / max (one clock: everything runs on this machine);
- server RSS at start (clients connected, nothing published yet), at the end, and its peak;
  server CPU seconds; the clients' reconnects and resets.

``--profile DIR`` also samples the server (and its gunicorn workers) with py-spy while the
load runs, including idle stacks (so a worker blocked in a C call shows up as well as one
busy in Python), and writes DIR/server-profile.txt (collapsed stacks) plus a per-function
summary DIR/server-profile-top.txt.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import math
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import psutil

from livedash.testing import (
    EventStreamDecoder,
    ExactlyOnce,
    Message,
    ServedProcess,
    free_port,
    wait_until,
)

STREAM = "soak"
RESULTS = Path(__file__).resolve().parent / "results"
#: The last event; clients stop when they have it.
DONE_KEY = "soak_done"


# -- the clients process ----------------------------------------------------------------------


@dataclass
class ClientStats:
    """What one headless client saw."""

    received: int = 0
    #: events skipped without being told: data loss
    missing: int = 0
    #: events skipped after a ``reset`` (the client fell behind the retention and was told)
    skipped_after_reset: int = 0
    duplicates: int = 0
    reconnects: int = 0
    resets: int = 0
    done: bool = False
    errors: list[str] = field(default_factory=list)
    #: latency histogram: ms -> count (capped at 60 s)
    latency_ms: dict[int, int] = field(default_factory=dict)


class Client(threading.Thread):
    """One headless tab: follows the stream, resumes on reconnect, and checks every seq with
    livedash.testing's ``ExactlyOnce`` (over its ``EventStreamDecoder``). It records no events
    (a soak delivers millions), only counts and a latency histogram."""

    def __init__(self, port: int, gzip: bool, start_seq: int, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.gzip = gzip
        self.cursor = f"{STREAM}:{start_seq}"
        self.stop_event = stop
        self.stats = ClientStats()
        self.check = ExactlyOnce({STREAM: start_seq})

    def run(self) -> None:
        first = True
        while not self.stats.done and not self.stop_event.is_set():
            if not first:
                self.stats.reconnects += 1
                time.sleep(0.5)
            first = False
            try:
                self._follow()
            except (OSError, http.client.HTTPException, zlib.error, ValueError) as exc:
                if len(self.stats.errors) < 20:
                    self.stats.errors.append(f"{type(exc).__name__}: {exc}")
        check = self.check
        self.stats.received = check.received - check.duplicates
        self.stats.missing = check.missing
        self.stats.skipped_after_reset = check.skipped_after_reset
        self.stats.duplicates = check.duplicates
        self.stats.resets = check.resets

    def _follow(self) -> None:
        headers = {"Last-Event-ID": self.cursor}
        if self.gzip:
            headers["Accept-Encoding"] = "gzip"
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            conn.request("GET", f"/livedash/events?stream={STREAM}", headers=headers)
            resp = conn.getresponse()
            if resp.status != 200:
                raise ValueError(f"HTTP {resp.status}: {resp.read()[:200]!r}")
            decoder = EventStreamDecoder(gzip=resp.getheader("Content-Encoding") == "gzip")
            while not self.stats.done and not self.stop_event.is_set():
                raw = resp.read1(65536)
                if not raw:
                    return
                for message in decoder.feed(raw):
                    self._message(message)
        finally:
            conn.close()

    def _message(self, message: Message) -> None:
        if message.event == "reset":
            reset = message.json()
            self.check.reset(reset["stream"], int(reset["seq"]))
        if message.event != "message":
            return
        now = time.time()
        hist = self.stats.latency_ms
        for stream, seq, ts, payload in message.json():
            if not self.check.event(stream, seq):
                continue
            ms = min(60_000, int((now - ts) * 1000))
            hist[ms] = hist.get(ms, 0) + 1
            if payload.get(DONE_KEY):
                self.stats.done = True
        if message.id is not None:
            self.cursor = message.id


def run_clients(port: int, count: int, gzip: bool, start_seq: int) -> None:
    """The clients process: start ``count`` clients, say ``ready`` when all are connected
    (the server's health count tells), print a JSON summary when all have the last event
    or when stdin closes."""
    stop = threading.Event()
    clients = [Client(port, gzip, start_seq, stop) for _ in range(count)]
    for client in clients:
        client.start()
    print("started", flush=True)

    # The parent closes our stdin (or writes "stop") when it is time to give up waiting.
    def watch_stdin() -> None:
        sys.stdin.read()
        stop.set()

    threading.Thread(target=watch_stdin, daemon=True).start()
    for client in clients:
        client.join()
    print(json.dumps([asdict(c.stats) for c in clients]), flush=True)


# -- the driver -------------------------------------------------------------------------------


def get_json(port: int, path: str) -> Any:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path)
        return json.loads(conn.getresponse().read())
    finally:
        conn.close()


def health(port: int) -> dict[str, Any]:
    """The server's ``/livedash/health`` ({} while it does not answer yet)."""
    try:
        answer: dict[str, Any] = get_json(port, "/livedash/health")
    except (OSError, ValueError, http.client.HTTPException):
        return {}
    return answer


class Publisher(threading.Thread):
    """Publishes ``rate`` events per second as batches over the authenticated ingest."""

    def __init__(self, port: int, token: str, rate: int, batch: int, seconds: float) -> None:
        super().__init__(daemon=True)
        self.port, self.token, self.rate, self.batch = port, token, rate, batch
        self.seconds = seconds
        self.published = 0
        self.failed = 0
        self.behind = 0.0
        self.last_seq = 0

    def post(self, events: list[dict[str, Any]]) -> bool:
        body = json.dumps({"events": events}).encode()
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request(
                "POST",
                "/livedash/publish",
                body=body,
                headers={
                    "Authorization": f"Bearer {self.token}",
                    "Content-Type": "application/json",
                },
            )
            resp = conn.getresponse()
            reply = json.loads(resp.read())
            if resp.status != 200:
                return False
            self.last_seq = reply["published"][-1]["seq"]
            return True
        except (OSError, http.client.HTTPException, ValueError):
            return False
        finally:
            conn.close()

    def run(self) -> None:
        interval = self.batch / self.rate
        start = time.monotonic()
        n = 0
        tick = 0
        while True:
            due = start + tick * interval
            if due - start >= self.seconds:
                break
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            else:
                self.behind = max(self.behind, -delay)
            events = [
                {"stream": STREAM, "data": {"i": n + k, "v": round(math.sin(n + k), 6)}}
                for k in range(self.batch)
            ]
            if self.post(events):
                self.published += self.batch
            else:
                self.failed += self.batch
            n += self.batch
            tick += 1


def rss(proc: psutil.Process) -> int:
    """Resident memory of the server: the process and its children (gunicorn workers)."""
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            total += p.memory_info().rss
    return total


def cpu_seconds(proc: psutil.Process) -> float:
    total = 0.0
    for p in [proc, *proc.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            t = p.cpu_times()
            total += t.user + t.system
    return total


def server_notes(log: Path, limit: int = 40) -> list[str]:
    """What the server logged besides its access log (worker timeouts, errors)."""
    try:
        lines = log.read_text(errors="replace").splitlines()
    except OSError:
        return []
    notes = [line for line in lines if '"GET /' not in line and '"POST /' not in line]
    return notes[:limit]


def percentile(hist: dict[int, int], q: float) -> int:
    total = sum(hist.values())
    if not total:
        return -1
    rank = q * total
    seen = 0
    for ms in sorted(hist):
        seen += hist[ms]
        if seen >= rank:
            return ms
    return max(hist)


def start_server(args: argparse.Namespace, port: int, token: str, db: Path) -> ServedProcess:
    """``livedash run seed`` (``livedash serve seed`` with ``--serve N``) on ``db``, once its
    store is ok."""
    livedash = [sys.executable, "-m", "livedash.cli"]
    store = f"sqlite:///{db}"
    if args.serve:
        cmd = [*livedash, "serve", "seed", "--workers", str(args.serve), "--store", store]
    else:
        cmd = [*livedash, "run", "seed", "--store", store]
    server = ServedProcess(
        [*cmd, "--port", str(port)],
        f"http://127.0.0.1:{port}",
        db.with_suffix(".log"),
        env={"LIVEDASH_TOKEN": token},
        deadline=120,
    )
    server.launch()
    wait_until(lambda: health(port).get("store") == "ok", 120, "the server")
    return server


def start_profiler(pid: int, seconds: float, out: Path) -> subprocess.Popen[bytes] | None:
    """py-spy sampling ``pid`` and its children for ``seconds`` (None if py-spy is missing:
    ``pip install -e '.[bench]'``)."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(spy).exists():
        print("soak: py-spy not found, not profiling (pip install -e '.[bench]')", flush=True)
        return None
    out.mkdir(parents=True, exist_ok=True)
    cmd = [spy, "record", "--pid", str(pid), "--subprocesses", "--idle", "--nonblocking"]
    cmd += ["--rate", "50", "--format", "raw", "--duration", str(int(seconds))]
    cmd += ["--output", str(out / "server-profile.txt")]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def summarize_profile(path: Path, top: int = 40) -> list[str]:
    """The functions with the most samples (self and total) in a py-spy raw profile, per
    process (the first frame is ``process <pid>: ...`` with --subprocesses)."""
    self_count: dict[str, int] = {}
    total_count: dict[str, int] = {}
    samples = 0
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return []
    for line in lines:
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        samples += count
        # "name (file.py:123)" -> "name (file.py)": one row per function, not per line
        frames = [
            frame.rsplit(":", 1)[0] + ")" if frame.endswith(")") else frame
            for frame in stack.split(";")
        ]
        for frame in set(frames):
            total_count[frame] = total_count.get(frame, 0) + count
        self_count[frames[-1]] = self_count.get(frames[-1], 0) + count
    out = [f"{samples} samples"]
    for title, table in (("self", self_count), ("total", total_count)):
        out.append(f"-- by {title} samples")
        for frame, count in sorted(table.items(), key=lambda kv: -kv[1])[:top]:
            out.append(f"{100 * count / max(1, samples):5.1f}%  {frame}")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30.0, help="how long to publish")
    parser.add_argument("--rate", type=int, default=1000, help="events per second")
    parser.add_argument("--clients", type=int, default=100, help="headless SSE clients")
    parser.add_argument("--batch", type=int, default=50, help="events per ingest request")
    parser.add_argument("--serve", type=int, default=0, help="livedash serve with N workers")
    parser.add_argument("--no-gzip", dest="gzip", action="store_false", help="plain streams")
    parser.add_argument("--sample", type=float, default=5.0, help="seconds between samples")
    parser.add_argument("--out", type=Path, default=None, help="where to save the JSON report")
    parser.add_argument(
        "--profile", type=Path, default=None, help="sample the server with py-spy into DIR"
    )
    parser.add_argument(
        "--role", choices=["driver", "clients"], default="driver", help=argparse.SUPPRESS
    )
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--start-seq", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.role == "clients":
        run_clients(args.port, args.clients, args.gzip, args.start_seq)
        return 0
    return drive(args)


def drive(args: argparse.Namespace) -> int:
    token = secrets.token_urlsafe(24)
    port = free_port()
    tmp = Path(tempfile.mkdtemp(prefix="livedash-soak-"))
    db = tmp / "soak.db"
    server = start_server(args, port, token, db)
    assert server.proc is not None
    server_ps = psutil.Process(server.proc.pid)
    clients: subprocess.Popen[str] | None = None
    profiler: subprocess.Popen[bytes] | None = None
    try:
        base = get_json(port, "/livedash/health")["subscribers"]
        head = get_json(port, f"/livedash/poll?stream={STREAM}")["cursor"]
        start_seq = int(head.rpartition(":")[2] or 0)
        clients = subprocess.Popen(
            [sys.executable, "-m", "bench.soak", "--role", "clients", "--port", str(port)]
            + ["--clients", str(args.clients), "--start-seq", str(start_seq)]
            + ([] if args.gzip else ["--no-gzip"]),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=Path(__file__).resolve().parents[1],
        )
        clients_ps = psutil.Process(clients.pid)
        assert clients.stdout is not None and clients.stdin is not None
        assert clients.stdout.readline().strip() == "started"
        if not args.serve:  # one process: its health count is every client
            wait_until(
                lambda: health(port).get("subscribers", 0) >= base + args.clients,
                120,
                "the clients to connect",
            )
        else:
            time.sleep(5)  # workers each count their own; give the clients time to connect
        rss_start = rss(server_ps)
        cpu_start = cpu_seconds(server_ps)
        seconds = args.minutes * 60
        publisher = Publisher(port, token, args.rate, args.batch, seconds)
        profiler = start_profiler(server_ps.pid, seconds, args.profile) if args.profile else None
        began = time.monotonic()
        publisher.start()
        samples: list[dict[str, Any]] = []
        next_print = began
        while publisher.is_alive():
            publisher.join(args.sample)
            elapsed = time.monotonic() - began
            sample = {
                "t": round(elapsed, 1),
                "published": publisher.published,
                "server_rss": rss(server_ps),
                "server_cpu": round(cpu_seconds(server_ps) - cpu_start, 1),
                "clients_cpu": round(sum(clients_ps.cpu_times()[:2]), 1),
            }
            samples.append(sample)
            if time.monotonic() >= next_print:
                next_print += 60
                print(
                    f"soak: {elapsed / 60:5.1f} min  published {publisher.published:>9,}  "
                    f"server RSS {sample['server_rss'] / 2**20:6.1f} MiB  "
                    f"server CPU {sample['server_cpu']:7.1f} s",
                    flush=True,
                )
        if profiler is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                profiler.wait(timeout=60)  # it stops by itself when the load ends
        ok = publisher.post([{"stream": STREAM, "data": {DONE_KEY: True}}])
        last_seq = publisher.last_seq
        rss_end = rss(server_ps)
        cpu_used = cpu_seconds(server_ps) - cpu_start
        # Clients stop at the last event; give stragglers a bounded time, then ask them to stop.
        timer = threading.Timer(120, clients.stdin.close)
        timer.start()
        out = clients.stdout.read()  # until the clients process exits
        clients.wait(timeout=60)
        timer.cancel()
        stats = [ClientStats(**c) for c in json.loads(out.strip().splitlines()[-1])]
    finally:
        if profiler is not None and profiler.poll() is None:
            profiler.send_signal(signal.SIGINT)  # py-spy writes what it has on SIGINT
            with contextlib.suppress(subprocess.TimeoutExpired):
                profiler.wait(timeout=30)
            if profiler.poll() is None:
                profiler.kill()
                profiler.wait()
        if clients is not None and clients.poll() is None:
            clients.kill()
            clients.wait()
        server.stop()
        notes = server_notes(db.with_suffix(".log"))
        shutil.rmtree(tmp, ignore_errors=True)
    hist: dict[int, int] = {}
    for s in stats:
        for ms, count in s.latency_ms.items():
            hist[int(ms)] = hist.get(int(ms), 0) + count
    expected = last_seq - start_seq if ok else publisher.published
    delivered = sum(s.received for s in stats)
    report = {
        "when": datetime.now().isoformat(timespec="seconds"),
        "server": f"livedash serve --workers {args.serve}" if args.serve else "livedash run",
        "store": "sqlite",
        "minutes": args.minutes,
        "rate": args.rate,
        "batch": args.batch,
        "clients": args.clients,
        "gzip": args.gzip,
        "published": publisher.published + (1 if ok else 0),
        "publish_failures": publisher.failed,
        "publisher_max_behind_s": round(publisher.behind, 3),
        "achieved_rate": round(publisher.published / (samples[-1]["t"] if samples else 1), 1),
        "delivered": delivered,
        "delivered_over_published": round(delivered / (expected * len(stats)), 6)
        if expected and stats
        else 0.0,
        "clients_complete": sum(1 for s in stats if s.done and s.missing == 0),
        "missing": sum(s.missing for s in stats),
        "skipped_after_reset": sum(s.skipped_after_reset for s in stats),
        "duplicates": sum(s.duplicates for s in stats),
        "reconnects": sum(s.reconnects for s in stats),
        "resets": sum(s.resets for s in stats),
        "client_errors": sorted({e for s in stats for e in s.errors})[:10],
        "latency_ms": {
            "p50": percentile(hist, 0.5),
            "p99": percentile(hist, 0.99),
            "max": max(hist) if hist else -1,
        },
        "server_rss_mib": {
            "start": round(rss_start / 2**20, 1),
            "end": round(rss_end / 2**20, 1),
            "peak": round(max([rss_start, *(s["server_rss"] for s in samples)]) / 2**20, 1),
        },
        "server_cpu_s": round(cpu_used, 1),
        "load_average": [round(x, 1) for x in os.getloadavg()],
        "cpus": os.cpu_count(),
        "server_log": notes,
        "samples": samples,
    }
    out_path = args.out or RESULTS / f"soak-{datetime.now():%Y%m%d-%H%M%S}.json"
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(report, indent=1) + "\n")
    print_report(report, out_path)
    if args.profile:
        summary = summarize_profile(args.profile / "server-profile.txt")
        (args.profile / "server-profile-top.txt").write_text("\n".join(summary) + "\n")
        print(f"profile: {args.profile / 'server-profile.txt'} (top: server-profile-top.txt)")
    return 0 if report["missing"] == 0 and report["duplicates"] == 0 else 1


def print_report(r: dict[str, Any], path: Path) -> None:
    rss_ = r["server_rss_mib"]
    lat = r["latency_ms"]
    rows = [
        ("server", r["server"] + f", store {r['store']}, gzip {'on' if r['gzip'] else 'off'}"),
        ("load", f"{r['minutes']} min at {r['rate']:,} events/s, {r['clients']} clients"),
        (
            "published",
            f"{r['published']:,} ({r['achieved_rate']:,} /s, {r['publish_failures']} failed)",
        ),
        (
            "delivered/published",
            f"{r['delivered_over_published']:.6f}  ({r['delivered']:,} deliveries)",
        ),
        ("missing / duplicates", f"{r['missing']} / {r['duplicates']}"),
        ("skipped after a reset", f"{r['skipped_after_reset']:,}"),
        ("clients complete", f"{r['clients_complete']} of {r['clients']}"),
        ("reconnects / resets", f"{r['reconnects']} / {r['resets']}"),
        ("latency p50/p99/max", f"{lat['p50']} / {lat['p99']} / {lat['max']} ms"),
        ("server RSS start/end/peak", f"{rss_['start']} / {rss_['end']} / {rss_['peak']} MiB"),
        ("server CPU", f"{r['server_cpu_s']} s"),
        ("machine", f"{r['cpus']} CPUs, load average {r['load_average']}"),
    ]
    width = max(len(k) for k, _ in rows)
    print()
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
    trouble = [n for n in r["server_log"] if "Traceback" in n or "ERROR" in n or "CRITICAL" in n]
    for line in trouble[:10]:
        print(f"server: {line}")
    print(f"\nsaved {path}")


if __name__ == "__main__":
    sys.exit(main())
