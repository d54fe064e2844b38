"""Client apply cost and latency: the browser side of a text update, before vs after a change.

For each variant (``before``: the livedash of a git ref, default ``main``, served through
``LIVEDASH_SRC``; ``after``: this checkout) and each tab count, the livedash seed page runs
at 1 update/s in real headless Chromium tabs, then one tab at a high rate (load). Per run:

- publish -> DOM latency p50/p99 (the harness's MutationObserver, same clock as the server),
  split into publish -> apply (``set_props`` called, from the client's internal ``_onApply``
  hook) and apply -> DOM (Dash/React rendering the new value);
- the renderer's main-thread time per update: CDP ``Performance.getMetrics`` ``TaskDuration``
  and ``ScriptDuration`` deltas over the window, divided by the updates the tab showed;
- under load: events received vs ``set_props`` calls (coalescing).

Run: ``.venv/bin/python -m bench.client_apply`` (``--quick`` for a short run); writes
``bench/results/client.json``. Nothing here asserts a timing.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.harness import ROOT, Browser, Server, delivery, machine_facts, percentile

RESULTS = ROOT / "bench" / "results"

#: Records [seq, Date.now()] each time the client calls set_props for the seed text.
APPLY_HOOK = r"""
(() => {
  const rec = window.__apply = [];
  const install = () => {
    if (!window.livedash) return false;
    // _onApply is the internal hook; the `before` variant's older client reads onApply.
    window.livedash._onApply = window.livedash.onApply = (w, e) => {
      if (e && e[1] !== undefined) rec.push([e[1], Date.now()]);
    };
    return true;
  };
  if (!install()) document.addEventListener('DOMContentLoaded', install);
})();
"""


def _metrics(session: Any) -> dict[str, float]:
    got = session.send("Performance.getMetrics")["metrics"]
    return {m["name"]: float(m["value"]) for m in got}


def _snapshot(context: Any, sessions: list[Any]) -> list[dict[str, Any]]:
    out = []
    for page, session in zip(context.pages, sessions, strict=True):
        stats = page.evaluate("() => Object.assign({}, window.livedash.stats)")
        out.append({"metrics": _metrics(session), "stats": stats})
    return out


def _split(
    records: list[list[tuple[int, float]]],
    applies: list[list[tuple[int, float]]],
    published: dict[int, float],
    t0: float,
    t1: float,
) -> dict[str, Any]:
    """publish -> apply and apply -> DOM, per value shown in the window."""
    to_apply: list[float] = []
    to_dom: list[float] = []
    for shown, applied in zip(records, applies, strict=True):
        at = dict(applied)
        for seq, t in shown:
            if seq in published and t0 <= published[seq] <= t1 - 1.5 and seq in at:
                to_apply.append(1000 * (at[seq] - published[seq]))
                to_dom.append(1000 * (t - at[seq]))
    return {
        "publish_to_apply_p50_ms": _r(percentile(to_apply, 50)),
        "publish_to_apply_p99_ms": _r(percentile(to_apply, 99)),
        "apply_to_dom_p50_ms": _r(percentile(to_dom, 50)),
        "apply_to_dom_p99_ms": _r(percentile(to_dom, 99)),
    }


def _r(x: float | None, nd: int = 2) -> float | None:
    return None if x is None else round(x, nd)


def run_one(
    browser: Browser, workdir: Path, src: str | None, tabs: int, rate: float, seconds: float
) -> dict[str, Any]:
    """One server (``src``: the livedash to serve, None for this checkout), ``tabs`` tabs."""
    if src:
        os.environ["LIVEDASH_SRC"] = src
    else:
        os.environ.pop("LIVEDASH_SRC", None)
    server = Server("livedash", workdir, rate=rate)
    try:
        context = browser.open_tabs(server.url, tabs, timeout=120)
        try:
            for page in context.pages:
                page.evaluate(APPLY_HOOK)
            sessions = []
            for page in context.pages:
                session = context.new_cdp_session(page)
                session.send("Performance.enable")
                sessions.append(session)
            time.sleep(2.0)  # let every tab settle after loading
            t0 = time.time()
            before = _snapshot(context, sessions)
            time.sleep(seconds)
            after = _snapshot(context, sessions)
            t1 = time.time()
            records = Browser.records(context)
            applies = [
                [(int(s), t / 1000.0) for s, t in p.evaluate("() => window.__apply || []")]
                for p in context.pages
            ]
            hidden = Browser.hidden_tabs(context)
        finally:
            context.close()
        published = server.publishes()
        d = delivery(records, published, t0, t1)
        task_ms: list[float] = []
        script_ms: list[float] = []
        received = applied = 0
        for b, a, shown in zip(before, after, records, strict=True):
            n = sum(1 for seq, t in shown if t0 <= t <= t1)
            dm = {k: a["metrics"][k] - b["metrics"].get(k, 0.0) for k in a["metrics"]}
            if n:
                task_ms.append(1000 * dm["TaskDuration"] / n)
                script_ms.append(1000 * dm["ScriptDuration"] / n)
            received += a["stats"]["events"] - b["stats"]["events"]
            applied += a["stats"]["applied"] - b["stats"]["applied"]
        summary = d.summary()
        return {
            "tabs": tabs,
            "rate_per_s": rate,
            "seconds": round(t1 - t0, 1),
            "p50_ms": summary["p50_ms"],
            "p99_ms": summary["p99_ms"],
            "max_ms": summary["max_ms"],
            "samples": summary["samples"],
            "never_shown_pct": summary["never_shown_pct"],
            **_split(records, applies, published, t0, t1),
            "main_thread_ms_per_update": _r(sum(task_ms) / len(task_ms) if task_ms else None, 3),
            "script_ms_per_update": _r(sum(script_ms) / len(script_ms) if script_ms else None, 3),
            "events_received": received,
            "set_props_calls": applied,
            "hidden_tabs": hidden,
        }
    finally:
        server.stop()


def checkout(ref: str, into: Path) -> str:
    """``src/`` of git ``ref`` unpacked under ``into``; returns the path to serve it from."""
    archive = subprocess.run(
        ["git", "archive", ref, "src"], cwd=ROOT, capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return str(into / "src")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ref", default="main", help="git ref of the 'before' variant")
    parser.add_argument("--tabs", default="1,10", help="comma-separated tab counts at 1/s")
    parser.add_argument("--seconds", type=float, default=15.0, help="measured window per run")
    parser.add_argument("--load-rate", type=float, default=50.0, help="updates/s of the load run")
    parser.add_argument("--quick", action="store_true", help="5 s windows")
    parser.add_argument("--out", type=Path, default=RESULTS / "client.json")
    args = parser.parse_args(argv)
    seconds = 5.0 if args.quick else args.seconds
    counts = [int(n) for n in args.tabs.split(",") if n]
    facts = machine_facts()
    started = time.time()
    browser = Browser()
    facts["chromium"] = browser.version
    results: dict[str, Any] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="livedash-client-") as tmp:
            work = Path(tmp)
            variants = {"before": checkout(args.ref, work), "after": None}
            for name, src in variants.items():
                runs = []
                for n in counts:
                    print(
                        f"[{time.time() - started:6.1f}s] {name}: {n} tab(s) at 1/s",
                        file=sys.stderr,
                    )
                    runs.append(run_one(browser, work, src, n, 1.0, seconds))
                print(f"[{time.time() - started:6.1f}s] {name}: load", file=sys.stderr)
                runs.append(run_one(browser, work, src, 1, args.load_rate, seconds))
                results[name] = runs
    finally:
        browser.close()
    out = {
        "scenario": "client_apply",
        "title": "Browser side of a text update: publish -> DOM latency and main-thread ms",
        "before_ref": args.ref,
        "machine": facts,
        "results": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    keys = [
        "tabs",
        "rate_per_s",
        "p50_ms",
        "p99_ms",
        "publish_to_apply_p50_ms",
        "publish_to_apply_p99_ms",
        "apply_to_dom_p50_ms",
        "apply_to_dom_p99_ms",
        "main_thread_ms_per_update",
        "script_ms_per_update",
        "events_received",
        "set_props_calls",
    ]
    for name, runs in results.items():
        print(name)
        for run in runs:
            print("  " + ", ".join(f"{k}={run[k]}" for k in keys))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
