"""The table on stdout (also pasted into README's Performance section) and the latency chart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.harness import CONTENDERS, LABELS


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
        for n, v in s["results"]["browser_tabs"]["livedash"].items():
            rows.append(
                [n]
                + [
                    _f(
                        s["results"]["browser_tabs"][k].get(n, {}).get("cpu_s_per_tab_min"),
                        "{:.4f}",
                    )
                    for k in CONTENDERS
                ]
                + [_f(s["ratios"][n]["poll/livedash"], "{:.0f}x")]
                + [_f(s["ratios"][n]["dashws/livedash"], "{:.1f}x")]
            )
            del v
        out += ["**Server CPU seconds per tab per minute, 1 update/s (Chromium tabs)**", ""]
        out += _table(["tabs", *heads, "recipe / livedash", "Dash WS / livedash"], rows)
        rows = []
        for n in s["results"]["headless_clients"]["livedash"]:
            rows.append(
                [n]
                + [
                    _f(s["results"]["headless_clients"][k][n]["cpu_s_per_client_min"], "{:.4f}")
                    for k in CONTENDERS
                ]
            )
        out += ["**... per headless connection (no tab sharing)**", ""]
        out += _table(["clients", *heads], rows)
    if "bytes" in by:
        s = by["bytes"]
        rows = []
        for mode, label in (("text", "text update"), ("graph", "graph point (1,000-pt window)")):
            rows.append(
                [label]
                + [_f(s["results"][mode][k]["bytes_per_update"], "{:,.0f} B") for k in CONTENDERS]
            )
        out += ["**Bytes per update on the wire (TCP payload, both directions, one tab)**", ""]
        out += _table(["update", *heads], rows)
        rows = [
            [label]
            + [
                _f(s["results"][mode][k].get("server_cpu_s_per_tab_min"), "{:.4f}")
                for k in CONTENDERS
            ]
            for mode, label in (("text", "text page"), ("graph", "1,000-point graph"))
        ]
        out += ["**Server CPU seconds per minute, one tab (same runs)**", ""]
        out += _table(["page", *heads], rows)
    if "clients_held" in by:
        s = by["clients_held"]
        rows = []
        for k in CONTENDERS:
            r = s["results"][k]
            steps = r["steps"]
            best = steps.get(str(r["held"])) if r["held"] else None
            last_key = list(steps)[-1] if steps else None
            last = steps.get(last_key) if last_key else None
            why = ""
            if last and not last["ok"]:
                why = (
                    f"{last_key}: {last['connected']} connected, p99 {_f(last['p99_ms'])} ms, "
                    f"{_f(last['never_shown_pct'], '{:.1f}')}% lost"
                )
            rows.append(
                [
                    LABELS[k],
                    f"{r['held']:,}",
                    _f(best["kb_per_connection"] if best else None, "{:.1f} KB"),
                    _f(best["p99_ms"] if best else None, "{:.0f} ms"),
                    why or "-",
                ]
            )
        out += ["**Clients held at 1 update/s (p99 <= 250 ms, none lost)**", ""]
        out += _table(
            ["contender", "held", "memory / conn", "p99 at held", "first failing step"], rows
        )
    if "throughput" in by:
        s = by["throughput"]
        rows = []
        for store, r in s["results"]["livedash"].items():
            if "skipped" in r:
                rows.append([store, "skipped", "", r["skipped"][:70]])
                continue
            for batch, v in r.items():
                if "error" in v:
                    rows.append([store, batch, "error", v["error"][-70:]])
                    continue
                rows.append(
                    [
                        store,
                        batch.replace("_4_threads", ", 4 threads").replace("_", " "),
                        f"{v['published_per_s']:,}/s",
                        f"{v['fanned_out_per_s']:,}/s to 10 subs, {v['overflows']} overflows",
                    ]
                )
        out += ["**Throughput: livedash Hub, 10 subscribers (peers have no store)**", ""]
        out += _table(["store", "publish", "published", "fanned out"], rows)
    if "memory" in by:
        s = by["memory"]
        rows = []
        for k in CONTENDERS:
            r = s["results"][k]
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
    colors = {"poll": "#d62728", "dashws": "#1f77b4", "livedash": "#2ca02c"}
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
