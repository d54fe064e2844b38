"""Shared fixtures: free ports, real servers in threads, real headless Chromium."""

from __future__ import annotations

import shutil
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from werkzeug.serving import BaseWSGIServer, make_server

from livedash import Hub

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on ``host`` that nothing listens on right now."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class LiveServer:
    """A Dash app's Flask server on a free port, in a thread (threaded like the dev server)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._server: BaseWSGIServer = make_server(
            "127.0.0.1", self.port, app.server, threaded=True
        )
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


@pytest.fixture
def live_server() -> Iterator[Callable[[Any], LiveServer]]:
    """Factory: ``live_server(app)`` serves ``app`` until the test ends."""
    servers: list[LiveServer] = []

    def start(app: Any) -> LiveServer:
        server = LiveServer(app)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def hub_factory() -> Iterator[Callable[..., Hub]]:
    """Factory for hubs that are closed when the test ends."""
    hubs: list[Hub] = []

    def make(store: str = "memory://", **kwargs: Any) -> Hub:
        hub = Hub(store, **kwargs)
        hubs.append(hub)
        return hub

    yield make
    for hub in hubs:
        hub.close()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Debian's headless Chromium driven by Playwright (never a downloaded browser)."""
    from playwright.sync_api import sync_playwright

    path = shutil.which("chromium")
    if path is None:
        pytest.fail("chromium is not installed: run `make test`, which installs it")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=path, args=CHROMIUM_FLAGS)
        yield b
        b.close()


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    """A fresh browser context (its own cookies, workers and connections) per test."""
    ctx = browser.new_context()
    yield ctx
    ctx.close()
