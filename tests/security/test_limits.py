"""Deployment-wide bounds (issue 21): the number of streams, and range parameters that must be
refused before any work."""

from __future__ import annotations

import http.client
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from livedash import Hub, PublishError
from livedash.errors import ConfigError
from livedash.hub import MAX_STREAMS, MAX_STREAMS_ENV
from livedash.testing import LiveServer
from tests.redis_server import redis_server, redis_url
from tests.security.strategies import TOKEN
from tests.security.target import make_app

# The fixtures of our own redis-server, for the Redis case.
__all__ = ["redis_server", "redis_url"]


def _store_url(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if kind == "redis":
        return str(request.getfixturevalue("redis_url"))
    return f"sqlite:///{tmp_path / 'shared.db'}"


@pytest.mark.parametrize("kind", ["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def test_the_stream_limit_holds_across_hubs_sharing_a_store(
    hub_factory: Callable[..., Hub], tmp_path: Path, request: pytest.FixtureRequest, kind: str
) -> None:
    url = _store_url(kind, tmp_path, request)
    # Two hubs on one store: two workers of `livedash serve`, or two hosts on one Redis.
    a, b = hub_factory(url, max_streams=3), hub_factory(url, max_streams=3)
    a.publish("s1", {"v": 1})
    a.publish("s2", {"v": 1})
    b.publish("s3", {"v": 1})
    for hub, name in ((a, "s4"), (b, "s5")):
        with pytest.raises(PublishError, match="limit of 3 streams") as refused:
            hub.publish(name, {"v": 1})
        assert refused.value.reason == "too_many_streams"
        assert hub.store.head(name) == 0
    # A batch with one new stream past the limit stores none of its events.
    with pytest.raises(PublishError):
        b.publish_many([("s1", {"v": 2}), ("s6", {"v": 2})])
    assert a.store.head("s1") == 1 and a.store.stream_count() == 3
    # The streams that exist keep working, from every hub (b never published to s1 before).
    assert [e.seq for e in b.publish_many([("s1", {"v": 3}), ("s3", {"v": 3})])] == [2, 2]
    assert a.publish("s2", {"v": 4}).seq == 2
    assert a.stats.snapshot().rejected["too_many_streams"] == 1
    assert b.stats.snapshot().rejected["too_many_streams"] == 2


def test_a_stream_past_the_limit_over_http_is_a_4xx_with_json(
    hub_factory: Callable[..., Hub], live_server: Callable[[Any], LiveServer]
) -> None:
    hub = hub_factory(max_streams=2)
    server = live_server(make_app(hub))

    def post(stream: str) -> tuple[int, Any]:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        try:
            body = json.dumps({"stream": stream, "data": {"v": 1}}).encode()
            headers = {"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"}
            conn.request("POST", "/livedash/publish", body=body, headers=headers)
            resp = conn.getresponse()
            return resp.status, json.loads(resp.read())
        finally:
            conn.close()

    assert post("one")[0] == 200 and post("two")[0] == 200
    status, body = post("three")
    assert 400 <= status < 500
    assert body["reason"] == "too_many_streams" and "raise the limit" in body["error"]
    assert post("one") == (200, {"published": [{"stream": "one", "seq": 2}]})


def test_the_limit_comes_from_the_environment_and_zero_lifts_it(
    hub_factory: Callable[..., Hub], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert hub_factory().max_streams == MAX_STREAMS
    monkeypatch.setenv(MAX_STREAMS_ENV, "5")
    assert hub_factory().max_streams == 5
    assert hub_factory(max_streams=7).max_streams == 7  # the argument wins
    monkeypatch.setenv(MAX_STREAMS_ENV, "0")
    unlimited = hub_factory()
    assert unlimited.max_streams is None
    unlimited.publish_many([(f"s{i}", {"v": i}) for i in range(50)])
    assert unlimited.store.stream_count() == 50
    monkeypatch.setenv(MAX_STREAMS_ENV, "lots")
    with pytest.raises(ConfigError, match=MAX_STREAMS_ENV):
        Hub()
    with pytest.raises(ConfigError, match=">= 0"):
        Hub(max_streams=-1)
