"""Harness plumbing: contender servers in their own processes, a byte-counting TCP proxy,
headless client processes, Chromium tabs, and the statistics over what they recorded."""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from livedash.testing import ServedProcess, free_port, launch_chromium
from livedash.testing import wait_until as wait_until  # for the scenarios: one copy, the kit's

ROOT = Path(__file__).resolve().parent.parent
#: The test kit's flags, and: tabs opened by the harness are all "visible"; do not let
#: Chromium slow their timers.
BENCH_FLAGS = (
    "--disable-background-timer-throttling",
    "--disable-renderer-backgrounding",
    "--disable-backgrounding-occluded-windows",
)
CONTENDERS = ("poll", "dashws", "before", "livedash")
LABELS = {
    "poll": "polling recipe",
    "dashws": "Dash WebSocket",
    "before": "livedash before",
    "livedash": "livedash after",
}
#: The livedash the "before" contender runs: the last commit before the serving core of
#: issue 13 (threaded werkzeug for ``livedash run``, gunicorn + gevent for ``livedash serve``).
BEFORE_REV = "e93075d"


def before_src(workdir: Path) -> Path:
    """The ``src`` folder of the "before" livedash: ``LIVEDASH_BEFORE_SRC`` if set, else
    :data:`BEFORE_REV` (``LIVEDASH_BEFORE_REV`` overrides it) taken out of this checkout's git
    history into ``workdir`` once per run."""
    if os.environ.get("LIVEDASH_BEFORE_SRC"):
        return Path(os.environ["LIVEDASH_BEFORE_SRC"])
    rev = os.environ.get("LIVEDASH_BEFORE_REV", BEFORE_REV)
    target = workdir / f"before-{rev}"
    if not (target / "src" / "livedash").is_dir():
        target.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(
            ["git", "archive", rev, "src"], cwd=ROOT, capture_output=True, check=False
        )
        if archive.returncode != 0:
            raise RuntimeError(
                f"cannot take livedash {rev} out of git ({archive.stderr.decode()[-300:]}); "
                "set LIVEDASH_BEFORE_SRC=/path/to/old/src or run from a git checkout"
            )
        subprocess.run(["tar", "-x", "-C", str(target)], input=archive.stdout, check=True)
    return target / "src"


#: Set by :func:`use_before` for the run: where the "before" contender's livedash lives.
_BEFORE: dict[str, Path] = {}


def use_before(workdir: Path) -> Path:
    """Prepare the "before" livedash for this run (see :func:`before_src`)."""
    _BEFORE["src"] = before_src(workdir)
    return _BEFORE["src"]


def child_env(kind: str = "livedash") -> dict[str, str]:
    """The environment of the processes the harness starts: the bench importable; for the
    ``before`` contender its livedash first on the path; with ``LIVEDASH_SRC=/other/src``
    that livedash instead of this one for the others."""
    paths = [os.environ["LIVEDASH_SRC"]] if os.environ.get("LIVEDASH_SRC") else []
    if kind == "before":
        if "src" not in _BEFORE:
            raise RuntimeError("call harness.use_before(workdir) before starting 'before'")
        paths = [str(_BEFORE["src"])]
    return dict(os.environ, PYTHONPATH=os.pathsep.join([*paths, str(ROOT)]))


def process_tree(ps: psutil.Process) -> list[psutil.Process]:
    """``ps`` and every process below it (a server and the workers it forks); [] once gone."""
    try:
        return [ps, *ps.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def rss_of(processes: list[psutil.Process]) -> int:
    """Resident memory of ``processes`` summed (those that have exited count 0)."""
    total = 0
    for p in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            total += p.memory_info().rss
    return total


def cpu_of(processes: list[psutil.Process]) -> float:
    """User + system CPU seconds of ``processes`` summed, in psutil's 10 ms ticks (those that
    have exited count 0)."""
    total = 0.0
    for p in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            t = p.cpu_times()
            total += t.user + t.system
    return total


def read_publishes(path: Path) -> dict[int, float]:
    """seq -> publish time, from a contender's ``seq ts`` log (a torn last line is skipped)."""
    out: dict[int, float] = {}
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) == 2:
            out[int(parts[0])] = float(parts[1])
    return out


class Server(ServedProcess):
    """One contender served by ``python -m bench.contenders`` on a free port, in its own
    process (``before`` runs livedash :data:`BEFORE_REV` through :func:`child_env`); started
    once its page answers 200 and its CPU clock (``ctl_path``) is up."""

    def __init__(
        self,
        kind: str,
        workdir: Path,
        *,
        mode: str = "text",
        rate: float = 1.0,
        store: str | None = None,
        max_seconds: float = 1200,
        nice: int = 0,
    ) -> None:
        self.kind = kind
        self.port = free_port()
        tag = f"{kind}-{mode}-{self.port}"
        self.log_path = workdir / f"{tag}.publish"
        self.ctl_path = workdir / f"{tag}.ctl"
        cmd = [
            sys.executable,
            "-m",
            "bench.contenders",
            kind,
            "--port",
            str(self.port),
            "--mode",
            mode,
            "--rate",
            str(rate),
            "--log",
            str(self.log_path),
            "--ctl",
            str(self.ctl_path),
            "--max-seconds",
            str(max_seconds),
        ]
        if store:
            cmd += ["--store", store]
        self.log_path.touch()
        self.launch_contender(cmd, workdir / f"{tag}.out", child_env(kind), nice)

    def launch_contender(
        self, argv: list[str], out_path: Path, env: dict[str, str], nice: int = 0
    ) -> None:
        """Start ``argv`` from the checkout and wait until it serves (90 s at most)."""
        super().__init__(
            argv,
            f"http://127.0.0.1:{self.port}/",
            out_path,
            cwd=ROOT,
            env=env,
            ready_status=200,
            deadline=90,
            nice=nice,
        )
        self.out_path = out_path
        self.launch()
        assert self.proc is not None
        self.ps = psutil.Process(self.proc.pid)
        self.wait_ready()

    def answers(self) -> bool:
        """The page answers 200 and the CPU clock is up."""
        return super().answers() and self.ctl_path.exists()

    def processes(self) -> list[psutil.Process]:
        """The server process and its workers (gunicorn forks them)."""
        return process_tree(self.ps)

    def cpu(self) -> float:
        """CPU seconds this server has used: all threads, ns resolution, from the process
        itself."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(10)
            s.connect(str(self.ctl_path))
            return float(s.recv(64).decode())

    def cpu_ticks(self) -> float:
        """The same from psutil (10 ms ticks), as a cross-check."""
        return cpu_of(self.processes())

    def rss(self) -> int:
        """Resident memory of the server (master and workers summed)."""
        return rss_of(self.processes())

    def publishes(self) -> dict[int, float]:
        """seq -> publish time, from the server's log."""
        return read_publishes(self.log_path)

    def stop(self) -> None:
        """SIGTERM (SIGKILL if it lingers) to the server and its workers."""
        super().stop()
        self.ctl_path.unlink(missing_ok=True)


# ---- byte counting --------------------------------------------------------------------------
class CountingProxy:
    """A TCP proxy on 127.0.0.1 that forwards to ``target_port`` and counts payload bytes
    in each direction (TCP payload: what the peers wrote, without IP/TCP headers)."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self.up = 0  # client -> server
        self.down = 0  # server -> client
        self.connections = 0
        self._loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self._server: asyncio.AbstractServer | None = None
        self._thread = threading.Thread(target=self._run, name="bench-proxy", daemon=True)
        self._thread.start()
        if not self._started.wait(10):
            raise RuntimeError("the byte-counting proxy did not start")

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._handle, "127.0.0.1", self.port, backlog=1024)
        )
        self._started.set()
        self._loop.run_forever()

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, down: bool
    ) -> None:
        try:
            while data := await reader.read(65536):
                if down:
                    self.down += len(data)
                else:
                    self.up += len(data)
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        # Cancelled at close(): end quietly (asyncio 3.11 logs a cancelled handler task).
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(
                self._pipe(reader, up_writer, down=False),
                self._pipe(up_reader, writer, down=True),
            )

    def snapshot(self) -> tuple[int, int]:
        return self.up, self.down

    def close(self) -> None:
        async def shutdown() -> None:
            if self._server is not None:
                self._server.close()
            pipes = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in pipes:
                task.cancel()
            await asyncio.gather(*pipes, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


# ---- headless clients -----------------------------------------------------------------------
def run_clients(
    kind: str,
    port: int,
    n: int,
    seconds: float,
    workdir: Path,
    *,
    ramp_timeout: float = 90,
    stream: str = "seed",
    on_connected: Any = None,
    count_only: bool = False,
    extra: Sequence[str] = (),
    nice: int = 0,
) -> dict[str, Any]:
    """Run ``n`` headless clients in their own process for ``seconds`` after they connect.

    ``on_connected()`` (optional) is called once the connect phase is over, while the window
    runs, and its result is stored under ``"during"``."""
    out = workdir / f"clients-{kind}-{port}-{n}.json"
    cmd = [
        sys.executable,
        "-m",
        "bench.clients",
        "livedash" if kind == "before" else kind,
        "--port",
        str(port),
        "-n",
        str(n),
        "--seconds",
        str(seconds),
        "--ramp-timeout",
        str(ramp_timeout),
        "--stream",
        stream,
        "--out",
        str(out),
    ]
    if count_only:
        cmd.append("--count-only")
    cmd += list(extra)
    proc = subprocess.Popen(
        cmd,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=(lambda: os.nice(nice)) if nice else None,
    )
    during = None
    assert proc.stdout is not None
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if line.startswith("connected") and on_connected is not None:
            during = on_connected()
    try:
        proc.wait(ramp_timeout + seconds + 60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)
    if proc.returncode != 0 or not out.exists():
        raise RuntimeError(f"headless {kind} clients failed:\n{''.join(lines)[-3000:]}")
    result: dict[str, Any] = json.loads(out.read_text())
    out.unlink()
    result["during"] = during
    return result


# ---- statistics -----------------------------------------------------------------------------
def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0-100), nearest-rank; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


@dataclass
class Delivery:
    """Latency and loss over a set of receivers (tabs or headless clients)."""

    latencies_ms: list[float]
    expected: int  # (receiver, value) pairs published in the window
    missed: int  # of those, never received by that receiver
    shown_by_none: int  # values in the window that no receiver got
    values: int  # values published in the window

    def summary(self) -> dict[str, Any]:
        lat = self.latencies_ms
        return {
            "samples": len(lat),
            "p50_ms": _round(percentile(lat, 50)),
            "p90_ms": _round(percentile(lat, 90)),
            "p99_ms": _round(percentile(lat, 99)),
            "max_ms": _round(max(lat) if lat else None),
            "values_published": self.values,
            "never_shown_pct": _round(100 * self.missed / self.expected if self.expected else None),
            "shown_by_no_receiver": self.shown_by_none,
        }


def _round(x: float | None, nd: int = 2) -> float | None:
    return None if x is None else round(x, nd)


def delivery(
    receivers: Iterable[Iterable[tuple[int, float]]],
    published: dict[int, float],
    t_start: float,
    t_end: float,
    grace: float = 1.5,
) -> Delivery:
    """Match what each receiver got (seq, receive time in seconds) against the publish log.

    Values published in ``[t_start, t_end - grace]`` count; a value is "never shown" by a
    receiver that did not get it (a later value may have replaced it: that is what polling
    does)."""
    window = {s for s, ts in published.items() if t_start <= ts <= t_end - grace}
    lat: list[float] = []
    expected = missed = 0
    seen_any: set[int] = set()
    for got in receivers:
        seqs = set()
        for seq, t in got:
            if seq in window and seq not in seqs:
                seqs.add(seq)
                lat.append(1000 * (t - published[seq]))
        expected += len(window)
        missed += len(window - seqs)
        seen_any |= seqs
    return Delivery(lat, expected, missed, len(window - seen_any), len(window))


# ---- browsers -------------------------------------------------------------------------------
# Records [seq, Date.now()] each time the value's text changes in the DOM; the same observer
# for every contender, installed before any page script runs.
RECORDER = r"""
(() => {
  const rec = window.__bench = {got: []};
  let last = -1;
  const attach = (el) => {
    const read = () => {
      const m = /\(#(\d+)\)/.exec(el.textContent || '');
      if (m && +m[1] !== last) { last = +m[1]; rec.got.push([last, Date.now()]); }
    };
    read();
    new MutationObserver(read).observe(el, {childList: true, characterData: true, subtree: true});
  };
  const find = () => {
    const el = document.getElementById('live-update-text');
    if (el) attach(el);
    return !!el;
  };
  const watch = new MutationObserver(() => { if (find()) watch.disconnect(); });
  watch.observe(document, {childList: true, subtree: true});
})();
"""


class Browser:
    """Headless Chromium (Debian's, never a downloaded one) driven by Playwright."""

    def __init__(self) -> None:
        from playwright.sync_api import sync_playwright

        path = shutil.which("chromium")
        if path is None:
            raise RuntimeError("chromium is not installed: run `make system-deps`")
        self._pw = sync_playwright().start()
        self.browser = launch_chromium(self._pw, *BENCH_FLAGS, executable=path)
        self.version = self.browser.version

    def open_tabs(self, url: str, n: int, *, graph: bool = False, timeout: float = 60) -> Any:
        """A fresh context with ``n`` tabs on ``url``, each showing a live value."""
        context = self.browser.new_context()
        context.add_init_script(RECORDER)
        try:
            pages = []
            for _ in range(n):
                page = context.new_page()
                page.goto(url, timeout=timeout * 1000)
                pages.append(page)
            for page in pages:
                if graph:
                    page.wait_for_selector(".js-plotly-plot .main-svg", timeout=timeout * 1000)
                else:
                    page.wait_for_function(
                        "() => window.__bench && window.__bench.got.length > 0",
                        timeout=timeout * 1000,
                    )
        except Exception:
            context.close()
            raise
        return context

    @staticmethod
    def records(context: Any) -> list[list[tuple[int, float]]]:
        """Every tab's (seq, time in seconds) list."""
        out = []
        for page in context.pages:
            got = page.evaluate("() => window.__bench ? window.__bench.got : []")
            out.append([(int(s), t / 1000.0) for s, t in got])
        return out

    @staticmethod
    def hidden_tabs(context: Any) -> int:
        return sum(1 for p in context.pages if p.evaluate("() => document.hidden"))

    def close(self) -> None:
        self.browser.close()
        self._pw.stop()


def machine_facts() -> dict[str, Any]:
    """Cores, memory, load, and the versions that shape the figures."""
    from importlib.metadata import PackageNotFoundError, version

    import dash
    import plotly

    facts: dict[str, Any] = {
        "cores": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "load_avg_start": [round(x, 2) for x in os.getloadavg()],
        "python": sys.version.split()[0],
        "dash": dash.__version__,
        "plotly": plotly.__version__,
    }
    for package in ("werkzeug", "flask", "uvicorn", "fastapi", "websockets", "playwright"):
        try:
            facts[package] = version(package)
        except PackageNotFoundError:
            facts[package] = None
    try:
        facts["livedash_commit"] = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        facts["livedash_commit"] = None
    return facts
