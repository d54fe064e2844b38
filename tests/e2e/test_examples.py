"""Every file in examples/ is started the way its docstring says and goes live in Chromium."""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from livedash.testing import free_port, serving

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
BIN = Path(sys.executable).parent
MQTT_BROKER = ("127.0.0.1", 1883)

Check = Callable[[Any, str], None]


def text_matches(selector: str, pattern: str, changes: bool = True) -> Check:
    """The element's text matches ``pattern`` and, with ``changes``, shows a second value."""

    def check(page: Any, url: str) -> None:
        page.wait_for_function(
            "([sel, re]) => new RegExp(re).test(document.querySelector(sel)?.textContent || '')",
            arg=[selector, pattern],
            timeout=30_000,
        )
        if changes:
            first = page.text_content(selector)
            page.wait_for_function(
                "([sel, re, first]) => { const t = document.querySelector(sel).textContent;"
                " return t !== first && new RegExp(re).test(t); }",
                arg=[selector, pattern, first],
                timeout=30_000,
            )

    return check


def graph_points(graph_id: str, traces: int, points: int = 3) -> Check:
    """The graph has ``traces`` traces, each with at least ``points`` points."""

    def check(page: Any, url: str) -> None:
        page.wait_for_function(
            "([id, traces, points]) => {"
            " const d = document.querySelector('#' + id + ' .js-plotly-plot')?.data || [];"
            " return d.length === traces && d.every(t => (t.y || []).length >= points); }",
            arg=[graph_id, traces, points],
            timeout=30_000,
        )

    return check


def rows_match(table_id: str, rows: int, pattern: str) -> Check:
    """The table shows ``rows`` rows whose cells, joined with ``|``, match ``pattern``."""

    def check(page: Any, url: str) -> None:
        page.wait_for_function(
            "([id, rows, re]) => {"
            " const trs = [...document.querySelectorAll('#' + id + '-body tr')];"
            " return trs.length === rows && trs.every(tr => new RegExp(re).test("
            "   [...tr.cells].map(td => td.textContent).join('|'))); }",
            arg=[table_id, rows, pattern],
            timeout=30_000,
        )

    return check


def items_match(selector: str, pattern: str) -> Check:
    """At least one element matches ``selector`` and all of them match ``pattern``."""

    def check(page: Any, url: str) -> None:
        page.wait_for_function(
            "([sel, re]) => { const els = [...document.querySelectorAll(sel)];"
            " return els.length > 0 && els.every(e => new RegExp(re).test(e.textContent)); }",
            arg=[selector, pattern],
            timeout=30_000,
        )

    return check


def canvas_drawn(widget_id: str, values: int) -> Check:
    """The custom widget ``widget_id`` holds at least ``values`` values and has drawn on its
    canvas (a pixel that is not transparent)."""

    def check(page: Any, url: str) -> None:
        page.wait_for_function(
            "([id, n]) => { const w = window.livedash?.widgets?.[id];"
            " if (!w || w.values.length < n) return false;"
            " const c = document.getElementById(id);"
            " const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
            " for (let i = 3; i < px.length; i += 4) if (px[i]) return true; return false; }",
            arg=[widget_id, values],
            timeout=30_000,
        )

    return check


def all_of(*checks: Check) -> Check:
    def check(page: Any, url: str) -> None:
        for c in checks:
            c(page, url)

    return check


SEED_TEXT = r"^Current Time: \d{4}-\d\d-\d\d \d\d:\d\d:\d\d, Random Number: \d+$"

#: example file -> what it shows once live. test_every_example_is_listed keeps this complete.
CHECKS: dict[str, Check] = {
    "readme_app.py": all_of(
        text_matches("#temp", r"^Temperature: \d+\.\d\d °C$"), graph_points("temp-graph", 1)
    ),
    "live_text.py": all_of(
        text_matches("#time", r"^It is \d\d:\d\d:\d\d$"),
        text_matches("#tick", r"^Tick [\d,]+ \(12\.5% of nothing\)$"),
    ),
    "multi_trace_graph.py": graph_points("signals-graph", 3),
    "producer_thread.py": all_of(
        text_matches("#reading", r"^[\d,]+\.\d rpm at \d+\.\d °C$"), graph_points("rpm-graph", 1)
    ),
    "live_table.py": all_of(
        rows_match("servers-table", 4, r"^(web|db|cache)-\d\|\d\.\d\d\|[\d,]+$"),
        text_matches("#servers-table-body tr:nth-child(4) td:nth-child(3)", r"^[\d,]+$"),
    ),
    "live_data.py": all_of(
        text_matches("#summary", r"^\d+ orders, \d+\.\d\d € in total$"),
        items_match("#large li", r"^#\d+: \d+\.\d\d €$"),
    ),
    "custom_widget/app.py": all_of(
        text_matches("#spark-value", r"^-?\d+\.\d\d$"), canvas_drawn("spark", 3)
    ),
    "porting/recipe.py": text_matches("#live-update-text", SEED_TEXT),
    "porting/live.py": text_matches("#live-update-text", SEED_TEXT),
}
#: examples that need a second actor, tested by their own test below
OWN_TESTS = {
    "ingest_app.py",
    "ingest_client.py",
    "mqtt_app.py",
    "scaled_app.py",
    "fastapi_app.py",
    # the custom widget's script: custom_widget/app.py above and tests/e2e/test_custom_widget.py
    "custom_widget/assets/sparkline.js",
    # tests/e2e/test_auth_examples.py
    "auth/basic_auth.py",
    "auth/login_app.py",
    # tests/e2e/test_ws_relay.py
    "ws_relay.py",
    # tests/e2e/test_components.py
    "ag_grid_watchlist.py",
    "graph_extend.py",
    "notifications.py",
    # a test file of its own (docs/howto/testing.md): run under pytest below
    "test_live_app.py",
}


def example_files() -> list[str]:
    """Every example file: the apps, and the scripts of their assets folders."""
    files = [*EXAMPLES.rglob("*.py"), *EXAMPLES.rglob("*.js")]
    return sorted(str(p.relative_to(EXAMPLES)) for p in files)


def run_command(name: str) -> str:
    """The command the example's docstring gives (``Run: python examples/x.py``)."""
    text = (EXAMPLES / name).read_text()
    doc = ast.get_docstring(ast.parse(text)) or ""
    match = re.search(r"^Run: (python examples/\S+\.py)", doc, re.M)
    if match:
        return match.group(1)
    # The porting pair and the README app are shown whole in the docs, without a docstring;
    # the docs run them with these commands.
    return {
        "readme_app.py": "python examples/readme_app.py",
        "porting/recipe.py": "livedash run examples/porting/recipe.py",
        "porting/live.py": "livedash run examples/porting/live.py",
    }[name]


def start(command: str, tmp_path: Path, env: dict[str, str] | None = None) -> Any:
    """Serve an example from a copy of examples/ in ``tmp_path`` (its databases land there),
    with the test's Python and livedash standing in for `python` / `livedash`."""
    work = tmp_path / "work"
    if not work.exists():
        shutil.copytree(EXAMPLES, work / "examples", ignore=shutil.ignore_patterns("__pycache__"))
    port = free_port()
    argv = command.split()
    argv[0] = str(BIN / argv[0]) if argv[0] != "python" else sys.executable
    return serving(argv, port, cwd=work, env={"PORT": str(port), **(env or {})})


def test_every_example_is_listed() -> None:
    assert set(example_files()) == set(CHECKS) | OWN_TESTS


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_example_goes_live(name: str, context: Any, tmp_path: Path) -> None:
    with start(run_command(name), tmp_path) as url:
        page = context.new_page()
        page.goto(url)
        CHECKS[name](page, url)


def test_ingest_client_feeds_the_ingest_app_with_a_token(context: Any, tmp_path: Path) -> None:
    token = uuid.uuid4().hex
    with start(run_command("ingest_app.py"), tmp_path, {"LIVEDASH_TOKEN": token}) as url:
        page = context.new_page()
        page.goto(url)
        client = [sys.executable, "examples/ingest_client.py", "--url", url, "--interval", "0"]
        env = {k: v for k, v in os.environ.items() if k != "LIVEDASH_TOKEN"}
        refused = subprocess.run(
            [*client, "--count", "1"], cwd=tmp_path / "work", env=env,
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert refused.returncode == 1
        assert "publish refused (401)" in refused.stderr and "bearer token" in refused.stderr
        sent = subprocess.run(
            [*client, "--count", "5"], cwd=tmp_path / "work", env={**env, "LIVEDASH_TOKEN": token},
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert sent.returncode == 0, sent.stderr
        assert re.findall(r"^published orders #(\d+)", sent.stdout, re.M) == list("12345")
        text_matches("#last-order", r"^Last order: \d x \w+ \([\d,]+\.\d\d €\)$", changes=False)(
            page, url
        )
        graph_points("orders-graph", 1, points=5)(page, url)


def test_mqtt_readings_reach_the_page(context: Any, tmp_path: Path) -> None:
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    room = f"test{uuid.uuid4().hex[:8]}"
    topic = f"sensors/{room}/temperature"
    publisher = mqtt.Client(CallbackAPIVersion.VERSION2)
    publisher.connect(*MQTT_BROKER)
    publisher.loop_start()
    try:
        with start(run_command("mqtt_app.py"), tmp_path) as url:
            page = context.new_page()
            page.goto(url)
            # Retained, so the app gets it whenever its subscription lands; no race to win.
            publisher.publish(topic, b"21.5", qos=1, retain=True).wait_for_publish(10)
            text_matches("#latest", f"^{topic}: 21\\.5 °C$", changes=False)(page, url)
            for value in (b"22.0", b"22.5", b"23.0"):
                publisher.publish(topic, value, qos=1).wait_for_publish(10)
            text_matches("#latest", f"^{topic}: 23\\.0 °C$", changes=False)(page, url)
            graph_points("temperature-graph", 1, points=4)(page, url)
    finally:
        publisher.publish(topic, b"", qos=1, retain=True).wait_for_publish(10)  # clear it
        publisher.loop_stop()
        publisher.disconnect()


def test_scaled_app_runs_one_producer_across_three_workers_on_redis(
    context: Any, tmp_path: Path
) -> None:
    doc = ast.get_docstring(ast.parse((EXAMPLES / "scaled_app.py").read_text())) or ""
    command = re.search(r"^\s+(livedash serve .+)$", doc, re.M)
    assert command is not None
    redis_port = free_port()
    redis = subprocess.Popen(
        ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        argv = command.group(1).replace("127.0.0.1:6379", f"127.0.0.1:{redis_port}")
        port = free_port()
        work = tmp_path / "work"
        shutil.copytree(EXAMPLES, work / "examples", ignore=shutil.ignore_patterns("__pycache__"))
        full = [str(BIN / "livedash"), *argv.split()[1:], "--port", str(port)]
        with serving(full, port, cwd=work / "examples") as url:
            for _ in range(3):  # pages served by whichever workers the kernel picks
                page = context.new_page()
                page.goto(url)
                text_matches("#heartbeat", r"^\d\d:\d\d:\d\d: published by worker \d+$")(page, url)
                page.close()
            poll = json.load(
                urllib.request.urlopen(f"{url}/livedash/poll?stream=heartbeat&last=heartbeat:5")
            )
            pids = {event[3]["pid"] for event in poll["events"]}
            assert len(poll["events"]) >= 2 and len(pids) == 1, poll
    finally:
        redis.terminate()
        redis.wait(timeout=30)


def test_the_test_kit_example_passes_under_pytest(tmp_path: Path) -> None:
    """examples/test_live_app.py run as its docstring says, from a folder of its own (no
    conftest, no settings of ours): its fixtures come from livedash's pytest plugin, found
    through the package's ``pytest11`` entry point."""
    (tmp_path / "examples").mkdir()
    shutil.copy(EXAMPLES / "test_live_app.py", tmp_path / "examples")
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "examples/test_live_app.py", "-p", "no:cacheprovider"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stdout[-5000:] + done.stderr[-2000:]
    assert re.search(r"^=+ 3 passed", done.stdout, re.M), done.stdout[-2000:]
