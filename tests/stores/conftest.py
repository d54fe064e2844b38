"""Store tests run against real backends, Redis included (our own redis-server, and our own
3-master Redis Cluster)."""

from tests.redis_cluster import redis_cluster, redis_cluster_url
from tests.redis_server import redis_server, redis_url

__all__ = ["redis_cluster", "redis_cluster_url", "redis_server", "redis_url"]
