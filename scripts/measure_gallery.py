"""Measure the gallery: server CPU with every page open (one tab each), and the ticker's
end-to-end tick rate in the browser.

Run from the repository root: ``.venv/bin/python scripts/measure_gallery.py [--seconds 60]``.
Starts ``livedash run`` (SQLite store in a temporary folder) as its own process, opens Seed,
Monitor, Ticker and Chat in four tabs of one headless Chromium, waits until each is live, then
reads the server process's CPU time (psutil, user + system, threads included) over the window
and counts the ticks the ticker tab applied.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import psutil
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from livedash.testing import CHROMIUM_FLAGS, free_port  # noqa: E402

COUNT_TICKS = """() => {
  window.__ticks = 0;
  window.livedash.onApply = (w, e) => {
    if (w.id === 'ticker-tape') window.__ticks += e[3].ticks.length;
  };
}"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.Popen(
            [str(ROOT / ".venv/bin/livedash"), "run", "--port", str(port)],
            cwd=tmp,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    urllib.request.urlopen(url + "/livedash/health", timeout=2).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.2)
            server = psutil.Process(proc.pid)
            with sync_playwright() as p:
                browser = p.chromium.launch(
                    executable_path=shutil.which("chromium"), args=CHROMIUM_FLAGS
                )
                context = browser.new_context()
                pages = {}
                for path in ["/", "/monitor", "/ticker", "/chat"]:
                    page = context.new_page()
                    page.goto(url + path)
                    page.wait_for_function(
                        "() => window.livedash && window.livedash.state === 'live'"
                        " || location.pathname === '/chat'"
                    )
                    pages[path] = page
                chat = pages["/chat"]
                chat.fill("#chat-name", "Ada")
                chat.click("#chat-join")
                chat.wait_for_function("() => window.livedash.state === 'live'")
                ticker = pages["/ticker"]
                time.sleep(5)  # settle: history loaded and drawn everywhere
                ticker.evaluate(COUNT_TICKS)
                before = server.cpu_times()
                start = time.monotonic()
                time.sleep(args.seconds)
                after = server.cpu_times()
                elapsed = time.monotonic() - start
                ticks = ticker.evaluate("() => window.__ticks")
                stats = ticker.evaluate("() => window.livedash.stats")
                browser.close()
            cpu = (after.user - before.user) + (after.system - before.system)
            print(f"window: {elapsed:.1f} s, server pid {proc.pid}, {os.cpu_count()} cores")
            print(f"server CPU: {cpu:.2f} s = {100 * cpu / elapsed:.1f}% of one core")
            print(f"ticker tab: {ticks} ticks applied = {ticks / elapsed:.1f} ticks/s")
            print(f"ticker tab client stats: {stats}")
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
