"""examples/ws_relay.py: a Dash WebSocket callback relays a livedash stream with set_props,
every event once and in order (hub.follow's async iterator on the fastapi backend)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_examples import start

RELAYED = re.compile(r"^(\d+) events, seq (\d+) to (\d+)$")


@pytest.mark.browser
def test_a_websocket_callback_relays_every_event_once(context: Any, tmp_path: Path) -> None:
    with start("livedash run examples/ws_relay.py", tmp_path) as url:
        page = context.new_page()
        page.goto(url)
        page.wait_for_function(
            "() => { const m = /^(\\d+) events/.exec("
            "document.querySelector('#relayed')?.textContent || ''); return m && +m[1] >= 4; }",
            polling=200,
            timeout=60_000,
        )
        match = RELAYED.match(page.inner_text("#relayed"))
        assert match, page.inner_text("#relayed")
        count, first, last = (int(g) for g in match.groups())
        # Every seq from the first to the last was relayed, once: the count says so.
        assert count == last - first + 1 >= 4
        assert re.match(r"^Price: \d+\.\d\d$", page.inner_text("#price"))
