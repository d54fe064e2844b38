"""Redis outages: pages still load and say the feed is degraded, publishing fails fast with a
clear error, and everything resumes when Redis is back - with its data (AOF) or without."""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from livedash.testing import Message, ServeProcess, SSEClient, free_port, wait_until
from livedash.testing.redis import RedisServer
from tests.scale.conftest import TEST_APP, ServeFactory

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


OUTAGE_APP = "tests.scale.outage_app:create_app"
#: Failed ticks the outage test waits for (at 0.05 s a tick, about a second of outage).
REPEATS = 20
#: What each repeated failure is logged as (see tests/scale/outage_app.py).
FAILING = {
    # @hub.every is an Every source too: one producer system.
    "producer": "Every(0.05) source 'every.tick'",
    "source": "Every(0.05) source 'every.beat'",
    "reader": "store reader of open event streams",
}


def _health(server: ServeProcess) -> int:
    try:
        with urllib.request.urlopen(f"{server.url}/livedash/health", timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def _next(messages: Iterator[Message], event: str) -> Message:
    """The next message named ``event`` (others are skipped)."""
    for msg in messages:
        if msg.event == event:
            return msg
    raise AssertionError(f"the event stream ended before a {event!r} message")


def _lines(server: ServeProcess) -> list[str]:
    return server.output_path.read_text(errors="replace").splitlines()


def test_health_is_503_while_redis_is_down_and_the_log_says_so_once(
    serve: ServeFactory, volatile_redis: RedisServer, tmp_path: Path
) -> None:
    calls = tmp_path / "calls"
    server = serve(OUTAGE_APP, volatile_redis.url(), env={"LIVEDASH_TEST_CALLS": str(calls)})
    wait_until(lambda: _health(server) == 200, 30, "health 200")
    client = SSEClient(server.port, "/livedash/events?stream=tick")  # the fan-out reader
    try:
        messages = iter(client)
        _next(messages, "message")
        before = len(_lines(server))
        started = time.monotonic()
        volatile_redis.kill()
        assert _next(messages, "status").json() == {"store": "degraded"}
        wait_until(lambda: _health(server) == 503, 30, "health 503")
        ticks = calls.stat().st_size
        wait_until(lambda: calls.stat().st_size >= ticks + REPEATS, 30, f"{REPEATS} failed ticks")
        outage = _lines(server)[before:]
        print(f"{len(outage)} log lines in {time.monotonic() - started:.1f} s of outage:")
        print("\n".join(outage))
        assert not [line for line in outage if "Traceback" in line]
        for what in FAILING.values():
            failed = [line for line in outage if f"livedash: {what} failed: " in line]
            assert len(failed) == 1, outage
            assert "StoreUnavailable" in failed[0] and "unreachable" in failed[0]
        assert len(outage) <= len(FAILING) + 1, outage  # and next to nothing else

        volatile_redis.start()
        assert _next(messages, "status").json() == {"store": "ok"}
        wait_until(lambda: _health(server) == 200, 30, "health 200")

        def recovered(what: str) -> list[str]:
            return [line for line in _lines(server) if f"livedash: {what} recovered" in line]

        wait_until(lambda: all(recovered(what) for what in FAILING.values()), 30, "recovered lines")
        for what in FAILING.values():
            assert len(recovered(what)) == 1
        count = re.search(r"(\d+) failures", recovered(FAILING["source"])[0])
        assert count is not None and int(count.group(1)) >= REPEATS
        print("\n".join(_lines(server)[before + len(outage) :]))
    finally:
        client.close()


def test_health_is_503_when_the_store_was_never_reachable(serve: ServeFactory) -> None:
    server = serve(TEST_APP, f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
    body = urllib.request.Request(f"{server.url}/livedash/health")
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(body, timeout=10)
    assert info.value.code == 503
    assert json.load(info.value)["store"] == "degraded"
