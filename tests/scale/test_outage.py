"""Redis outages: pages still load and say the feed is degraded, publishing fails fast with a
clear error, and everything resumes when Redis is back - with its data (AOF) or without."""

from __future__ import annotations

import json
import urllib.error
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.redis_server import RedisServer
from tests.scale.conftest import TEST_APP, ServeFactory
from tests.sse_client import SSEClient

pytestmark = pytest.mark.redis

BADGE = "() => document.querySelector('#livedash-badge')?.textContent"
Y = "() => document.querySelector('#feed-graph .js-plotly-plot')?.data?.[0]?.y || []"


@pytest.fixture
def aof_redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis-aof", appendonly=True).start()
    yield server
    server.kill()


@pytest.fixture
def volatile_redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis-volatile", appendonly=False).start()
    yield server
    server.kill()


def _badge_is(page: Any, text: str) -> None:
    page.wait_for_function(f"() => ({BADGE})() === {json.dumps(text)}", timeout=30_000)


@pytest.mark.browser
def test_pages_survive_a_redis_outage_and_resume_when_it_is_back(
    serve: ServeFactory, aof_redis: RedisServer, context: Any
) -> None:
    server = serve(TEST_APP, aof_redis.url())
    page = context.new_page()
    page.goto(server.url)
    _badge_is(page, "live")
    assert server.publish("feed", {"v": "a"}, {"v": "b"}) == [1, 2]
    page.wait_for_function(f"() => ({Y})().length === 2", timeout=30_000)

    aof_redis.kill()
    _badge_is(page, "live feed degraded")
    # Publishing fails at once with a clear error (the client timeout only guards a hang).
    with pytest.raises(urllib.error.HTTPError) as info:
        server.publish("feed", {"v": "lost?"}, timeout=20)
    assert info.value.code == 503
    error = json.load(info.value)["error"]
    assert "unreachable" in error and "retry" in error
    # A page opened now still loads, and says what is going on.
    late = context.new_page()
    response = late.goto(server.url)
    assert response is not None and response.status == 200
    late.wait_for_selector("#feed-graph .js-plotly-plot")
    _badge_is(late, "live feed degraded")

    aof_redis.start()  # same directory: the AOF brings seqs 1 and 2 back
    for p in (page, late):
        _badge_is(p, "live")
    assert server.publish("feed", {"v": "c"}) == [3]  # numbering continues, nothing rewound
    for p in (page, late):
        p.wait_for_function(
            "() => document.querySelector('#feed-text').textContent === 'feed 3: c'",
            timeout=30_000,
        )
        p.wait_for_function(f"() => JSON.stringify(({Y})()) === '[1,2,3]'", timeout=30_000)


def test_redis_restarted_without_its_data_makes_clients_start_the_stream_over(
    serve: ServeFactory, volatile_redis: RedisServer
) -> None:
    server = serve(TEST_APP, volatile_redis.url())
    client = SSEClient(server.port, "/livedash/events?stream=feed")
    try:
        messages = iter(client)
        assert next(messages).id == "feed:0"
        assert server.publish("feed", *({"v": v} for v in range(5))) == [1, 2, 3, 4, 5]
        seen: list[int] = []
        while len(seen) < 5:
            msg = next(messages)
            if msg.event == "message":
                seen += [e[1] for e in msg.json()]
        volatile_redis.kill()
        volatile_redis.start()  # empty: numbering starts at 1 again, below the client's cursor
        assert server.publish("feed", {"v": "new"}) == [1]
        kinds: list[tuple[str, Any]] = []
        for msg in messages:
            kinds.append((msg.event, msg.json()))
            if msg.event == "message" and any(e[3] == {"v": "new"} for e in msg.json()):
                break
        resets = [payload for event, payload in kinds if event == "reset"]
        assert resets == [{"stream": "feed", "seq": 1}]
        delivered = [e[1] for event, payload in kinds if event == "message" for e in payload]
        assert delivered == [1]
        assert msg.id == "feed:1"  # a reconnect resumes from the new numbering
    finally:
        client.close()


@pytest.mark.browser
def test_a_tab_follows_a_stream_that_redis_restarted_without_its_data(
    serve: ServeFactory, volatile_redis: RedisServer, context: Any
) -> None:
    server = serve(TEST_APP, volatile_redis.url())
    page = context.new_page()
    page.goto(server.url)
    _badge_is(page, "live")
    server.publish("feed", *({"v": v} for v in range(5)))
    page.wait_for_function(f"() => JSON.stringify(({Y})()) === '[1,2,3,4,5]'", timeout=30_000)
    volatile_redis.kill()
    volatile_redis.start()
    assert server.publish("feed", {"v": "new"}, {"v": "newer"}) == [1, 2]
    # Not silence: the tab drops the lost numbering and shows the stream as it is now.
    page.wait_for_function(
        "() => document.querySelector('#feed-text').textContent === 'feed 2: newer'",
        timeout=30_000,
    )
    page.wait_for_function(f"() => JSON.stringify(({Y})()) === '[1,2]'", timeout=30_000)
    assert server.publish("feed", {"v": "next"}) == [3]
    page.wait_for_function(f"() => JSON.stringify(({Y})()) === '[1,2,3]'", timeout=30_000)
    _badge_is(page, "live")
