"""Tabs whose visibility is real: Debian's Chromium driven over raw CDP.

Playwright keeps every page it attaches to visible (``document.hidden`` stays false even behind
another tab), so a test of what a hidden tab does cannot use it. Here Chromium is started with a
DevTools port and spoken to directly: a tab opened in front of another makes that one hidden
for real, and activating it again shows it.
"""

from __future__ import annotations

import itertools
import json
import shutil
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from websockets.sync.client import ClientConnection, connect

from livedash.testing import CHROMIUM_FLAGS, ServedProcess, free_port


class CDP:
    """One DevTools connection to the browser; calls may name a tab's session."""

    def __init__(self, ws: ClientConnection) -> None:
        self._ws = ws
        self._ids = itertools.count(1)

    def call(self, method: str, params: dict[str, Any] | None = None, session: str = "") -> Any:
        """Send one command and return its result (events received meanwhile are dropped)."""
        mid = next(self._ids)
        msg: dict[str, Any] = {"id": mid, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        self._ws.send(json.dumps(msg))
        while True:
            reply = json.loads(self._ws.recv(timeout=60))
            if reply.get("id") == mid:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})


class Tab:
    """A browser tab (a CDP target with its own session)."""

    def __init__(self, cdp: CDP, url: str) -> None:
        self.cdp = cdp
        self.target = cdp.call("Target.createTarget", {"url": url})["targetId"]
        attached = cdp.call("Target.attachToTarget", {"targetId": self.target, "flatten": True})
        self.session = attached["sessionId"]

    def eval(self, expression: str) -> Any:
        """The value of a JavaScript expression in the tab (promises are awaited)."""
        result = self.cdp.call(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
            self.session,
        )
        if "exceptionDetails" in result:
            raise AssertionError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 45) -> Any:
        """Poll ``expression`` in the tab until it is truthy (fails the test after ``timeout``)."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.eval(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"not true after {timeout} s: {expression} ({value!r})")
            time.sleep(0.1)

    def metrics(self) -> dict[str, float]:
        """The renderer's ``Performance.getMetrics`` for the tab (enable it first)."""
        got = self.cdp.call("Performance.getMetrics", session=self.session)["metrics"]
        return {m["name"]: m["value"] for m in got}

    def activate(self) -> None:
        """Bring the tab to the front (the tab that was there becomes hidden)."""
        self.cdp.call("Target.activateTarget", {"targetId": self.target})


@contextmanager
def real_browser() -> Iterator[CDP]:
    """Debian's headless Chromium on a DevTools port, in a process group of its own (the
    test kit's :class:`ServedProcess`); the whole group killed and its profile removed after."""
    path = shutil.which("chromium")
    assert path is not None, "chromium is not installed: run `make test`, which installs it"
    profile = Path(tempfile.mkdtemp(prefix="livedash-chromium-"))
    port = free_port()
    browser = ServedProcess(
        [path, *CHROMIUM_FLAGS, f"--remote-debugging-port={port}", f"--user-data-dir={profile}"],
        f"http://127.0.0.1:{port}",
        profile.with_suffix(".log"),
        ready_path="/json/version",
        ready_status=200,
        deadline=60,
    )
    try:
        browser.start()
        with urllib.request.urlopen(f"{browser.url}/json/version", timeout=30) as reply:
            endpoint = json.load(reply)["webSocketDebuggerUrl"]
        with connect(endpoint, max_size=None, open_timeout=30) as ws:
            yield CDP(ws)
    finally:
        # The whole group: killing only the browser process left its renderers running on,
        # writing to the removed profile.
        browser.kill()
        shutil.rmtree(profile, ignore_errors=True)
        profile.with_suffix(".log").unlink(missing_ok=True)
