"""The client's static route serves the assets folder and nothing outside it."""

from __future__ import annotations

import http.client
from collections.abc import Callable
from typing import Any

import pytest

from livedash import Hub
from tests.conftest import LiveServer
from tests.security.target import make_app


@pytest.mark.parametrize(
    "path",
    [
        "/livedash/static/../__init__.py",
        "/livedash/static/..%2f__init__.py",
        "/livedash/static/%2e%2e/%2e%2e/pyproject.toml",
        "/livedash/static/....//....//etc/passwd",
        "/livedash/static//etc/passwd",
        "/livedash/static/%2fetc%2fpasswd",
        "/livedash/static/..\\__init__.py",
    ],
)
def test_paths_outside_the_assets_are_not_served(
    hub_factory: Callable[..., Hub], live_server: Callable[[Any], LiveServer], path: str
) -> None:
    server = live_server(make_app(hub_factory()))
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        # http.client sends the path as given, without normalising the dots away.
        conn.request("GET", path)
        resp = conn.getresponse()
        body = resp.read()
    finally:
        conn.close()
    # Either nothing, or Dash's own page (it answers unknown paths with the app's index).
    assert resp.status == 404 or body.lstrip().lower().startswith(b"<!doctype html>"), body[:200]
    for secret in (b"root:x:", b"[project]", b"push-based real-time dashboards"):
        assert secret not in body.lower()


def test_the_client_script_is_served(
    hub_factory: Callable[..., Hub], live_server: Callable[[Any], LiveServer]
) -> None:
    server = live_server(make_app(hub_factory()))
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        conn.request("GET", "/livedash/static/livedash.js")
        resp = conn.getresponse()
        assert resp.status == 200 and b"livedash" in resp.read()
    finally:
        conn.close()
