"""Fixtures over livedash.testing.redis's ``RedisServer``: one ``redis-server`` of our own for
the session, and a database emptied for each test.

Use them from a ``conftest.py`` (``from tests.redis_server import redis_server, redis_url``),
or ``RedisServer`` directly for tests that control its life.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from livedash.testing.redis import RedisServer


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One redis-server for the whole session (tests must not stop it; use
    :class:`RedisServer` for that)."""
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.kill()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> Iterator[str]:
    """The URL of a database emptied before the test."""
    with redis_server.client(1) as client:
        client.flushdb()
    yield redis_server.url(1)
