"""A real Redis Cluster for tests: masters and replicas on free ports, in a temp dir.

Each node is a :class:`~tests.redis_server.RedisServer` started with ``--cluster-enabled yes``;
``redis-cli --cluster create`` joins them. Use the fixtures from a ``conftest.py``
(``from tests.redis_cluster import redis_cluster, redis_cluster_url``), or
:class:`RedisCluster` directly for a cluster a test kills nodes of. ``bind`` chooses the
address every node listens on (another loopback address, or one inside a network namespace
the caller set up).
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from redis.cluster import ClusterNode
from redis.cluster import RedisCluster as ClusterClient

from tests.conftest import free_port
from tests.redis_server import RedisServer

#: Longest wait for the cluster to form, or to finish a failover or a rejoin.
CLUSTER_DEADLINE = 60.0


class RedisCluster:
    """``masters`` masters with ``replicas`` replicas each, one ``redis-server`` per node.

    ``node_timeout_ms`` is how long a master may be silent before its replica takes over:
    small here, so that a failover test finishes in seconds."""

    def __init__(
        self,
        directory: Path,
        *,
        masters: int = 3,
        replicas: int = 1,
        bind: str = "127.0.0.1",
        node_timeout_ms: int = 1000,
    ) -> None:
        if shutil.which("redis-cli") is None:
            pytest.fail("redis-cli is not installed: run `make test`, which installs redis-tools")
        self.bind = bind
        self.masters = masters
        self.replicas = replicas
        self.nodes: list[RedisServer] = []
        for i in range(masters * (1 + replicas)):
            extra = [
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                "nodes.conf",
                "--cluster-node-timeout",
                str(node_timeout_ms),
                # The bus port is chosen too, so that port + 10000 need not be free.
                "--cluster-port",
                str(free_port(bind)),
            ]
            self.nodes.append(
                RedisServer(
                    directory / f"node{i}",
                    appendonly=True,
                    appendfsync="everysec",
                    bind=bind,
                    extra=extra,
                )
            )

    # -- addresses ---------------------------------------------------------------------------
    def url(self) -> str:
        """The store URL naming every node (``redis+cluster://host:port,host:port,...``)."""
        return "redis+cluster://" + ",".join(f"{n.bind}:{n.port}" for n in self.nodes)

    def client(self) -> ClusterClient:
        """A redis-py cluster client (close it when done)."""
        return ClusterClient(
            startup_nodes=[
                ClusterNode(n.bind, n.port)  # type: ignore[no-untyped-call]
                for n in self.nodes
                if n.running
            ],
            socket_timeout=5,
        )

    def node(self, port: int) -> RedisServer:
        """The node listening on ``port``."""
        return next(n for n in self.nodes if n.port == port)

    def master_of(self, key: str) -> RedisServer:
        """The node serving ``key``'s slot now."""
        with self.client() as client:
            owner = client.get_node_from_key(key)
        assert owner is not None
        return self.node(owner.port)

    def replica_of(self, master: RedisServer) -> RedisServer:
        """A replica of ``master`` (the first one its INFO lists)."""
        with master.client() as client:
            info = client.info("replication")
        return self.node(int(info["slave0"]["port"]))

    # -- life ------------------------------------------------------------------------------
    def start(self) -> RedisCluster:
        """Start every node, create the cluster, and wait until it serves every slot with
        every replica in sync."""
        for node in self.nodes:
            node.start()
        subprocess.run(
            [
                "redis-cli",
                "--cluster",
                "create",
                *(f"{n.bind}:{n.port}" for n in self.nodes),
                "--cluster-replicas",
                str(self.replicas),
                "--cluster-yes",
            ],
            check=True,
            capture_output=True,
            timeout=CLUSTER_DEADLINE,
        )
        self.wait_healthy()
        return self

    def wait_for(self, what: str, ready: Callable[[], bool]) -> None:
        """Poll ``ready`` until it holds; fail the test after :data:`CLUSTER_DEADLINE`."""
        deadline = time.monotonic() + CLUSTER_DEADLINE
        while True:
            try:
                if ready():
                    return
            except redis.RedisError:
                pass  # a node restarting or loading: try again
            assert time.monotonic() < deadline, f"Redis Cluster: {what} did not happen in time"
            time.sleep(0.05)

    def wait_healthy(self) -> None:
        """Wait until every running node says ``cluster_state:ok`` and sees ``masters``
        masters, and every running replica's link to its master is up."""
        running = [n for n in self.nodes if n.running]

        def healthy() -> bool:
            masters = 0
            for node in running:
                with node.client() as client:
                    if client.cluster("info")["cluster_state"] != "ok":
                        return False
                    info = client.info("replication")
                if info["role"] == "master":
                    masters += 1
                elif info.get("master_link_status") != "up":
                    return False
            return masters == self.masters

        self.wait_for("cluster_state:ok with every replica in sync", healthy)

    def role(self, node: RedisServer) -> str:
        """``master`` or ``slave``, as the node itself says."""
        with node.client() as client:
            return str(client.info("replication")["role"])

    def flush(self) -> None:
        """Empty every master (replicas follow)."""
        for node in self.nodes:
            if node.running and self.role(node) == "master":
                with node.client() as client:
                    client.flushall()

    def stop(self) -> None:
        """SIGKILL every node (their data dirs go with the test's temp dir)."""
        for node in self.nodes:
            node.kill()


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
