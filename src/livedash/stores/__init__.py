"""Store backends and :func:`open_store`, which picks one from a URL."""

from __future__ import annotations

import os
from urllib.parse import urlparse

from livedash.errors import ConfigError
from livedash.stores.base import Record, Retention, Store
from livedash.stores.memory import MemoryStore
from livedash.stores.sqlite import SQLiteStore

__all__ = [
    "MemoryStore",
    "Record",
    "Retention",
    "SQLiteStore",
    "Store",
    "check_store_url",
    "open_store",
    "store_url",
]

STORE_URL_HELP = (
    "use memory://, sqlite:///relative/path.db, sqlite:////absolute/path.db, redis://host:port/db"
    " or redis+cluster://host:port,host:port"
)
REDIS_SCHEMES = ("redis", "rediss", "unix")


def check_store_url(url: str) -> None:
    """Refuse a store URL :func:`open_store` could not open, without opening it (no
    connection, no file created): an unknown scheme, an SQLite file whose folder does not
    exist, a malformed Redis URL. Raises :class:`~livedash.errors.ConfigError` saying what
    to fix. ``livedash serve`` checks this before it starts any worker."""
    scheme = urlparse(url).scheme
    if scheme == "memory":
        return
    if scheme == "sqlite":
        _sqlite_path(url)
        return
    if scheme in REDIS_SCHEMES:
        from redis.connection import parse_url

        try:
            parse_url(url)  # type: ignore[no-untyped-call]
        except ValueError as exc:
            raise ConfigError(f"bad Redis URL {url!r}: {exc}; {STORE_URL_HELP}") from None
        return
    if scheme == "redis+cluster":
        from livedash.stores.cluster_url import parse_cluster_url

        parse_cluster_url(url)
        return
    raise ConfigError(f"bad store URL {url!r}: unknown scheme {scheme!r}; {STORE_URL_HELP}")


def _sqlite_path(url: str) -> str:
    """The file an ``sqlite:///`` URL names, once its folder is known to exist."""
    # sqlite:///x.db -> "x.db" (relative); sqlite:////tmp/x.db -> "/tmp/x.db".
    path = url[len("sqlite:///") :] if url.startswith("sqlite:///") else ""
    if not path:
        raise ConfigError(f"bad store URL {url!r}: no file path; {STORE_URL_HELP}")
    # SQLite creates the file but not its folder; its own message ("unable to open database
    # file") does not say which part is missing.
    folder = os.path.dirname(path) or "."
    if not os.path.isdir(folder):
        raise ConfigError(
            f"cannot open SQLite store at {path!r}: the folder {folder!r} does not exist; "
            f"create it (mkdir -p {folder}) or give another path in the store URL"
        )
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ConfigError(
            f"cannot open SQLite store at {path!r}: this user cannot write to the folder "
            f"{folder!r}, where SQLite keeps the file and its -wal and -shm companions; "
            "give a path in a folder this user can write to"
        )
    return path


def open_store(url: str, default_retention: Retention | None = None) -> Store:
    """Open the store named by ``url`` (see ``STORE_URL_HELP`` for the forms)."""
    check_store_url(url)
    scheme = urlparse(url).scheme
    if scheme == "memory":
        return MemoryStore(default_retention)
    if scheme == "sqlite":
        return SQLiteStore(_sqlite_path(url), default_retention)
    if scheme in REDIS_SCHEMES:
        # Imported here: redis-py is only loaded by deployments that use it.
        from livedash.stores.redis import RedisStore

        return RedisStore(url, default_retention)
    from livedash.stores.redis_cluster import RedisClusterStore

    return RedisClusterStore(url, default_retention)


def store_url(store: Store) -> str:
    """The URL that names ``store``, for messages (a Redis password is left out)."""
    url = getattr(store, "url", None)
    if isinstance(url, str):
        parsed = urlparse(url)
        if parsed.password is not None:
            netloc = parsed.netloc.rpartition("@")[2]
            user = f"{parsed.username}:***@" if parsed.username else ":***@"
            url = parsed._replace(netloc=user + netloc).geturl()
        return url
    if isinstance(store, SQLiteStore):
        return f"sqlite:///{store.path}"
    if isinstance(store, MemoryStore):
        return "memory://"
    return type(store).__name__
