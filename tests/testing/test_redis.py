"""livedash.testing's RedisServer: a node that cannot start says why."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from livedash.testing.redis import RedisServer

pytestmark = pytest.mark.redis


def test_a_server_that_exits_at_start_shows_the_end_of_its_log(tmp_path: Path) -> None:
    with socket.socket() as held:  # bound, so redis-server cannot bind it
        held.bind(("127.0.0.1", 0))
        server = RedisServer(tmp_path, port=held.getsockname()[1])
        with pytest.raises(RuntimeError, match=r"exited with code 1.*Address already in use"):
            server.start()
