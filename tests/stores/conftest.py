"""Store tests run against real backends, Redis included (our own redis-server)."""

from tests.redis_server import redis_server, redis_url

__all__ = ["redis_server", "redis_url"]
