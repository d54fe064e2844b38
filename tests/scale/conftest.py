"""Real worker processes (``livedash serve``: uvicorn) on free ports, sharing a real store."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.conftest import free_port
from tests.redis_server import redis_server, redis_url

__all__ = ["redis_server", "redis_url"]

ROOT = Path(__file__).resolve().parents[2]
TEST_APP = "tests.scale.apps:create_app"
#: Longest wait for a freshly started server to answer.
READY_DEADLINE = 60.0


class ServeProcess:
    """``livedash serve APP`` in its own process group (uvicorn master and workers), so that
    one signal stops all of it, as a crash or ``kill -9`` of the service would."""

    def __init__(
        self,
        app: str,
        store: str,
        log_path: Path,
        *,
        workers: int = 1,
        port: int | None = None,
        env: dict[str, str] | None = None,
        extra: tuple[str, ...] = (),
    ) -> None:
        self.app, self.store, self.workers = app, store, workers
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.env = {**os.environ, **(env or {})}
        self.extra = extra
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> ServeProcess:
        """Start (again, on the same port) and wait until a worker answers."""
        argv = [
            sys.executable,
            "-m",
            "livedash.cli",
            "serve",
            self.app,
            "--workers",
            str(self.workers),
            "--store",
            self.store,
            "--port",
            str(self.port),
            *self.extra,
        ]
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                argv,
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + READY_DEADLINE
        while True:
            try:
                # Any answer (200, or 503 while the store is down) means the routes are up.
                urllib.request.urlopen(f"{self.url}/livedash/health", timeout=5).close()
                return self
            except urllib.error.HTTPError:
                return self
            except OSError:
                if self.proc.poll() is not None:
                    pytest.fail(f"livedash serve exited early:\n{self.log()}")
                if time.monotonic() > deadline:
                    pytest.fail(f"livedash serve did not answer in time:\n{self.log()}")
                time.sleep(0.1)

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` to the master and every worker, and reap the master."""
        if self.proc is None:
            return
        # The whole group, even if the master is gone: orphaned workers must not linger.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, sig)
        self.proc.wait(timeout=30)

    def worker_pids(self) -> list[int]:
        """The pids of the processes that serve: the master's children (uvicorn
        workers), or the master itself when it serves alone (uvicorn with one worker)."""
        assert self.proc is not None
        try:
            children = psutil.Process(self.proc.pid).children()
        except psutil.NoSuchProcess:
            return [self.proc.pid]
        pids = []
        for child in children:
            # multiprocessing's resource tracker is a child too, but serves nothing. Read the
            # whole command line: `ps` cuts it at $COLUMNS, which CI sets.
            with contextlib.suppress(psutil.Error):
                if not any("resource_tracker" in arg for arg in child.cmdline()):
                    pids.append(child.pid)
        return pids or [self.proc.pid]

    def log(self) -> str:
        """What the server printed so far."""
        return self.log_path.read_text(errors="replace")[-5000:]

    def publish(self, stream: str, *datas: dict[str, Any], timeout: float = 30) -> list[int]:
        """POST events to this server; returns their seqs."""
        body = json.dumps({"events": [{"stream": stream, "data": d} for d in datas]}).encode()
        req = urllib.request.Request(
            f"{self.url}/livedash/publish",
            data=body,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return [e["seq"] for e in json.load(resp)["published"]]


ServeFactory = Callable[..., ServeProcess]


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[ServeFactory]:
    """Factory: ``serve(app, store, workers=1, env=None)`` starts ``livedash serve``; every
    process it started is killed when the test ends."""
    started: list[ServeProcess] = []

    def start(app: str, store: str, **kwargs: Any) -> ServeProcess:
        server = ServeProcess(app, store, tmp_path / f"serve-{len(started)}.log", **kwargs)
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.kill()
