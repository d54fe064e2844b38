"""The pytest plugin: fixtures for testing a live app, registered as ``livedash`` through the
``pytest11`` entry point (active wherever livedash is installed; ``-p no:livedash`` turns it
off).

Every fixture is a factory, and everything it made is stopped or closed when the test ends:

- ``livedash_hub(store="memory://", **kwargs)``: a :class:`~livedash.Hub`.
- ``livedash_server(app, asgi=None)``: the Dash app served on a free port in a thread
  (:func:`~livedash.testing.serve_app`); ``.url``, ``.port``.
- ``stream_client(url, streams, **kwargs)``: a :class:`~livedash.testing.StreamClient`,
  started and subscribed; ``url`` may be a served app.
- ``livedash_browser`` (session): headless Chromium through Playwright; ``livedash_page``: a
  page in a fresh browser context. Both skip the test when Playwright is not installed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from livedash import Hub
from livedash.testing.client import StreamClient
from livedash.testing.server import LiveServer, UvicornServer, serve_app


@pytest.fixture
def livedash_hub() -> Iterator[Callable[..., Hub]]:
    """Factory: ``livedash_hub(store="memory://", **kwargs)``, closed when the test ends."""
    hubs: list[Hub] = []

    def make(store: str = "memory://", **kwargs: Any) -> Hub:
        hub = Hub(store, **kwargs)
        hubs.append(hub)
        return hub

    yield make
    for hub in hubs:
        hub.close()


@pytest.fixture
def livedash_server() -> Iterator[Callable[..., LiveServer | UvicornServer]]:
    """Factory: ``livedash_server(app, asgi=None)`` serves a Dash app until the test ends
    (Werkzeug threads for a Flask app, uvicorn for an ASGI one or with ``asgi=True``)."""
    servers: list[LiveServer | UvicornServer] = []

    def start(app: Any, *, asgi: bool | None = None) -> LiveServer | UvicornServer:
        server = serve_app(app, asgi=asgi)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def stream_client() -> Iterator[Callable[..., StreamClient]]:
    """Factory: ``stream_client(url, streams, wire=1, ...)`` (see
    :class:`~livedash.testing.StreamClient`), returned once subscribed, closed when the test
    ends. ``url`` is a base URL or anything with a ``url`` (a served app)."""
    clients: list[StreamClient] = []

    def follow(url: Any, streams: str | list[str], **kwargs: Any) -> StreamClient:
        client = StreamClient(getattr(url, "url", url), streams, **kwargs)
        clients.append(client)
        return client.start(timeout=client.timeout)

    yield follow
    for client in clients:
        client.close()


@pytest.fixture(scope="session")
def livedash_browser() -> Iterator[Any]:
    """Headless Chromium (the system's ``chromium`` if on the PATH) for the session."""
    sync_api = pytest.importorskip("playwright.sync_api")
    from livedash.testing.browser import launch_chromium

    with sync_api.sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        yield browser
        browser.close()


@pytest.fixture
def livedash_page(livedash_browser: Any) -> Iterator[Any]:
    """A page in a fresh browser context (its own cookies, workers and connections)."""
    context = livedash_browser.new_context()
    yield context.new_page()
    context.close()
