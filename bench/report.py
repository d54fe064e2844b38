"""The tables on stdout and in latest.md (the goals before/after first; quoted in
docs/performance.md) and the latency chart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.harness import BEFORE_REV, CONTENDERS, LABELS


def _f(x: Any, fmt: str = "{:.0f}") -> str:
    return "-" if x is None else fmt.format(x)


def _row(cells: list[str], widths: list[int]) -> str:
    return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return [
        _row(header, widths),
        "|" + "|".join("-" * (w + 2) for w in widths) + "|",
        *(_row(r, widths) for r in rows),
        "",
    ]


def _get(node: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def _held(r: dict[str, Any] | None) -> str:
    """``held`` of a serving ladder, with the first failing step's reason."""
    if not r:
        return "-"
    out = f"{r['held']:,}"
    for n, row in r["steps"].items():
        if not row.get("ok"):
            if "error" in row:
                return f"{out} ({n}: error)"
            return (
                f"{out} ({int(n):,}: p99 {_f(row.get('p99_ms'))} ms, "
                f"{row.get('connected', 0):,} connected, "
                f"{_f(row.get('never_shown_pct'), '{:.1f}')}% lost)"
            )
    return out


def _rate(r: dict[str, Any] | None) -> float | None:
    """Single publishes/s that every one of the 10 subscribers also received."""
    if not r or "published_per_s" not in r:
        return None
    return float(min(r["published_per_s"], r.get("complete_per_s") or 0))


def goals(scenarios: list[dict[str, Any]]) -> list[str]:
    """The serving goals: each figure against its target, before and after, in one table."""
    by = {s["scenario"]: s for s in scenarios}
    rows: list[list[str]] = []

    def add(goal: str, target: str, before: Any, after: Any, met: bool | None, fmt: str) -> None:
        rows.append(
            [
                goal,
                target,
                _f(before, fmt),
                _f(after, fmt),
                "-" if met is None else "yes" if met else "NO",
            ]
        )

    def ok(value: Any, test: Any) -> bool | None:
        return None if value is None else bool(test(value))

    cpu = _get(by.get("cpu"), "results", "browser_tabs")
    if cpu:

        def c(kind: str, n: str) -> float | None:
            v = _get(cpu, kind, n, "cpu_s_per_tab_min")
            return None if v is None else float(v)

        poll1 = c("poll", "1")
        limit = None if poll1 is None else poll1 / 10
        after1 = c("livedash", "1")
        add(
            "server CPU-s per tab-minute, 1 tab",
            f"<= 1/10 of polling ({_f(limit, '{:.4f}')})",
            c("before", "1"),
            after1,
            ok(after1, lambda v: limit is not None and v <= limit),
            "{:.4f}",
        )
        after10 = c("livedash", "10")
        add(
            "server CPU-s per tab-minute, 10 tabs",
            "<= 0.005",
            c("before", "10"),
            after10,
            ok(after10, lambda v: v <= 0.005),
            "{:.4f}",
        )
        for n in ("1", "10", "50"):
            ws, after = c("dashws", n), c("livedash", n)
            if after is None:
                continue
            add(
                f"server CPU-s per tab-minute, {n} tab{'s' if n != '1' else ''}",
                f"< Dash WebSocket ({_f(ws, '{:.4f}')})",
                c("before", n),
                after,
                ok(after, lambda v, ws=ws: ws is not None and v < ws),
                "{:.4f}",
            )
    held = _get(by.get("clients_held"), "results")
    if held:
        before, after = held.get("before"), held.get("uvicorn")
        rows.append(
            [
                "clients held on one worker (p99 <= 250 ms, none lost)",
                ">= 5,000",
                _held(before),
                _held(after),
                "-" if not after else "yes" if after["held"] >= 5000 else "NO",
            ]
        )

        def top(r: dict[str, Any] | None, key: str) -> Any:
            if not r or not r["steps"]:
                return None
            row = list(r["steps"].values())[-1]
            return row.get(key)

        last = list(after["steps"])[-1] if after and after["steps"] else "?"
        kib = top(after, "kib_per_stream")
        add(
            f"RSS per stream at {int(last):,} streams" if last != "?" else "RSS per stream",
            "<= 30 KB",
            top(before, "kib_per_stream"),
            kib,
            ok(kib, lambda v: v <= 30),
            "{:.1f} KiB",
        )
    tp = _get(by.get("throughput"), "results")
    if tp:
        for store, target in (("redis", 20_000), ("memory", 100_000)):
            b = _rate(_get(tp, "before", store, "batch_1"))
            a = _rate(_get(tp, "livedash", store, "batch_1"))
            add(
                f"{store}: single publishes/s, 10 subscribers on the loop",
                f">= {target:,}/s",
                b,
                a,
                ok(a, lambda v, t=target: v >= t),
                "{:,.0f}/s",
            )
    lat = _get(by.get("latency"), "results", "browser_tabs")
    if lat:
        for n, key, target in (("10", "p50_ms", 10), ("10", "p99_ms", 30), ("50", "p99_ms", 100)):
            a = _get(lat, "livedash", n, key)
            if a is None and _get(lat, "livedash", n) is None:
                continue
            add(
                f"latency publish -> DOM, {n} tabs, {key[:3]}",
                f"<= {target} ms",
                _get(lat, "before", n, key),
                a,
                ok(a, lambda v, t=target: v <= t),
                "{:.0f} ms",
            )
    wire = _get(by.get("bytes"), "results", "text")
    if wire:
        a = _get(wire, "livedash", "bytes_per_update")
        add(
            "bytes per text update on the wire (gzip)",
            "<= 17 B",
            _get(wire, "before", "bytes_per_update"),
            a,
            ok(a, lambda v: v <= 17),
            "{:.1f} B",
        )
    if not rows:
        return []
    return [
        f"**Serving goals: livedash before ({BEFORE_REV}) and after, one run**",
        "",
        *_table(["goal", "target", "before", "after", "met (after)"], rows),
    ]


def markdown(scenarios: list[dict[str, Any]], facts: dict[str, Any]) -> str:
    """Everything ``bench.run`` prints and writes to ``latest.md``: the machine, the goals
    table, then each scenario's table."""
    head = [
        f"# make bench ({facts.get('mode')}), livedash {facts.get('livedash_commit')}",
        "",
        f"{facts.get('cores')} cores, {facts.get('memory_gb')} GB; load average "
        f"{facts.get('load_avg_start')} at the start, {facts.get('load_avg_end')} at the end "
        "(other sessions share the machine); "
        f"Dash {facts.get('dash')}, Chromium {facts.get('chromium')}, uvicorn "
        f"{facts.get('uvicorn')}; {_f(facts.get('duration_s'))} s. Contenders: "
        + ", ".join(LABELS[k] for k in facts.get("contenders", CONTENDERS))
        + f'. "before" is livedash {facts.get("before_rev", BEFORE_REV)} in the same run '
        "with the same harness; every scenario interleaves the contenders (latency windows "
        "and held-stream steps take turns), so load changes fall on all of them.",
        "",
    ]
    return "\n".join([*head, *goals(scenarios), table(scenarios)])


def table(scenarios: list[dict[str, Any]]) -> str:
    """Markdown tables, one per scenario, contenders side by side."""
    by = {s["scenario"]: s for s in scenarios}
    heads = [LABELS[k] for k in CONTENDERS]
    out: list[str] = []
    if "latency" in by:
        s = by["latency"]
        for where, unit in (("browser_tabs", "tabs"), ("headless_clients", "headless clients")):
            res = s["results"][where]
            rows = []
            for n in res["livedash"]:
                cells = [n]
                for k in CONTENDERS:
                    v = res[k].get(n, {})
                    cells.append(
                        f"{_f(v.get('p50_ms'))} / {_f(v.get('p99_ms'))} ms, "
                        f"{_f(v.get('never_shown_pct'), '{:.1f}')}% unseen"
                    )
                rows.append(cells)
            what = "DOM" if where == "browser_tabs" else "received"
            out += [f"**Latency publish -> {what}, p50 / p99, 1 update/s ({unit})**", ""]
            out += _table([unit, *heads], rows)
    if "cpu" in by:
        s = by["cpu"]
        rows = []
        tabs = s["results"]["browser_tabs"]
        for n in tabs["livedash"]:
            rows.append(
                [n]
                + [_f(_get(tabs, k, n, "cpu_s_per_tab_min"), "{:.4f}") for k in CONTENDERS]
                + [_f(_get(s, "ratios", n, "poll/livedash"), "{:.0f}x")]
                + [_f(_get(s, "ratios", n, "dashws/livedash"), "{:.1f}x")]
                + [_f(_get(s, "ratios", n, "before/livedash"), "{:.1f}x")]
            )
        out += ["**Server CPU seconds per tab per minute, 1 update/s (Chromium tabs)**", ""]
        out += _table(["tabs", *heads, "recipe / after", "Dash WS / after", "before / after"], rows)
        rows = []
        hl = s["results"]["headless_clients"]
        for n in hl["livedash"]:
            rows.append(
                [n] + [_f(_get(hl, k, n, "cpu_s_per_client_min"), "{:.4f}") for k in CONTENDERS]
            )
        out += ["**... per headless connection (no tab sharing)**", ""]
        out += _table(["clients", *heads], rows)
    if "bytes" in by:
        s = by["bytes"]
        rows = []
        for mode, label in (("text", "text update"), ("graph", "graph point (1,000-pt window)")):
            rows.append(
                [label]
                + [
                    _f(_get(s, "results", mode, k, "bytes_per_update"), "{:,.1f} B")
                    for k in CONTENDERS
                ]
            )
        out += ["**Bytes per update on the wire (TCP payload, both directions, one tab)**", ""]
        out += _table(["update", *heads], rows)
        rows = []
        for k in ("before", "livedash"):
            b = _get(s, "results", "text", k, "breakdown")
            if not b or "error" in b:
                continue
            rows.append(
                [
                    LABELS[k],
                    _f(b["down_bytes_per_message"], "{:.1f} B"),
                    _f(b["http_chunk_framing"], "{:.1f} B"),
                    _f(b["gzip_payload"], "{:.1f} B"),
                    _f(b["id_costs"], "{:.1f} B"),
                    _f(b["ts_costs"], "{:.1f} B"),
                    _f(b["envelope_costs"] - b["id_and_ts_cost"], "{:.1f} B"),
                    _f(b["bare_data_gzip"], "{:.1f} B"),
                ]
            )
        if rows:
            out += [
                "**What a text update's bytes are (server -> browser, gzip; bench.wire_cost)**",
                "",
            ]
            out += _table(
                [
                    "",
                    "per update",
                    "HTTP chunk framing",
                    "gzip payload",
                    "of which id",
                    "ts",
                    "stream, seq, brackets, fields",
                    "the data alone",
                ],
                rows,
            )
        rows = [
            [label]
            + [
                _f(_get(s, "results", mode, k, "server_cpu_s_per_tab_min"), "{:.4f}")
                for k in CONTENDERS
            ]
            for mode, label in (("text", "text page"), ("graph", "1,000-point graph"))
        ]
        out += ["**Server CPU seconds per minute, one tab (same runs)**", ""]
        out += _table(["page", *heads], rows)
    if "clients_held" in by:
        s = by["clients_held"]
        labels = {
            "uvicorn": "livedash after, uvicorn (default)",
            "gevent": "livedash after, --worker-class gevent (since removed)",
            "before": f"livedash before ({BEFORE_REV}), gevent",
            "dashws": LABELS["dashws"],
            "poll": LABELS["poll"],
        }
        rows = []
        for k, label in labels.items():
            r = s["results"].get(k)
            if not r:
                continue
            for n, row in r["steps"].items():
                if "error" in row:
                    rows.append([label, f"{int(n):,}", "error", "", "", "", "", row["error"][-60:]])
                    continue
                rows.append(
                    [
                        label,
                        f"{int(n):,}",
                        "yes" if row["ok"] else "no",
                        f"{row['connected']:,}",
                        f"{_f(row['p50_ms'])} / {_f(row['p99_ms'])} ms",
                        _f(row["never_shown_pct"], "{:.1f}%"),
                        _f(row.get("kib_per_stream"), "{:.1f} KiB"),
                        _f(row.get("server_cpu_pct"), "{:.0f}%"),
                    ]
                )
        out += [f"**{s['title']}**", ""]
        out += _table(
            ["server", "streams", "held", "connected", "p50 / p99", "lost", "RSS / stream", "CPU"],
            rows,
        )
    if "throughput" in by:
        s = by["throughput"]
        rows = []
        for kind in ("before", "livedash"):
            for store, r in s["results"].get(kind, {}).items():
                if "skipped" in r:
                    rows.append([LABELS[kind], store, "skipped", "", r["skipped"][:70]])
                    continue
                for batch, v in r.items():
                    if "error" in v:
                        rows.append([LABELS[kind], store, batch, "error", v["error"][-70:]])
                        continue
                    rows.append(
                        [
                            LABELS[kind],
                            store,
                            batch.replace("_4_threads", ", 4 threads").replace("_", " "),
                            f"{v['published_per_s']:,}/s",
                            f"{v['complete_per_s']:,}/s to each of 10, {v['overflows']} overflows",
                        ]
                    )
        out += [f"**{s['title']}**", ""]
        out += _table(["", "store", "publish", "published", "received"], rows)
    if "memory" in by:
        s = by["memory"]
        rows = []
        for k in CONTENDERS:
            r = s["results"].get(k)
            if r is None:
                continue
            rows.append(
                [
                    LABELS[k],
                    _f(r["rss_mb_after_warmup"], "{:.1f} MB"),
                    _f(r["rss_mb_end"], "{:.1f} MB"),
                    _f(r["growth_pct_after_warmup"], "{:+.1f}%"),
                    _f(r["server_cpu_pct"], "{:.0f}%"),
                ]
            )
        out += [f"**{s['title']}**", ""]
        out += _table(["contender", "RSS after warm-up", "RSS at end", "growth", "CPU"], rows)
    if "callbacks" in by:
        # The scenario formats its own table (rates x contenders), as when it runs alone.
        from bench.callbacks import markdown as callbacks_table

        out += ["", callbacks_table(by["callbacks"]), ""]
    return "\n".join(out)


def chart(samples: dict[str, dict[int, list[float]]], path: Path, title: str) -> None:
    """CDFs of publish -> DOM latency, one panel per tab count, contenders overlaid."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    counts = sorted({n for per in samples.values() for n in per})
    if not counts:
        return
    fig, axes = plt.subplots(1, len(counts), figsize=(5 * len(counts), 4), squeeze=False)
    colors = {"poll": "#d62728", "dashws": "#1f77b4", "before": "#9467bd", "livedash": "#2ca02c"}
    for ax, n in zip(axes[0], counts, strict=True):
        for kind in CONTENDERS:
            values = sorted(samples.get(kind, {}).get(n, []))
            if not values:
                continue
            ys = [(i + 1) / len(values) for i in range(len(values))]
            ax.step(
                [max(v, 0.1) for v in values],
                ys,
                where="post",
                color=colors[kind],
                label=f"{LABELS[kind]} (n={len(values)})",
            )
        ax.set_xscale("log")
        ax.set_xlabel("publish -> DOM latency (ms, log)")
        ax.set_title(f"{n} tab{'s' if n > 1 else ''}")
        ax.grid(True, which="both", alpha=0.3)
        ax.axvline(30, color="grey", linestyle=":", linewidth=1)
        ax.legend(loc="lower right", fontsize=8)
    axes[0][0].set_ylabel("fraction of updates shown")
    fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
