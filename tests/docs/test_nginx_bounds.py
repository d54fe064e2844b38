"""The "Bounds at the proxy" configuration of the nginx guide, run by a real nginx in front of
a real livedash server: it is valid, passes requests on, and refuses a flood with 429."""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from dash import Dash, html

from livedash import Hub
from livedash.testing import LiveServer
from tests.docs.test_nginx import ROOT, SNIPPET, nginx

__all__ = ["nginx"]  # the fixture, from the guide's own test

#: Where the bounds' server block says the guide's locations go.
PLACEHOLDER = "# ... the locations of the configuration above ..."
#: Range requests sent back to back: far more than the zone's burst of 10 at 2 a second.
FLOOD = 100


def _bounds_block() -> str:
    text = (ROOT / "docs" / "howto" / "nginx.md").read_text()
    section = text.split("## Bounds at the proxy", 1)[1].split("\n## ", 1)[0]
    match = re.search(r"```nginx\n(.*?)```", section, re.S)
    assert match, "the Bounds section shows no nginx block"
    return match.group(1)


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            r.read()
            return int(r.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_the_bounds_pass_requests_and_refuse_a_flood(
    hub_factory: Callable[..., Hub],
    live_server: Callable[[Any], LiveServer],
    nginx: Callable[[int, str], int],
) -> None:
    hub = hub_factory()
    hub.publish("s", {"v": 1})
    app = Dash(__name__)
    app.layout = html.Div("bounded")
    hub.init_app(app)
    upstream = live_server(app)
    # The guide's upstream block, then the bounds (the http-level zones and the server), with
    # the guide's locations where the bounds' server says they go.
    guide = SNIPPET.read_text()
    upstream_block = guide.split("server {", 1)[0]
    locations = guide[guide.index("    location / {") : guide.rindex("}")]
    bounds = _bounds_block()
    assert PLACEHOLDER in bounds
    port = nginx(upstream.port, upstream_block + bounds.replace(PLACEHOLDER, locations.strip()))
    base = f"http://127.0.0.1:{port}"
    assert _status(f"{base}/") == 200
    range_url = f"{base}/livedash/range?stream=s&span=60&y=v"
    statuses = [_status(range_url) for _ in range(FLOOD)]
    assert statuses[0] == 200
    assert 429 in statuses and set(statuses) <= {200, 429}
    assert _status(f"{base}/livedash/range?" + "stream=s&" * 3000) == 414
