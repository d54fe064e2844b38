"""Chromium on pages served by uvicorn: the fastapi example and the quart test app go live
through livedash's event stream, with no Dash callback request per update."""

from __future__ import annotations

import os
from typing import Any

import pytest

from tests.scale.conftest import ROOT, ServeFactory

pytestmark = [pytest.mark.browser, pytest.mark.redis]

#: The example the README shows, run the way its docstring says (from examples/).
EXAMPLE = "fastapi_app:create_app"
#: Updates to watch before counting callback requests.
TICKS = 3


def _callbacks(page: Any) -> list[str]:
    """URLs of Dash callback requests the page makes from now on."""
    seen: list[str] = []

    def record(request: Any) -> None:
        if "_dash-update-component" in request.url:
            seen.append(request.url)

    page.on("request", record)
    return seen


def _changes(page: Any, selector: str, times: int, pattern: str) -> list[str]:
    """The element's text, waited through ``times`` changes, each matching ``pattern``."""
    texts = [page.text_content(selector) or ""]
    for _ in range(times):
        page.wait_for_function(
            "([sel, before, re]) => { const t = document.querySelector(sel)?.textContent || '';"
            " return t !== before && new RegExp(re).test(t); }",
            arg=[selector, texts[-1], pattern],
            timeout=30_000,
        )
        texts.append(page.text_content(selector) or "")
    return texts


def test_fastapi_example_goes_live_on_two_uvicorn_workers(
    serve: ServeFactory, redis_url: str, context: Any
) -> None:
    env = {"PYTHONPATH": os.pathsep.join([str(ROOT / "examples"), str(ROOT)])}
    server = serve(EXAMPLE, redis_url, workers=2, env=env)
    assert "(fastapi backend) with 2 uvicorn worker(s)" in server.output()
    page = context.new_page()
    callbacks = _callbacks(page)
    page.goto(server.url)
    page.wait_for_function("() => window.livedash && window.livedash.state === 'live'")
    pattern = r"^\d\d:\d\d:\d\d: \d\.\d{3} from worker \d+$"
    page.wait_for_function(
        "re => new RegExp(re).test(document.querySelector('#reading')?.textContent || '')",
        arg=pattern,
        timeout=30_000,
    )
    before = len(callbacks)
    texts = _changes(page, "#reading", TICKS, pattern)
    assert len(set(texts)) == TICKS + 1
    assert len(callbacks) == before == 0, callbacks  # pushed by livedash, not polled by Dash
    points = page.evaluate(
        "() => document.querySelector('#reading-graph .js-plotly-plot')?.data?.[0]?.y?.length"
    )
    assert points >= TICKS


def test_quart_app_shows_what_the_ingest_takes(
    serve: ServeFactory, redis_url: str, context: Any
) -> None:
    server = serve(
        "tests.scale.asgi_apps:create_app",
        redis_url,
        env={"LIVEDASH_TEST_BACKEND": "quart"},
    )
    assert "(quart backend) with 1 uvicorn worker(s)" in server.output()
    page = context.new_page()
    callbacks = _callbacks(page)
    page.goto(server.url)
    page.wait_for_function("() => window.livedash && window.livedash.state === 'live'")
    for v in range(5):
        server.publish("feed", {"v": f"q{v}"})
        page.wait_for_function(
            "t => document.querySelector('#feed-text').textContent === t",
            arg=f"feed {v + 1}: q{v}",
            timeout=30_000,
        )
    assert callbacks == []
