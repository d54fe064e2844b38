"""``make bench``: livedash after and before issue 13's serving core, against the polling
recipe and Dash's own WebSocket callbacks, in one run.

``python -m bench.run [--quick] [--only latency,bytes,...]``

Prints the goals table (before / after) and the tables per scenario; writes
bench/results/latest.json, bench/results/latest.md, bench/results/serving.json and
bench/results/latency.png.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import abuse, callbacks, report, scenarios
from bench.harness import BEFORE_REV, CONTENDERS, Browser, machine_facts, use_before

RESULTS = Path(__file__).resolve().parent / "results"
#: Run in this order; the memory soak starts first and runs in the background, niced, so
#: that its 10 minutes fit the run's budget.
SCENARIOS: dict[str, Callable[[scenarios.Config], Any]] = {
    "memory": scenarios.memory_over_time,
    "latency": scenarios.latency_and_cpu,  # also gives "cpu"
    "clients": scenarios.clients_held,
    "throughput": scenarios.throughput,
    "bytes": scenarios.bytes_per_update,
    "callbacks": callbacks.scenario,  # a stream into the page's own callbacks, 10 tabs
    # Issue 21's probes against a 500,000-event store; writes abuse-<commit>.md/.json itself.
    "abuse": abuse.scenario,
}
BACKGROUND = "memory"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer tabs, shorter windows (<3 min)")
    parser.add_argument(
        "--only", default="", help=f"comma-separated subset of: {', '.join(SCENARIOS)}"
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help="results folder")
    parser.add_argument(
        "--soak-seconds", type=float, help="length of the memory soak (600 full, 25 quick)"
    )
    parser.add_argument(
        "--contenders",
        default=",".join(CONTENDERS),
        help="comma-separated subset of the contenders, livedash among them (for profiling one "
        "of them; the ratios to those left out are null)",
    )
    args = parser.parse_args(argv)
    chosen = [s for s in args.only.split(",") if s] or list(SCENARIOS)
    unknown = set(chosen) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenarios {sorted(unknown)}; choose from {', '.join(SCENARIOS)}")
    kinds = tuple(k for k in CONTENDERS if k in args.contenders.split(","))
    if "livedash" not in kinds or len(kinds) != len(set(args.contenders.split(","))):
        parser.error(f"--contenders: a subset of {', '.join(CONTENDERS)} with livedash in it")
    # The scenarios and the report read this at call time.
    scenarios.CONTENDERS = report.CONTENDERS = kinds

    started = time.time()
    facts = machine_facts()
    workdir = Path(tempfile.mkdtemp(prefix="livedash-bench-"))
    if "before" in kinds:
        facts["before_src"] = str(use_before(workdir))
        facts["before_rev"] = os.environ.get("LIVEDASH_BEFORE_REV", BEFORE_REV)
    browser = Browser()
    facts["chromium"] = browser.version
    cfg = scenarios.Config(
        quick=args.quick,
        workdir=workdir,
        browser=browser,
        soak_seconds=args.soak_seconds,
        out=args.out,
    )

    def log(msg: str) -> None:
        print(f"[{time.time() - started:6.1f}s] {msg}", file=sys.stderr, flush=True)

    cfg.log = log
    results: list[dict[str, Any]] = []
    background: dict[str, Any] = {}

    def soak() -> None:
        try:
            background["result"] = SCENARIOS[BACKGROUND](cfg)
        except Exception as exc:  # reported below, after the foreground scenarios
            background["error"] = exc

    soaker = threading.Thread(target=soak, name="bench-soak")
    try:
        for name in [s for s in SCENARIOS if s in chosen]:
            log(f"scenario {name}" + (" (in the background)" if name == BACKGROUND else ""))
            if name == BACKGROUND:
                soaker.start()
                continue
            out = SCENARIOS[name](cfg)
            results.extend(out if isinstance(out, list) else [out])
        if BACKGROUND in chosen:
            log("waiting for the memory soak to finish")
            soaker.join()
            if "error" in background:
                raise background["error"]
            results.append(background["result"])
    finally:
        browser.close()
        shutil.rmtree(workdir, ignore_errors=True)
    facts["load_avg_end"] = [round(x, 2) for x in os.getloadavg()]
    facts["duration_s"] = round(time.time() - started, 1)
    facts["mode"] = "quick" if args.quick else "full"
    facts["contenders"] = list(kinds)

    args.out.mkdir(parents=True, exist_ok=True)
    doc = {"machine": facts, "scenarios": [{**s, "machine": facts} for s in results]}
    (args.out / "latest.json").write_text(json.dumps(doc, indent=1) + "\n")
    markdown = report.markdown(results, facts)
    (args.out / "latest.md").write_text(markdown)
    if cfg.samples:
        report.chart(
            cfg.samples,
            args.out / "latency.png",
            f"livedash after / before vs polling vs Dash WebSocket: publish -> DOM latency, "
            "headless Chromium, "
            f"{facts['cores']} cores ({facts['mode']} run)",
        )
    print(markdown)
    print(
        f"written: {args.out / 'latest.json'}, {args.out / 'latest.md'}, {args.out / 'latency.png'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
