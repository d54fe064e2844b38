"""The client's public JS API in real Chromium: the example's custom widget kind (registered
from an assets folder) starts from history, takes every event once and draws once per
flush; registerKind refuses what is not a widget and picks up elements rendered before
their kind; livedash.d.ts names exactly what window.livedash has."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from dash import Dash, html

from livedash import ConfigError, Hub, widget_attrs
from livedash.testing import LiveServer
from livedash.testing.browser import set_hidden

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_ASSETS = ROOT / "examples" / "custom_widget" / "assets"
TYPES = ROOT / "src" / "livedash" / "assets" / "livedash.d.ts"
SPARK = "window.livedash.widgets.spark"


def _spark_app(hub: Hub, points: int) -> Dash:
    """The example's widget kind on a page of our own (its script from its assets folder)."""
    app = Dash(__name__, assets_folder=str(EXAMPLE_ASSETS))
    attrs = widget_attrs("sparkline", "s", field="v", points=points, label="value")
    app.layout = html.Div(
        [html.Canvas(id="spark", width=200, height=40, **attrs), html.Span(id="value")]
    )
    hub.init_app(app)
    return app


def _shows(page: Any, values: list[float]) -> None:
    page.wait_for_function(
        f"([vs, text]) => JSON.stringify({SPARK}?.values) === JSON.stringify(vs)"
        " && document.getElementById('value').textContent === text",
        arg=[values, f"{values[-1]:.2f}"],
        timeout=30_000,
    )


def test_the_example_widget_starts_from_history_and_takes_every_event(
    context: Any, hub_factory: Callable[..., Hub], live_server: Callable[[Any], LiveServer]
) -> None:
    hub = hub_factory()
    for v in range(1, 9):
        hub.publish("s", {"v": v})
    server = live_server(_spark_app(hub, points=5))
    page = context.new_page()
    page.goto(server.url)
    _shows(page, [4, 5, 6, 7, 8])  # the newest `points` events of the history
    # Count the widget's draws from here on.
    page.evaluate(
        f"window.__draws = 0; const w = {SPARK}; const draw = w.draw.bind(w);"
        " w.draw = () => { window.__draws++; draw(); };"
    )
    for v in (9, 10):
        hub.publish("s", {"v": v})
    _shows(page, [6, 7, 8, 9, 10])

    set_hidden(page, True)
    draws = page.evaluate("window.__draws")
    for v in range(11, 21):
        hub.publish("s", {"v": v})
    page.wait_for_function(f"() => {SPARK}.lastSeq === 20", timeout=30_000)
    assert page.evaluate("window.__draws") == draws, "a hidden tab drew"
    assert page.text_content("#value") == "10.00"
    set_hidden(page, False)
    _shows(page, [16, 17, 18, 19, 20])
    assert page.evaluate("window.__draws") == draws + 1  # the backlog in one draw
    assert page.evaluate("window.livedash.stats.gaps") == 0


def test_register_kind_refuses_what_is_not_a_widget(
    context: Any, hub_factory: Callable[..., Hub], live_server: Callable[[Any], LiveServer]
) -> None:
    hub = hub_factory()
    app = Dash(__name__)
    app.layout = html.Div("nothing live")
    hub.init_app(app)
    page = context.new_page()
    page.goto(live_server(app).url)
    page.wait_for_function("() => window.livedash?.registerKind")
    errors = page.evaluate(
        """() => {
          const L = window.livedash;
          const attempt = (name, ctor) => {
            try { L.registerKind(name, ctor); return null; }
            catch (err) { return err.constructor.name + ': ' + err.message; }
          };
          class NoFlush extends L.Widget { history() { return 0; } take() {} clear() {} }
          class Fine extends L.Widget { history() { return 0; } take() {} clear() {} flush() {} }
          return [
            attempt('plain', function () {}),
            attempt('noflush', NoFlush),
            attempt('', Fine),
            attempt('fine', Fine),
          ];
        }"""
    )
    plain, noflush, unnamed, fine = errors
    assert plain.startswith("TypeError: ") and "extends livedash.Widget" in plain
    assert noflush.endswith("missing: flush")
    assert unnamed.startswith("TypeError: ") and "non-empty string" in unnamed
    assert fine is None


def test_a_kind_registered_after_its_element_was_rendered_picks_it_up(
    context: Any, hub_factory: Callable[..., Hub], live_server: Callable[[Any], LiveServer]
) -> None:
    hub = hub_factory()
    hub.publish("late", {"v": "first"})
    app = Dash(__name__)
    app.layout = html.Div([html.Div(id="box", **widget_attrs("echo", "late"))])
    hub.init_app(app)
    page = context.new_page()
    console: list[str] = []
    page.on("console", lambda msg: console.append(msg.text))
    page.goto(live_server(app).url)
    page.wait_for_selector("#box", state="attached")
    page.wait_for_function("() => window.livedash.stats.messages > 0")
    assert "box" not in page.evaluate("Object.keys(window.livedash.widgets)")
    # The element keeps its text: React renders none for it, so a widget may write it.
    page.evaluate(
        """() => {
          class Echo extends window.livedash.Widget {
            history() { return 1; }
            take(e) { this.text = e[3].v; }
            clear() { this.text = ''; }
            flush() { this.el.textContent = this.text; }
          }
          window.livedash.registerKind('echo', Echo);
        }"""
    )
    page.wait_for_function("() => document.getElementById('box').textContent === 'first'")
    hub.publish("late", {"v": "second"})
    page.wait_for_function("() => document.getElementById('box').textContent === 'second'")
    unknown = [m for m in console if 'unknown widget kind "echo"' in m]
    assert len(unknown) == 1 and 'registerKind("echo", Constructor)' in unknown[0]


def _declared_members() -> set[str]:
    """Member names of the Livedash interface in livedash.d.ts."""
    text = TYPES.read_text()
    body = text[text.index("export interface Livedash {") :]
    body = body[: body.index("\n}\n")]
    return set(re.findall(r"^  (?:readonly )?(\w+)\??[(:<]", body, re.M))


def test_the_typed_reference_names_exactly_what_the_client_has(
    context: Any, hub_factory: Callable[..., Hub], live_server: Callable[[Any], LiveServer]
) -> None:
    hub = hub_factory()
    app = Dash(__name__)
    app.layout = html.Div("nothing live")
    hub.init_app(app)
    page = context.new_page()
    page.goto(live_server(app).url)
    page.wait_for_function("() => window.livedash?.registerKind")
    runtime = set(page.evaluate("Object.getOwnPropertyNames(window.livedash)"))
    declared = _declared_members()
    assert "registerKind" in declared and "Widget" in declared
    assert runtime == declared, (
        f"in the client, not in livedash.d.ts: {sorted(runtime - declared)}; "
        f"in livedash.d.ts, not in the client: {sorted(declared - runtime)}"
    )
    # The benchmark hook's old name still reaches the internal one (widget scripts use it).
    assert page.evaluate(
        "(() => { const f = () => 0; window.livedash.onApply = f;"
        " return window.livedash._onApply === f; })()"
    )
    stats = set(page.evaluate("Object.keys(window.livedash.stats)"))
    text = TYPES.read_text()
    block = text[text.index("export interface LivedashStats {") :]
    block = block[: block.index("\n}\n")]
    assert stats == set(re.findall(r"^  readonly (\w+):", block, re.M))


def test_widget_attrs_validates_its_arguments() -> None:
    assert widget_attrs("gauge", "s", max=10) == {
        "data-livedash": '{"kind": "gauge", "stream": "s", "max": 10}'
    }
    with pytest.raises(ConfigError, match="kind must be"):
        widget_attrs("", "s")
    with pytest.raises(ConfigError, match="drop them from options"):
        widget_attrs("gauge", "s", stream="t")
    with pytest.raises(ConfigError, match="must be JSON values"):
        widget_attrs("gauge", "s", when=object())
