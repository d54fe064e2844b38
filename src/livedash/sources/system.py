"""Host metrics from psutil: one sample per call, rates computed between calls."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import psutil

#: How many processes the sample lists, busiest first.
TOP_PROCESSES = 5


class SystemSampler:
    """Samples CPU, memory, network, disk, load and the busiest processes.

    Rates (bytes per second, process CPU %) are measured between two calls, so the first
    call reports zero rates. Keep one sampler per producer: it remembers the previous
    counters and the :class:`psutil.Process` objects whose CPU it measures.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._last_at: float | None = None
        self._net = psutil.net_io_counters()
        self._disk = psutil.disk_io_counters()
        self._procs: dict[int, psutil.Process] = {}
        self.cores = psutil.cpu_count() or 1
        # The first cpu_percent(None) call only starts the measurement.
        psutil.cpu_percent(percpu=True)

    def sample(self) -> dict[str, Any]:
        """One JSON-ready sample: ``cpu`` (%), ``cores`` (% per core), ``mem`` (%),
        ``mem_used`` / ``mem_total`` (bytes), ``net_rx`` / ``net_tx`` / ``disk_r`` /
        ``disk_w`` (bytes/s), ``load1`` / ``load5`` / ``load15`` and ``procs`` (the top
        :data:`TOP_PROCESSES` by CPU: ``pid``, ``name``, ``cpu`` %, ``mem`` %)."""
        now = self._clock()
        elapsed = now - self._last_at if self._last_at is not None else 0.0
        self._last_at = now
        cores = [round(c, 1) for c in psutil.cpu_percent(percpu=True)]
        mem = psutil.virtual_memory()
        net = psutil.net_io_counters()
        disk = psutil.disk_io_counters()
        load1, load5, load15 = os.getloadavg()
        sample: dict[str, Any] = {
            "cpu": round(sum(cores) / len(cores), 1) if cores else 0.0,
            "cores": cores,
            "mem": round(mem.percent, 1),
            "mem_used": int(mem.total - mem.available),
            "mem_total": int(mem.total),
            "net_rx": _rate(self._net, net, "bytes_recv", elapsed),
            "net_tx": _rate(self._net, net, "bytes_sent", elapsed),
            "disk_r": _rate(self._disk, disk, "read_bytes", elapsed),
            "disk_w": _rate(self._disk, disk, "write_bytes", elapsed),
            "load1": round(load1, 2),
            "load5": round(load5, 2),
            "load15": round(load15, 2),
            "procs": self._top_processes(),
        }
        self._net, self._disk = net, disk
        return sample

    def _top_processes(self) -> list[dict[str, Any]]:
        alive: dict[int, psutil.Process] = {}
        rows = []
        for proc in psutil.process_iter():
            # Reuse the Process object: its cpu_percent() measures since our last call.
            known = self._procs.get(proc.pid)
            if known is not None and known.is_running():
                proc = known
            try:
                with proc.oneshot():
                    cpu = proc.cpu_percent(None)
                    rows.append(
                        {
                            "pid": proc.pid,
                            "name": proc.name(),
                            "cpu": round(cpu, 1),
                            "mem": round(proc.memory_percent(), 1),
                        }
                    )
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
            alive[proc.pid] = proc
        self._procs = alive
        rows.sort(key=lambda r: (-r["cpu"], -r["mem"], r["pid"]))
        return rows[:TOP_PROCESSES]


def _rate(before: Any, after: Any, field: str, elapsed: float) -> float:
    # Counters can be missing (no disks in a container) or reset (interface restarted).
    if before is None or after is None or elapsed <= 0:
        return 0.0
    delta: float = getattr(after, field) - getattr(before, field)
    return round(max(0.0, delta / elapsed), 1)
