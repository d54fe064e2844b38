"""Parsing ``redis+cluster://`` store URLs (no I/O)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs, unquote

from livedash.errors import ConfigError

SCHEME = "redis+cluster"
URL_FORM = (
    "redis+cluster://[user:password@]host:port,host:port[,...]"
    "[?retry_for=SECONDS&replica_timeout=SECONDS]"
)
#: Default seconds an operation retries during a failover; enough for a cluster with
#: ``cluster-node-timeout`` up to ~5 s. Raise it (``?retry_for=30``) for the default 15 s.
RETRY_FOR = 10.0
#: Default seconds an append waits for a replica to confirm it (``WAIT 1``).
REPLICA_TIMEOUT = 1.0


@dataclass(frozen=True, slots=True)
class ClusterAddress:
    """Where a Redis Cluster is and how to talk to it."""

    nodes: tuple[tuple[str, int], ...]
    username: str | None = None
    password: str | None = None
    retry_for: float = RETRY_FOR
    replica_timeout: float = REPLICA_TIMEOUT

    def url(self) -> str:
        """The URL again, without credentials (for messages)."""
        return f"{SCHEME}://" + ",".join(f"{h}:{p}" for h, p in self.nodes)


def _bad(url: str, why: str) -> ConfigError:
    return ConfigError(f"bad Redis Cluster URL {url!r}: {why}; expected {URL_FORM}")


def _node(url: str, part: str) -> tuple[str, int]:
    if part.startswith("["):  # [::1]:7000
        host, _, rest = part[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
    else:
        host, _, port_text = part.rpartition(":")
        if not host:
            raise _bad(url, f"node {part!r} has no port (host:port)")
    if not host:
        raise _bad(url, f"node {part!r} has no host")
    try:
        port = int(port_text)
    except ValueError:
        raise _bad(url, f"node {part!r} has a bad port {port_text!r}") from None
    if not 0 < port < 65536:
        raise _bad(url, f"node {part!r} has port {port}, outside 1-65535")
    return host, port


def _seconds(url: str, query: dict[str, list[str]], name: str, default: float) -> float:
    if name not in query:
        return default
    try:
        value = float(query[name][-1])
    except ValueError:
        value = -1.0
    if not value > 0:
        raise _bad(url, f"{name} must be a number of seconds > 0, got {query[name][-1]!r}")
    return value


def parse_cluster_url(url: str) -> ClusterAddress:
    """The nodes, credentials and settings of a ``redis+cluster://`` URL; ConfigError (with
    the expected form) for anything else."""
    prefix = f"{SCHEME}://"
    if not url.startswith(prefix):
        raise _bad(url, f"it does not start with {prefix}")
    rest, _, query_text = url[len(prefix) :].partition("?")
    rest = rest.rstrip("/")
    userinfo, at, hosts = rest.rpartition("@")
    username = password = None
    if at:
        user, colon, secret = userinfo.partition(":")
        username, password = (unquote(user) or None), (unquote(secret) if colon else None)
        if not colon:  # redis+cluster://password@... as redis:// accepts it
            username, password = None, unquote(user)
    parts = [p for p in hosts.split(",") if p]
    if not parts:
        raise _bad(url, "it names no node")
    query = parse_qs(query_text, keep_blank_values=True)
    unknown = set(query) - {"retry_for", "replica_timeout"}
    if unknown:
        raise _bad(url, f"unknown option(s) {', '.join(sorted(unknown))}")
    return ClusterAddress(
        nodes=tuple(_node(url, p) for p in parts),
        username=username,
        password=password,
        retry_for=_seconds(url, query, "retry_for", RETRY_FOR),
        replica_timeout=_seconds(url, query, "replica_timeout", REPLICA_TIMEOUT),
    )
