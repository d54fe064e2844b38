"""The Authentication how-to's examples: the page and its streams are private alike.

Each example is served as its docstring says (``livedash run``) and as ``python`` (Dash's
``app.run``); a stranger's requests for the streams are refused as the page is, and a
signed-in browser sees the live value."""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_examples import start

TOTAL = re.compile(r"^Total today: [\d,]+ EUR$")
STREAM_ROUTES = [
    "/livedash/events?stream=payroll&cursor=payroll:0&wire=2",
    "/livedash/poll?stream=payroll&last=payroll:5",
    "/livedash/range?stream=payroll&span=3600&points=0&y=total",
    "/metrics",
]


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def _anonymous_status(url: str) -> int:
    try:
        with urllib.request.build_opener(_NoRedirect()).open(url, timeout=20) as r:
            return int(r.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def _wait_total(page: Any) -> None:
    page.wait_for_function(
        "() => /^Total today: [\\d,]+ EUR$/.test(document.querySelector('#total')?.textContent)",
        polling=200,
        timeout=30_000,
    )
    assert TOTAL.match(page.inner_text("#total"))


@pytest.mark.browser
@pytest.mark.parametrize("runner", ["livedash run", "python"])
def test_basic_auth_example(runner: str, browser: Any, tmp_path: Path) -> None:
    with start(f"{runner} examples/auth/basic_auth.py", tmp_path) as url:
        for path in ["/", *STREAM_ROUTES]:
            assert _anonymous_status(url + path) == 401, path
        context = browser.new_context(
            http_credentials={"username": "alice", "password": "change-me"}
        )
        try:
            page = context.new_page()
            page.goto(url)
            _wait_total(page)
        finally:
            context.close()


@pytest.mark.browser
@pytest.mark.parametrize("runner", ["livedash run", "python"])
def test_flask_login_example(runner: str, context: Any, tmp_path: Path) -> None:
    with start(f"{runner} examples/auth/login_app.py", tmp_path) as url:
        for path in ["/", *STREAM_ROUTES]:
            assert _anonymous_status(url + path) == 302, path
        page = context.new_page()
        page.goto(url)
        assert page.url.endswith("/login")
        page.fill("input[name=password]", "change-me")
        page.click("button[type=submit]")
        _wait_total(page)
        # Signed in, the browser's own requests for the stream are served ...
        poll = url + STREAM_ROUTES[1]
        assert context.request.get(poll, max_redirects=0).status == 200
        # ... and once signed out, refused like the page.
        page.goto(url + "/logout")
        assert context.request.get(poll, max_redirects=0).status == 302
