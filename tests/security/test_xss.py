"""Stream values are shown as text: script and HTML payloads appear literally and run nothing."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from dash import Dash, html

from livedash import Hub, LiveChatLog, LiveGraph, LiveIndicator, LiveTable, LiveText
from livedash.testing import LiveServer
from livedash.transport import TransportConfig

pytestmark = pytest.mark.browser

PAYLOADS = [
    '<script>window.__pwned = "script"</script>',
    "<img src=x onerror=\"window.__pwned = 'img'\">",
    "<svg onload=\"window.__pwned = 'svg'\"></svg>",
    '"><iframe srcdoc="<script>parent.__pwned = \'iframe\'</script>"></iframe>',
    "<a href=\"javascript:window.__pwned = 'href'\">link</a>",
    "{msg} {user} ${window.__pwned = 'template'}",
    "</div><style>body { display: none }</style>",
]
#: Widgets whose content must be text only (graphs draw SVG of their own).
TEXT_WIDGETS = ["#text", "#kpi", "#table", "#chat"]


def _app(hub: Hub) -> Dash:
    app = Dash(__name__)
    app.layout = html.Div(
        [
            LiveText("xss", "{msg}", id="text"),
            LiveIndicator("xss", "msg", label="Newest", id="kpi"),
            LiveTable(
                "xss", [{"field": "user"}, {"field": "msg"}], mode="append", max_rows=50, id="table"
            ),
            LiveChatLog("xss", user="user", text="msg", id="chat"),
            LiveGraph("xss", x="msg", y="n", window=50, id="graph"),
        ]
    )
    hub.init_app(app, TransportConfig(readable=["xss"]))
    return app


def _event(i: int) -> dict[str, Any]:
    return {"user": PAYLOADS[-1 - i % len(PAYLOADS)], "msg": PAYLOADS[i % len(PAYLOADS)], "n": i}


def test_script_payloads_in_stream_values_render_as_text_and_run_nothing(
    context: Any,
    hub_factory: Callable[..., Hub],
    live_server: Callable[[Any], LiveServer],
    tmp_path: Path,
) -> None:
    hub = hub_factory()
    server = live_server(_app(hub))
    # Some payloads arrive as history when the page loads, the rest live.
    for i in range(3):
        hub.publish("xss", _event(i))
    page = context.new_page()
    errors: list[str] = []
    dialogs: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    def on_dialog(dialog: Any) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    page.goto(server.url)
    page.wait_for_function(
        "want => document.querySelector('#text')?.textContent === want",
        arg=PAYLOADS[2],
        timeout=20_000,
    )
    count = 2 * len(PAYLOADS)
    for i in range(3, count):
        hub.publish("xss", _event(i))
    last = _event(count - 1)
    page.wait_for_function(
        """([want, n]) => document.querySelector('#text')?.textContent === want
            && document.querySelectorAll('#chat .livedash-msg').length >= n""",
        arg=[last["msg"], count],
        timeout=20_000,
    )
    # Plotly draws the payloads as category labels: its own markup subset, no script URLs.
    page.wait_for_function(
        """n => document.querySelector('#graph .js-plotly-plot')?.data?.[0]?.y?.length === n""",
        arg=count,
        timeout=20_000,
    )
    links = page.eval_on_selector_all(
        "#graph a", "els => els.map(a => a.getAttribute('href') || a.getAttribute('xlink:href'))"
    )
    assert not [h for h in links if h and "javascript" in h.lower()], links
    # Every payload is on the page as the literal text it was sent as.
    for selector in ("#table", "#chat"):
        shown = page.inner_text(selector)
        for payload in PAYLOADS:
            assert payload in shown, (selector, payload)
    assert page.text_content("#text") == last["msg"]
    assert page.text_content("#kpi [id$='-value']") == last["msg"]
    # ...and none of it became markup.
    for selector in TEXT_WIDGETS:
        tags = page.eval_on_selector(
            selector, "el => [...el.querySelectorAll('*')].map(e => e.tagName.toLowerCase())"
        )
        assert not {"script", "img", "svg", "iframe", "a", "style"} & set(tags), (selector, tags)
    embedded = "() => document.querySelectorAll('img, iframe, object, embed').length"
    assert page.evaluate(embedded) == 0
    # A broken image of our own fires its onerror; once it has, any injected one would have too.
    page.evaluate(
        """() => { const img = document.createElement('img');
                   img.onerror = () => { window.__control = true; };
                   img.src = '/livedash/static/no-such-file.png';
                   document.body.appendChild(img); }"""
    )
    page.wait_for_function("() => window.__control === true", timeout=20_000)
    assert page.evaluate("() => typeof window.__pwned") == "undefined"
    assert dialogs == [] and errors == [], (dialogs, errors)
    page.screenshot(path=str(tmp_path / "xss.png"), full_page=True)
