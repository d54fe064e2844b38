"""Fixtures over livedash.testing.redis's ``RedisCluster``: a 3-master, 3-replica cluster for
the session, emptied for each test.

Use them from a ``conftest.py`` (``from tests.redis_cluster import redis_cluster,
redis_cluster_url``), or ``RedisCluster`` directly for a cluster a test kills nodes of.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from livedash.testing.redis import RedisCluster


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisCluster]:
    """One 3-master, 3-replica cluster for the session (tests must not kill its nodes; use
    :class:`RedisCluster` for that)."""
    cluster = RedisCluster(tmp_path_factory.mktemp("redis-cluster"))
    try:
        yield cluster.start()
    finally:
        cluster.stop()


@pytest.fixture
def redis_cluster_url(redis_cluster: RedisCluster) -> Iterator[str]:
    """The store URL of the session cluster, emptied before the test."""
    redis_cluster.flush()
    yield redis_cluster.url()
