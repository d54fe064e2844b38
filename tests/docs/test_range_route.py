"""The range route's page shows real requests: each console block's `curl -s URL` is sent
to a served app and the body compared with what the page shows (``...`` standing for any
text). urllib sends it, as curl would: curl is not among the test machine's packages."""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

from dash import Dash, html

from livedash import Hub
from livedash.testing import LiveServer
from tests.docs.test_pages import ROOT, blocks, shown_matches

PAGE = "features.md"


def _range_blocks() -> list[tuple[str, list[str]]]:
    text = (ROOT / "docs" / PAGE).read_text()
    section = text.split("## The range route", 1)[1].split("\n## ", 1)[0]
    found = []
    for block in blocks(PAGE, section):
        if block.lang == "console":
            command, *shown = block.body.splitlines()
            found.append((command.removeprefix("$ "), shown))
    return found


def _url(command: str) -> str:
    match = re.fullmatch(r"curl -s '(http://127\.0\.0\.1:8050/livedash/range\?[^']+)'", command)
    assert match, f"not a `curl -s 'URL'` command: {command!r}"
    return match.group(1)


def _body(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:  # curl -s prints the body of a 4xx too
        return exc.code, exc.read().decode()


def test_the_page_shows_y_and_what_happens_without_it() -> None:
    shown = _range_blocks()
    urls = [_url(command) for command, _ in shown]
    assert any("&y=" in u and "points=0" not in u for u in urls), urls
    assert any("y=" not in u and "points=0" not in u for u in urls), urls
    missing_y = [out for (c, out) in shown if "y=" not in c and "points=0" not in c]
    assert "add y=FIELD" in missing_y[0][0]


def test_range_examples_answer_as_shown(
    hub_factory: Callable[..., Hub], live_server: Callable[[Any], LiveServer]
) -> None:
    hub = hub_factory()
    app = Dash(__name__)
    app.layout = html.Div()
    hub.init_app(app)
    for temperature in (20.5, 20.75, 21.0):
        hub.publish("sensor", {"temperature": temperature})
    server = live_server(app)
    examples = _range_blocks()
    assert len(examples) == 3
    statuses = []
    for command, shown in examples:
        status, body = _body(_url(command).replace("http://127.0.0.1:8050", server.url))
        statuses.append(status)
        output = body.splitlines()
        assert len(output) == len(shown), (command, output)
        for line, actual in zip(shown, output, strict=True):
            assert shown_matches(line, actual), (command, line, actual)
    assert statuses == [200, 400, 200]  # the page says the one without y= is a 400
