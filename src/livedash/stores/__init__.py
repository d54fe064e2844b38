"""Store backends and :func:`open_store`, which picks one from a URL."""

from __future__ import annotations

from urllib.parse import urlparse

from livedash.errors import ConfigError
from livedash.stores.base import Record, Retention, Store
from livedash.stores.memory import MemoryStore
from livedash.stores.sqlite import SQLiteStore

__all__ = ["MemoryStore", "Record", "Retention", "SQLiteStore", "Store", "open_store"]

STORE_URL_HELP = (
    "use memory://, sqlite:///relative/path.db, sqlite:////absolute/path.db, redis://host:port/db"
    " or redis+cluster://host:port,host:port"
)


def open_store(url: str, default_retention: Retention | None = None) -> Store:
    """Open the store named by ``url`` (see ``STORE_URL_HELP`` for the forms)."""
    parsed = urlparse(url)
    if parsed.scheme == "memory":
        return MemoryStore(default_retention)
    if parsed.scheme == "sqlite":
        # sqlite:///x.db -> "x.db" (relative); sqlite:////tmp/x.db -> "/tmp/x.db".
        path = url[len("sqlite:///") :] if url.startswith("sqlite:///") else ""
        if not path:
            raise ConfigError(f"bad store URL {url!r}: no file path; {STORE_URL_HELP}")
        return SQLiteStore(path, default_retention)
    if parsed.scheme in ("redis", "rediss", "unix"):
        # Imported here: redis-py is only loaded by deployments that use it.
        from livedash.stores.redis import RedisStore

        return RedisStore(url, default_retention)
    if parsed.scheme == "redis+cluster":
        from livedash.stores.redis_cluster import RedisClusterStore

        return RedisClusterStore(url, default_retention)
    raise ConfigError(f"bad store URL {url!r}: unknown scheme {parsed.scheme!r}; {STORE_URL_HELP}")
