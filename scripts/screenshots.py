"""Take the README's screenshots of every gallery page: docs/{seed,monitor,ticker,chat}.png.

Run from the repository root: ``.venv/bin/python scripts/screenshots.py [--warmup 45]``.
Serves the gallery on a free port (memory store), lets the graphs fill, and shoots each page
in Debian's headless Chromium with the same flags as the test suite.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import threading
import time
from pathlib import Path

from playwright.sync_api import sync_playwright
from werkzeug.serving import make_server

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from livedash import Hub  # noqa: E402
from livedash.apps import chat, gallery  # noqa: E402
from livedash.testing import CHROMIUM_FLAGS, free_port  # noqa: E402

CONVERSATION = [
    ("Ada", "Morning! Is the ticker feed back up?"),
    ("Grace", "Yes, 60 ticks/s again. The candles look right now."),
    ("Ada", "Great. Try pasting <script>alert('hi')</script> here: it shows as text."),
    ("Linus", "<img src=x onerror=alert(1)> nothing runs either."),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warmup", type=float, default=45.0, help="seconds to let graphs fill")
    parser.add_argument("--out", type=Path, default=ROOT / "docs")
    args = parser.parse_args()
    hub = Hub("memory://")
    app = gallery.create_push_app(hub)
    for user, text in CONVERSATION:
        hub.publish(chat.room_stream("general"), {"user": user, "text": text})
    port = free_port()
    server = make_server("127.0.0.1", port, app.server, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{port}"
    time.sleep(args.warmup)  # a screenshot tool, not a test: let 45 s of history build up
    args.out.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        for name, path in [("seed", "/"), ("monitor", "/monitor"), ("ticker", "/ticker")]:
            page.goto(url + path)
            page.wait_for_function("() => window.livedash && window.livedash.state === 'live'")
            time.sleep(4)  # history drawn, a few live updates and flashes on top
            page.screenshot(path=str(args.out / f"{name}.png"), full_page=True)
            print(f"wrote {args.out / f'{name}.png'}")
        page.goto(url + "/chat")
        page.fill("#chat-name", "Ada")
        page.click("#chat-join")
        page.wait_for_selector("#chat-log-general .livedash-msg")
        page.fill("#chat-input", "x" * 2001)
        page.press("#chat-input", "Enter")
        page.wait_for_selector(".chat-status.refused")
        page.fill("#chat-input", "Long messages are refused with the reason shown ↑")
        time.sleep(0.5)
        page.screenshot(path=str(args.out / "chat.png"))
        print(f"wrote {args.out / 'chat.png'}")
        browser.close()
    server.shutdown()
    hub.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
