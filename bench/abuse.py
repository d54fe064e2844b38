"""``abuse``: the probes of issue 21, replayed against ``livedash run`` as an attacker on the
same network would send them, while a normal client uses the page.

``python -m bench.abuse [--events 500000] [--quick] [--only range-points,idle] [--out DIR]``

The store is an SQLite file holding two streams of ``--events`` events each (``big``: ~460 B
events with a field nested 61 levels; ``flat``: ``{"v", "i"}``), written with direct inserts
(a benchmark fixture, not a publish path). ``livedash run seed`` serves it; a normal client,
in a process of its own, loads the page every 0.5 s, opens a fresh event stream after each
load (timing its first event) and holds one event stream throughout (timing the gaps between
its events). Each probe runs alone, then the server settles; per probe the table gives the
server's peak RSS growth over its RSS before the probe, its CPU seconds (all and per request),
the statuses, and the normal client's worst page time, worst first event and longest gap on
the held stream, against the goals of the issue: at most 200 MB peak growth and 1 CPU-s per
request, and the normal client never waiting over 1 s. The idle-connections probe runs
against ``livedash serve seed --workers 1`` instead, which must keep answering.

Everything runs on 127.0.0.1, bounded in count and time; every process started is stopped.
Writes ``bench/results/abuse-<commit>.md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import multiprocessing
import os
import resource
import selectors
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from bench.harness import ROOT, child_env, free_port, wait_until

RESULTS = Path(__file__).resolve().parent / "results"
#: The goals of issue 21.
GOAL_RSS_MB, GOAL_CPU_S, GOAL_WAIT_S = 200.0, 1.0, 1.0
#: How often the normal client loads the page, and how long any of its requests may take.
CLIENT_PERIOD, CLIENT_TIMEOUT = 0.5, 30.0
#: Seconds between the server's RSS samples during a probe.
SAMPLE = 0.05
#: Seconds the server is left alone before a probe (its "before"), at least, and after (the
#: peak may come late: a response still being written, memory not returned yet); the share
#: of a core it may use and still count as at rest, and the longest wait for that.
SETTLE, AFTER = 1.0, 3.0
REST_CPU, REST_WAIT = 0.1, 60.0
#: What the issue measured on 2914d29, per probe (for the "before" column).
BEFORE = {
    "range-points": "200, 8.7 s, +859 MB peak, 8.7 CPU-s; page 0.5 s",
    "range-raw": "200 (24 MB), 3.8 s, +643 MB peak, 3.7 CPU-s",
    "range-x": "killed past 4 GiB after > 23 s; page 2.0 s",
    "range-parallel": "200, 19-24 s, +530 MB peak, 33 CPU-s; first event 15.4 s, publish 15.3 s",
    "events-catchup": "200 (48 MB in one batch), 9.5 s, +1,427 MB peak, 9.1 CPU-s",
    "events-stalled": "+2,245 MB peak (2,035 MB after 20 s), 37 CPU-s; new streams timed out",
    "poll-query": "400, 4.5 s, 4.4 CPU-s; pages 3.3 s",
    "new-streams": "300,000 streams made, ~100 B of RSS each, never returned",
    "idle": "every new request 503, still at 61 s",
}


# ---- the store ----------------------------------------------------------------------------
def build_store(path: Path, events: int) -> float:
    """Write the two streams into a fresh SQLite store at ``path``; seconds it took."""
    from livedash.stores import SQLiteStore

    started = time.monotonic()
    SQLiteStore(str(path)).close()  # the schema, as the server expects it
    nest = "1"
    for _ in range(61):
        nest = '{"d":' + nest + "}"
    t0 = time.time() - events  # one event a second, ending now
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("BEGIN")

        def rows(stream: str, text: Callable[[int], str]) -> Iterator[tuple[str, int, float, str]]:
            for i in range(events):
                yield stream, i + 1, t0 + i, text(i)

        pad = "x" * 60

        def value(i: int) -> float:
            return i * 7919 % 1000 / 10  # a sawtooth scrambled by a prime

        conn.executemany(
            "INSERT INTO events VALUES (?, ?, ?, ?)",
            rows(
                "big",
                lambda i: f'{{"v":{i * 7919 % 1000 / 10},"i":{i},"deep":{nest},"pad":"{pad}"}}',
            ),
        )
        conn.executemany(
            "INSERT INTO events VALUES (?, ?, ?, ?)",
            rows("flat", lambda i: f'{{"v":{value(i)},"i":{i}}}'),
        )
        conn.executemany("INSERT INTO streams VALUES (?, ?)", [("big", events), ("flat", events)])
        conn.execute("COMMIT")
    finally:
        conn.close()
    return time.monotonic() - started


# ---- servers --------------------------------------------------------------------------------
class Served:
    """``livedash run|serve seed`` on a free port, in its own process group."""

    def __init__(self, command: str, store: str, workdir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = workdir / f"{command}-{self.port}.log"
        argv = [sys.executable, "-m", "livedash.cli", command, "seed", "--store", store]
        argv += ["--port", str(self.port)] + (["--workers", "1"] if command == "serve" else [])
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                argv,
                cwd=ROOT,
                env=child_env(),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.ps = psutil.Process(self.proc.pid)
        wait_until(self._ready, 120, f"livedash {command} on port {self.port}", 0.2)

    def _ready(self) -> bool:
        if self.proc.poll() is not None:
            raise RuntimeError(f"livedash exited:\n{self.log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{self.url}/livedash/health", timeout=5) as r:
                return bool(r.status == 200)
        except OSError:
            return False

    def processes(self) -> list[psutil.Process]:
        """The server and its workers."""
        try:
            return [self.ps, *self.ps.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def rss(self) -> int:
        """Resident memory, workers included."""
        total = 0
        for p in self.processes():
            with contextlib.suppress(psutil.Error):
                total += p.memory_info().rss
        return total

    def cpu(self) -> float:
        """CPU seconds used so far (user + system, workers included)."""
        total = 0.0
        for p in self.processes():
            with contextlib.suppress(psutil.Error):
                t = p.cpu_times()
                total += t.user + t.system
        return total

    def stop(self) -> None:
        """End the server and its workers."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, 15)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, 9)
            self.proc.wait(20)


# ---- the normal client ----------------------------------------------------------------------
def _first_event(port: int, path: str, timeout: float) -> float:
    """Seconds from opening ``path`` until its first ``data:`` line."""
    started = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        if resp.status != 200:
            raise OSError(f"status {resp.status}")
        while True:
            line = resp.readline()
            if not line:
                raise OSError("the stream ended before its first event")
            if line.startswith(b"data:"):
                return time.monotonic() - started
    finally:
        conn.close()


def normal_client(port: int, out: str, stop: Any) -> None:
    """The page every :data:`CLIENT_PERIOD` s, then a fresh event stream's first event; one
    event stream held throughout. Appends ``[kind, t, seconds, ok]`` JSON lines to ``out``."""
    lock = threading.Lock()
    sink = open(out, "a")  # noqa: SIM115 - closed at the end of this process

    def record(kind: str, t: float, seconds: float, ok: bool) -> None:
        with lock:
            sink.write(json.dumps([kind, t, round(seconds, 4), ok]) + "\n")
            sink.flush()

    def hold() -> None:
        while not stop.is_set():
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=CLIENT_TIMEOUT)
            try:
                conn.request("GET", "/livedash/events?stream=seed")
                resp = conn.getresponse()
                last = None
                while not stop.is_set():
                    line = resp.readline()
                    if not line:
                        break
                    if line.startswith(b"data:"):
                        now = time.time()
                        if last is not None:
                            record("gap", last, now - last, True)
                        last = now
            except OSError:
                record("gap", time.time(), CLIENT_TIMEOUT, False)
            finally:
                conn.close()

    threading.Thread(target=hold, daemon=True).start()
    while not stop.is_set():
        t = time.time()
        started = time.monotonic()
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=CLIENT_TIMEOUT) as r:
                r.read()
                ok = r.status == 200
        except (OSError, urllib.error.HTTPError):
            ok = False
        record("page", t, time.monotonic() - started, ok)
        t = time.time()
        try:
            seconds = _first_event(port, "/livedash/events?stream=seed&last=seed:1", CLIENT_TIMEOUT)
            record("first", t, seconds, True)
        except OSError:
            record("first", t, time.monotonic() - started, False)
        stop.wait(max(0.0, CLIENT_PERIOD - (time.monotonic() - started)))
    sink.close()


@dataclass
class Client:
    """A :func:`normal_client` process, and what it recorded."""

    port: int
    path: Path
    stop: Any = None
    proc: Any = None

    def start(self) -> Client:
        ctx = multiprocessing.get_context("spawn")
        self.stop = ctx.Event()
        self.proc = ctx.Process(target=normal_client, args=(self.port, str(self.path), self.stop))
        self.proc.start()
        return self

    def close(self) -> None:
        self.stop.set()
        self.proc.join(CLIENT_TIMEOUT + 5)
        if self.proc.is_alive():
            self.proc.kill()

    def worst(self, t0: float, t1: float) -> dict[str, Any]:
        """The worst of each kind whose time overlaps ``[t0, t1]`` (None: none did), and the
        failures. Each record is ``[kind, start, seconds, ok]``."""
        out: dict[str, Any] = {"page_s": None, "first_event_s": None, "gap_s": None, "failed": 0}
        names = {"page": "page_s", "first": "first_event_s", "gap": "gap_s"}
        for line in self.path.read_text().splitlines():
            with contextlib.suppress(ValueError):
                kind, start, seconds, ok = json.loads(line)
                if start <= t1 and start + seconds >= t0:
                    key = names[kind]
                    out[key] = max(out[key] or 0.0, seconds)
                    out["failed"] += 0 if ok else 1
        return out


# ---- measuring a probe ----------------------------------------------------------------------
@dataclass
class Probe:
    """One attack: ``run(server)`` sends it and returns the statuses seen (one per request)."""

    name: str
    what: str
    run: Callable[[Served], list[Any]]
    target: str = "run"  # or "serve"


@dataclass
class Measured:
    """A probe's figures."""

    name: str
    what: str
    requests: int
    statuses: dict[str, int]
    seconds: float
    rss_before_mb: float
    rss_peak_mb: float
    rss_after_mb: float
    cpu_s: float
    client: dict[str, Any]
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def growth_mb(self) -> float:
        return self.rss_peak_mb - self.rss_before_mb

    @property
    def cpu_per_request(self) -> float:
        return self.cpu_s / max(1, self.requests)

    def goals(self) -> dict[str, bool]:
        """Each goal of the issue, met or not (a client that recorded no page or no first
        event in the probe's time did not get one)."""
        page, first = self.client["page_s"], self.client["first_event_s"]
        waited = page is None or first is None or max(page, first) > GOAL_WAIT_S
        return {
            "rss": self.growth_mb <= GOAL_RSS_MB,
            "cpu": self.cpu_per_request <= GOAL_CPU_S,
            "client": not waited and self.client["failed"] == 0,
        }


def settle(server: Served) -> None:
    """Wait until the server is at rest (under :data:`REST_CPU` of a core for a second, at
    most :data:`REST_WAIT` seconds), so that what one probe left behind (a queue of writes
    to clients that went away) is not counted against the next."""
    deadline = time.monotonic() + REST_WAIT
    while time.monotonic() < deadline:
        cpu = server.cpu()
        time.sleep(SETTLE)
        if server.cpu() - cpu < REST_CPU * SETTLE:
            return


def measure(probe: Probe, server: Served, client: Client, log: Callable[[str], None]) -> Measured:
    """Run ``probe`` against ``server`` with the RSS sampled and the CPU read around it."""
    settle(server)  # the server at rest: its "before"
    before = server.rss()
    peak = [before]
    sampling = threading.Event()

    def sample() -> None:
        while not sampling.wait(SAMPLE):
            peak[0] = max(peak[0], server.rss())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    cpu0, t0 = server.cpu(), time.time()
    log(f"  probe {probe.name}: {probe.what}")
    extra: dict[str, Any] = {}
    try:
        statuses = probe.run(server)
    except Exception as exc:  # a probe that breaks is a finding, not a crash of the run
        statuses = [f"error: {str(exc)[:120]}"]
    if statuses and isinstance(statuses[-1], dict):
        extra = statuses.pop()
    seconds = time.time() - t0
    time.sleep(AFTER)
    t1 = time.time()
    cpu = server.cpu() - cpu0
    sampling.set()
    sampler.join()
    after = server.rss()
    counts: dict[str, int] = {}
    for status in statuses:
        counts[str(status)] = counts.get(str(status), 0) + 1
    return Measured(
        name=probe.name,
        what=probe.what,
        requests=len(statuses),
        statuses=counts,
        seconds=round(seconds, 2),
        rss_before_mb=round(before / 2**20, 1),
        rss_peak_mb=round(peak[0] / 2**20, 1),
        rss_after_mb=round(after / 2**20, 1),
        cpu_s=round(cpu, 2),
        client=client.worst(t0, t1),
        extra=extra,
    )


# ---- the probes -----------------------------------------------------------------------------
def _get(server: Served, path: str, timeout: float = 120) -> tuple[int, int]:
    """GET ``path``: (status, body bytes)."""
    try:
        with urllib.request.urlopen(server.url + path, timeout=timeout) as r:
            return r.status, len(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, len(exc.read())
    except OSError:
        return 0, 0


def _one(path: str) -> Callable[[Served], list[Any]]:
    def run(server: Served) -> list[Any]:
        status, size = _get(server, path)
        return [status, {"body_bytes": size}]

    return run


def _parallel(path: str, n: int) -> Callable[[Served], list[Any]]:
    def run(server: Served) -> list[Any]:
        results: list[Any] = [None] * n

        def one(i: int) -> None:
            results[i] = _get(server, path)[0]

        threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return results

    return run


def _catch_up(stream: str, last: int, limit_s: float) -> Callable[[Served], list[Any]]:
    """One reader of ``events?stream=S&last=S:N`` that reads until it has ``last`` events
    (or ``limit_s`` seconds pass)."""

    def run(server: Served) -> list[Any]:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
        got = size = 0
        status: int | str = 0
        started = time.monotonic()
        marker = f'["{stream}",'.encode()
        try:
            conn.request("GET", f"/livedash/events?stream={stream}&last={stream}:{last}")
            resp = conn.getresponse()
            status = resp.status
            while got < last and time.monotonic() - started < limit_s:
                chunk = resp.read1(1 << 20)
                if not chunk:
                    break
                size += len(chunk)
                got += chunk.count(marker)
        except OSError as exc:
            status = f"error: {exc}"
        finally:
            conn.close()
        return [status, {"events": got, "body_bytes": size}]

    return run


def _stalled(n: int, hold_s: float) -> Callable[[Served], list[Any]]:
    """``n`` event streams asking for 100,000 events of history each, never reading."""

    def run(server: Served) -> list[Any]:
        socks = []
        request = (
            b"GET /livedash/events?stream=flat&last=flat:100000 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        )
        try:
            for _ in range(n):
                sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
                # A small receive buffer, as a client that reads nothing advertises.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                sock.sendall(request)
                socks.append(sock)
            time.sleep(hold_s)
        finally:
            for sock in socks:
                sock.close()
        return ["held"] * len(socks)

    return run


def _poll_query(n: int) -> Callable[[Served], list[Any]]:
    names = ",".join(f"s{i}" for i in range(9000))  # a 63 KiB query
    return _parallel(f"/livedash/poll?stream={names}", n)


def _new_streams(batches: int) -> Callable[[Served], list[Any]]:
    """Batches of 1,000 events, each to a stream of its own never seen before."""

    def run(server: Served) -> list[Any]:
        statuses: list[Any] = []
        made = 0
        for b in range(batches):
            events = [{"stream": f"new-{b}-{i}", "data": {"i": i}} for i in range(1000)]
            req = urllib.request.Request(
                f"{server.url}/livedash/publish",
                data=json.dumps({"events": events}).encode(),
                headers={"Content-Type": "application/json"},
            )
            try:
                with urllib.request.urlopen(req, timeout=60) as r:
                    statuses.append(r.status)
                    made += len(json.load(r)["published"])
            except urllib.error.HTTPError as exc:
                statuses.append(exc.code)
        return [*statuses, {"streams_made": made}]

    return run


def _idle(n: int, hold_s: float) -> Callable[[Served], list[Any]]:
    """``n`` TCP connections that send nothing, reopened as the server closes them, held for
    ``hold_s`` seconds while real requests are sent; the statuses are the real requests'."""

    def run(server: Served) -> list[Any]:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft < n + 1000:
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, n + 1000), hard))
        sel = selectors.DefaultSelector()
        reopened = 0

        def connect() -> None:
            sock = socket.socket()
            sock.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                sock.connect(("127.0.0.1", server.port))
            sel.register(sock, selectors.EVENT_READ)

        for _ in range(n):
            connect()
        statuses: list[Any] = []
        latencies: list[float] = []
        deadline = time.monotonic() + hold_s
        next_request = time.monotonic()
        try:
            while time.monotonic() < deadline:
                for key, _ in sel.select(timeout=0.05):
                    sock = key.fileobj
                    assert isinstance(sock, socket.socket)
                    sel.unregister(sock)
                    sock.close()  # the server closed it (or reset it): open another
                    connect()
                    reopened += 1
                if time.monotonic() >= next_request:
                    next_request += CLIENT_PERIOD
                    started = time.monotonic()
                    statuses.append(_get(server, "/", timeout=10)[0])
                    latencies.append(time.monotonic() - started)
        finally:
            for key in list(sel.get_map().values()):
                key.fileobj.close()  # type: ignore[union-attr]
            sel.close()
        worst = max(latencies, default=0.0)
        return [*statuses, {"reopened": reopened, "worst_request_s": round(worst, 3)}]

    return run


def probes(quick: bool, events: int) -> list[Probe]:
    """The probes of the issue's table, in its order (bounded in count and time)."""
    ys = "&y=v" * 32
    stalled, hold = (100, 10) if quick else (500, 20)
    batches = 5 if quick else 20
    idle = 2000 if quick else 10_000
    return [
        Probe(
            "range-points",
            "range flat since=0 points=10000 + y=v x32",
            _one(f"/livedash/range?stream=flat&since=0&points=10000{ys}"),
        ),
        Probe(
            "range-raw",
            "range big since=0 points=0 limit=50000 (the largest page)",
            _one("/livedash/range?stream=big&since=0&points=0&limit=50000"),
        ),
        Probe(
            "range-x",
            "range big since=0 x=i y=v (x a data field)",
            _one("/livedash/range?stream=big&since=0&x=i&y=v"),
        ),
        Probe(
            "range-parallel",
            "8 parallel range big since=0 y=v",
            _parallel("/livedash/range?stream=big&since=0&y=v", 8),
        ),
        Probe(
            "events-catchup",
            f"events big last=big:{min(100_000, events):,}, one reader reading it all",
            _catch_up("big", min(100_000, events), 120),
        ),
        Probe(
            "events-stalled",
            f"{stalled} event streams last=flat:100000 that never read, held {hold} s",
            _stalled(stalled, hold),
        ),
        Probe("poll-query", "8 parallel poll with a 63 KiB query", _poll_query(8)),
        Probe(
            "new-streams",
            f"{batches} publishes of 1,000 events, each to a new stream",
            _new_streams(batches),
        ),
        Probe(
            "idle",
            f"livedash serve seed --workers 1, {idle:,} TCP connections sending nothing "
            f"(reopened as they are closed) for {hold} s, a page every 0.5 s",
            _idle(idle, hold),
            target="serve",
        ),
    ]


# ---- the report -----------------------------------------------------------------------------
def _mark(ok: bool) -> str:
    return "ok" if ok else "**MISSED**"


def markdown(results: list[Measured], facts: dict[str, Any]) -> str:
    """The table, goals beside each figure, and the issue's "before" per probe."""
    lines = [
        f"# abuse (issue 21), livedash {facts['commit']}",
        "",
        f"{facts['cores']} cores; load average {facts['load_avg_start']} at the start, "
        f"{facts['load_avg_end']} at the end (other sessions share the machine). Store: SQLite, "
        f"`big` and `flat` of {facts['events']:,} events each (built in {facts['build_s']} s). "
        f"Goals: peak RSS growth <= {GOAL_RSS_MB:.0f} MB and <= {GOAL_CPU_S:g} CPU-s per "
        f"request; the normal client never waits over {GOAL_WAIT_S:g} s for a page or a first "
        "event; 10,000 idle connections leave `serve` answering.",
        "",
        "| probe | statuses | time | RSS before / peak / after (MB) | peak growth "
        "| CPU-s (per request) | client: worst page / first event / held-stream gap (1 s ticks) "
        "| goals "
        "| before (2914d29) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        goals = r.goals()
        statuses = ", ".join(f"{k} x{v}" if v > 1 else k for k, v in r.statuses.items())
        if r.extra:
            statuses += " (" + ", ".join(f"{k} {v:,}" for k, v in r.extra.items()) + ")"
        c = r.client
        client = " / ".join(
            "none" if c[k] is None else f"{c[k]:.2f}" for k in ("page_s", "first_event_s", "gap_s")
        )
        client += " s"
        if c["failed"]:
            client += f", {c['failed']} failed"
        lines.append(
            f"| {r.what} | {statuses} | {r.seconds:.1f} s | {r.rss_before_mb:.0f} / "
            f"{r.rss_peak_mb:.0f} / {r.rss_after_mb:.0f} | {r.growth_mb:+.0f} MB "
            f"{_mark(goals['rss'])} | {r.cpu_s:.2f} ({r.cpu_per_request:.2f}) "
            f"{_mark(goals['cpu'])} | {client} {_mark(goals['client'])} | "
            f"{'all met' if all(goals.values()) else 'missed'} | {BEFORE.get(r.name, '')} |"
        )
    return "\n".join(lines) + "\n"


def commit() -> str:
    """The checkout's short commit (with ``+`` when the tree has changes)."""
    rev = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "src"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    return (rev or "unknown") + ("+" if dirty else "")


def run(
    *,
    quick: bool = False,
    events: int | None = None,
    only: list[str] | None = None,
    out: Path = RESULTS,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Build the store, run the probes, print and write the table; the JSON document."""
    events = events or (100_000 if quick else 500_000)
    chosen = [p for p in probes(quick, events) if not only or p.name in only]
    facts: dict[str, Any] = {
        "commit": commit(),
        "cores": os.cpu_count(),
        "events": events,
        "load_avg_start": [round(x, 2) for x in os.getloadavg()],
        "mode": "quick" if quick else "full",
    }
    results: list[Measured] = []
    with tempfile.TemporaryDirectory(prefix="livedash-abuse-") as tmp:
        workdir = Path(tmp)
        path = workdir / "abuse.db"
        log(f"abuse: building the store ({events:,} events x 2)")
        facts["build_s"] = round(build_store(path, events), 1)
        store = f"sqlite:///{path}"
        for target in ("run", "serve"):
            mine = [p for p in chosen if p.target == target]
            if not mine:
                continue
            server = Served(target, store, workdir)
            client = Client(server.port, workdir / f"client-{target}.jsonl").start()
            try:
                for probe in mine:
                    results.append(measure(probe, server, client, log))
                    log(f"    {asdict_short(results[-1])}")
            finally:
                client.close()
                server.stop()
    facts["load_avg_end"] = [round(x, 2) for x in os.getloadavg()]
    table = markdown(results, facts)
    print(table)
    out.mkdir(parents=True, exist_ok=True)
    doc = {
        "scenario": "abuse",
        "title": "Bounded work per request (issue 21): the probes, replayed",
        "machine": facts,
        "goals": {"rss_mb": GOAL_RSS_MB, "cpu_s_per_request": GOAL_CPU_S, "wait_s": GOAL_WAIT_S},
        "results": [
            {
                **r.__dict__,
                "growth_mb": round(r.growth_mb, 1),
                "cpu_per_request": round(r.cpu_per_request, 3),
                "goals_met": r.goals(),
                "before": BEFORE.get(r.name),
            }
            for r in results
        ],
    }
    name = f"abuse-{facts['commit'].rstrip('+')}"
    (out / f"{name}.json").write_text(json.dumps(doc, indent=1) + "\n")
    (out / f"{name}.md").write_text(table)
    log(f"written: {out / name}.md, .json")
    return doc


def asdict_short(r: Measured) -> str:
    """One progress line for a probe."""
    return (
        f"{r.statuses} in {r.seconds:.1f} s, RSS {r.growth_mb:+.0f} MB peak, CPU {r.cpu_s:.2f} s; "
        f"client {r.client}"
    )


def scenario(cfg: Any) -> dict[str, Any]:
    """The ``abuse`` scenario of ``make bench`` (``bench.run``)."""
    return run(quick=cfg.quick, out=cfg.out or RESULTS, log=cfg.log)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100,000 events, fewer connections")
    parser.add_argument("--events", type=int, help="events per stream (default 500,000)")
    names = [p.name for p in probes(False, 1)]
    parser.add_argument("--only", default="", help=f"comma-separated subset of: {', '.join(names)}")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results folder")
    args = parser.parse_args(argv)
    only = [s for s in args.only.split(",") if s]
    unknown = set(only) - set(names)
    if unknown:
        parser.error(f"unknown probes {sorted(unknown)}; choose from {', '.join(names)}")

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    run(quick=args.quick, events=args.events, only=only, out=args.out, log=log)
    return 0


if __name__ == "__main__":
    sys.exit(main())
