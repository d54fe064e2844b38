"""Where a contender's server spends its CPU: cProfile over every thread, and the kernel's
per-thread run counts.

``python -m bench.profile KIND [--clients N] [--seconds S] [--top 25]``

Starts ``KIND`` (``livedash``, ``before``, ``dashws``, ``poll``) as ``bench.run`` does, with
``BENCH_PROFILE`` set (``bench.contenders.Profiler``: the event loop's thread and every thread
started later), holds ``N`` headless clients (0: none, the idle cost of a server with its
producer) for ``S`` seconds, and meanwhile reads ``/proc/PID/task/*/schedstat``: how often each
thread was scheduled and its CPU time, which is what a cost of a few ms per second is made of
(wake-ups, not work; a sampling profiler sees little of it). Then the server stops, writes its
profile, and the top functions by own time and by cumulative time are printed, with the
threads' figures. py-spy is in the ``bench`` extra but cannot read this Python on every
machine (``Failed to find python version``); cProfile always works, at a cost: the figures in
its output are inflated, compare them with each other.
"""

from __future__ import annotations

import argparse
import io
import os
import pstats
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench.harness import Server, run_clients, use_before


def schedstat(pid: int) -> dict[int, tuple[int, int]]:
    """tid -> (CPU ns, times scheduled) for every thread of ``pid``."""
    out = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            cpu, _, runs = (task / "schedstat").read_text().split()
        except (OSError, ValueError):
            continue
        out[int(task.name)] = (int(cpu), int(runs))
    return out


def threads_over(pid: int, seconds: float) -> list[dict[str, Any]]:
    """Each thread's CPU ms and wake-ups per second over ``seconds``."""
    a = schedstat(pid)
    time.sleep(seconds)
    b = schedstat(pid)
    rows = []
    for tid, (cpu, runs) in b.items():
        cpu0, runs0 = a.get(tid, (0, 0))
        rows.append(
            {
                "tid": tid,
                "main": tid == pid,
                "cpu_ms_per_s": round((cpu - cpu0) / 1e6 / seconds, 3),
                "runs_per_s": round((runs - runs0) / seconds, 1),
            }
        )
    return sorted(rows, key=lambda r: -float(r["cpu_ms_per_s"]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=["livedash", "before", "dashws", "poll"])
    parser.add_argument("--clients", type=int, default=0, help="headless clients held")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--no-cprofile", action="store_true", help="only the thread figures")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="livedash-profile-") as tmp:
        workdir = Path(tmp)
        if args.kind == "before":
            use_before(workdir)
        prof = workdir / "server.pstats"
        if not args.no_cprofile:
            os.environ["BENCH_PROFILE"] = str(prof)
        server = Server(args.kind, workdir)
        os.environ.pop("BENCH_PROFILE", None)
        threads: list[dict[str, Any]] = []
        try:
            time.sleep(2.0)
            c0 = server.cpu()
            t0 = time.time()
            if args.clients:

                def measure() -> None:
                    threads.extend(threads_over(server.proc.pid, args.seconds - 1))

                r = run_clients(
                    args.kind,
                    server.port,
                    args.clients,
                    args.seconds,
                    workdir,
                    on_connected=lambda: threading.Thread(target=measure).start(),
                )
                print(f"clients connected: {r['connected']}/{args.clients}")
            else:
                threads.extend(threads_over(server.proc.pid, args.seconds))
            cpu = server.cpu() - c0
            elapsed = time.time() - t0
        finally:
            server.stop()
        print(
            f"{args.kind}: {1000 * cpu / elapsed:.2f} ms CPU/s over {elapsed:.0f} s with "
            f"{args.clients} client(s) (cProfile {'off' if args.no_cprofile else 'on'})"
        )
        print("threads (kernel schedstat): cpu ms/s, scheduled/s")
        for row in threads[:12]:
            print(
                f"  {'main' if row['main'] else row['tid']:>8}: {row['cpu_ms_per_s']:8.3f} ms/s"
                f" {row['runs_per_s']:8.1f}/s"
            )
        if prof.exists():
            for key in ("tottime", "cumulative"):
                buf = io.StringIO()
                pstats.Stats(str(prof), stream=buf).sort_stats(key).print_stats(args.top)
                text = buf.getvalue()
                print(f"--- by {key} ---")
                print(text[text.find("   ncalls") :])
    return 0


if __name__ == "__main__":
    sys.exit(main())
