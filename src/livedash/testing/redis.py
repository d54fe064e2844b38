"""Real Redis for tests: a ``redis-server`` of one's own on a free port, and a Redis
Cluster of such servers.

Never a machine's shared Redis: tests flush, stop, kill and restart theirs. Needs the
``redis-server`` binary (and ``redis-cli`` for a cluster) on the PATH.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

import redis
from redis.cluster import ClusterNode
from redis.cluster import RedisCluster as ClusterClient

from livedash.testing.wait import free_port, wait_until

#: Longest wait for a redis-server to accept commands after it starts.
START_DEADLINE = 30.0
#: Longest wait for a cluster to form, or to finish a failover or a rejoin.
CLUSTER_DEADLINE = 60.0


class RedisServer:
    """One ``redis-server`` process bound to ``bind`` (127.0.0.1) with its data in ``directory``.

    ``appendonly=True`` persists every write (AOF, fsync before each reply), so a restart
    (even after SIGKILL) keeps the data; without it a restart starts empty, like a Redis
    that lost its memory. ``extra`` are more ``redis-server`` arguments."""

    def __init__(
        self,
        directory: Path,
        *,
        appendonly: bool = False,
        port: int | None = None,
        bind: str = "127.0.0.1",
        appendfsync: str = "always",
        extra: Sequence[str] = (),
    ):
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed (Debian: apt-get install redis)")
        self.binary = binary
        self.directory = directory
        self.appendonly = appendonly
        self.bind = bind
        self.appendfsync = appendfsync
        self.extra = list(extra)
        self.port = port or free_port(bind)
        self.proc: subprocess.Popen[bytes] | None = None
        directory.mkdir(parents=True, exist_ok=True)

    def url(self, db: int = 0) -> str:
        """The store URL of database ``db``."""
        return f"redis://{self.bind}:{self.port}/{db}"

    def client(self, db: int = 0) -> redis.Redis:
        """A redis-py client (close it when done)."""
        return redis.Redis(host=self.bind, port=self.port, db=db, socket_timeout=5)

    def start(self) -> RedisServer:
        """Start the server (same port and directory every time) and wait until it answers."""
        assert self.proc is None or self.proc.poll() is not None, "already running"
        args = [
            self.binary,
            "--port",
            str(self.port),
            "--bind",
            self.bind,
            "--dir",
            str(self.directory),
            "--save",
            "",
            "--appendonly",
            "yes" if self.appendonly else "no",
            # "always": every write reaches the disk before the reply, so a SIGKILL loses
            # nothing (cluster nodes rely on replicas instead, and fsync every second).
            "--appendfsync",
            self.appendfsync,
            "--databases",
            "64",
            *self.extra,
        ]
        # Its log (stdout) goes to redis.log, whose last lines explain an exit at start.
        log = self.directory / "redis.log"
        with log.open("ab") as out:
            proc = self.proc = subprocess.Popen(
                args, stdout=out, stderr=subprocess.STDOUT, cwd=self.directory
            )

        def answers() -> bool:
            try:
                with self.client() as client:
                    return bool(client.ping())
            except redis.BusyLoadingError:
                return False
            except redis.ConnectionError:
                if proc.poll() is not None:
                    last = log.read_text(errors="replace").strip().splitlines()[-3:]
                    raise RuntimeError(
                        f"redis-server on port {self.port} exited with code {proc.returncode}; "
                        f"the end of {log}: " + " | ".join(last)
                    ) from None
                return False

        wait_until(answers, START_DEADLINE, f"redis-server answers on port {self.port}")
        return self

    def kill(self) -> None:
        """SIGKILL the server: no shutdown save; with AOF every acknowledged write stays."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=30)

    def stop(self) -> None:
        """Stop the server cleanly (SHUTDOWN flushes the AOF)."""
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            with self.client() as client:
                client.shutdown(nosave=not self.appendonly)
        except redis.ConnectionError:
            pass  # the reply is lost when the server exits: expected
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.kill()

    @property
    def running(self) -> bool:
        """True while the process is alive."""
        return self.proc is not None and self.proc.poll() is None


class RedisCluster:
    """``masters`` masters with ``replicas`` replicas each, one :class:`RedisServer` per node
    (``--cluster-enabled yes``), joined by ``redis-cli --cluster create``; every node listens
    on ``bind`` (another loopback address, or one inside a network namespace).

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
            raise RuntimeError("redis-cli is not installed (Debian: apt-get install redis-tools)")
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
                # A master starts a replica's full sync at once, not 5 s later in case more
                # replicas ask (Redis 7's default): a cluster is whole ~5 s sooner, at its
                # start and after a node comes back.
                "--repl-diskless-sync-delay",
                "0",
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
        """Wait until ``ready()`` holds (a Redis error counts as not yet: a node restarting
        or loading); :class:`TimeoutError` after :data:`CLUSTER_DEADLINE`."""

        def holds() -> bool:
            try:
                return ready()
            except redis.RedisError:
                return False

        wait_until(holds, CLUSTER_DEADLINE, f"Redis Cluster: {what}")

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
        """SIGKILL every node (their data dirs are the caller's to remove)."""
        for node in self.nodes:
            node.kill()
