"""Real worker processes (``livedash serve``: uvicorn, through livedash.testing's
``ServeProcess``) on free ports, sharing a real store."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from livedash.testing import ServeProcess
from tests.redis_server import redis_server, redis_url

__all__ = ["redis_server", "redis_url"]

ROOT = Path(__file__).resolve().parents[2]
TEST_APP = "tests.scale.apps:create_app"


ServeFactory = Callable[..., ServeProcess]


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[ServeFactory]:
    """Factory: ``serve(app, store, workers=1, env=None)`` starts ``livedash serve``; every
    process it started is killed when the test ends."""
    started: list[ServeProcess] = []

    def start(app: str, store: str, **kwargs: Any) -> ServeProcess:
        output_path = tmp_path / f"serve-{len(started)}.log"
        server = ServeProcess(app, store, output_path, cwd=ROOT, **kwargs)
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.kill()
