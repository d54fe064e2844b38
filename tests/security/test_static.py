"""The client's static route serves the assets folder and nothing outside it."""

from __future__ import annotations

import http.client
from collections.abc import Callable
from typing import Any

import pytest

from livedash import Hub
from livedash.testing import LiveServer
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
        # Names the file system refuses with an exception rather than "no such file" (500s
        # before: ValueError for the NUL byte, OSError for a name or path too long).
        "/livedash/static/livedash.js%00.css",
        "/livedash/static/%00",
        "/livedash/static/" + "a" * 300,
        "/livedash/static/" + "a/" * 3000,
        # Overlong UTF-8 for "../" and invalid UTF-8.
        "/livedash/static/%c0%ae%c0%ae%c0%af__init__.py",
        "/livedash/static/%ff%fe",
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
    # Either nothing, or Dash's own page (it answers unknown paths with the app's index); never
    # a 500, whose page also starts with a doctype.
    page = resp.status == 200 and body.lstrip().lower().startswith(b"<!doctype html>")
    assert resp.status == 404 or page, (resp.status, body[:200])
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
