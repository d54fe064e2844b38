"""Real ``redis-server`` processes for tests: our own, on a free port, in a temp dir.

Never the machine's shared Redis: tests here flush, stop, kill and restart theirs.
Use the fixtures from a ``conftest.py`` (``from tests.redis_server import redis_server,
redis_url``) or :class:`RedisServer` directly for tests that control its life.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
import redis

from tests.conftest import free_port

#: Longest wait for a redis-server to accept commands after it starts.
START_DEADLINE = 30.0


class RedisServer:
    """One ``redis-server`` process bound to ``bind`` (127.0.0.1) with its data in ``directory``.

    ``appendonly=True`` persists every write (AOF, fsync before each reply), so a restart
    (even after SIGKILL) keeps the data; without it a restart starts empty, like a Redis
    that lost its memory."""

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
            pytest.fail("redis-server is not installed: run `make test`, which installs it")
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
        self.proc = subprocess.Popen(
            args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=self.directory
        )
        deadline = time.monotonic() + START_DEADLINE
        while True:
            try:
                with self.client() as client:
                    if client.ping():
                        return self
            except redis.BusyLoadingError:
                pass
            except redis.ConnectionError:
                if self.proc.poll() is not None:
                    pytest.fail(f"redis-server exited with code {self.proc.returncode}")
            assert time.monotonic() < deadline, "redis-server did not start in time"
            time.sleep(0.05)

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
