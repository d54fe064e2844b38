"""Shared fixtures, over livedash.testing's plugin (livedash_server, livedash_hub,
livedash_browser): the names the suite has always used, real servers in threads, Debian's
headless Chromium."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from livedash import Hub
from livedash.testing import LiveServer, UvicornServer, chromium_path

# tests/features/test_range.py imports LiveServer from here.
__all__ = ["LiveServer"]


@pytest.fixture
def live_server(
    livedash_server: Callable[..., LiveServer | UvicornServer],
) -> Callable[[Any], LiveServer]:
    """Factory: ``live_server(app)`` serves ``app``'s Flask server on Werkzeug, in threads,
    until the test ends."""

    def start(app: Any) -> LiveServer:
        server = livedash_server(app, asgi=False)
        assert isinstance(server, LiveServer)
        return server

    return start


@pytest.fixture
def uvicorn_server(
    livedash_server: Callable[..., LiveServer | UvicornServer],
) -> Callable[[Any], UvicornServer]:
    """Factory: ``uvicorn_server(dash_app)`` serves the app on uvicorn until the test ends."""

    def start(app: Any) -> UvicornServer:
        server = livedash_server(app, asgi=True)
        assert isinstance(server, UvicornServer)
        return server

    return start


@pytest.fixture
def hub_factory(livedash_hub: Callable[..., Hub]) -> Callable[..., Hub]:
    """Factory for hubs that are closed when the test ends."""
    return livedash_hub


@pytest.fixture(scope="session")
def browser(request: pytest.FixtureRequest) -> Any:
    """Debian's headless Chromium driven by Playwright (never a downloaded browser)."""
    if chromium_path() is None:
        pytest.fail("chromium is not installed: run `make test`, which installs it")
    return request.getfixturevalue("livedash_browser")


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    """A fresh browser context (its own cookies, workers and connections) per test."""
    ctx = browser.new_context()
    yield ctx
    ctx.close()
