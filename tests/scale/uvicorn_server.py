"""A real uvicorn server in a thread, serving an ASGI app (a Dash fastapi app's server)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import uvicorn

from tests.conftest import free_port

#: Longest wait for uvicorn to start or stop.
DEADLINE = 30.0


class UvicornServer:
    """``app`` (ASGI) served by uvicorn on a free port, in a thread, until :meth:`stop`."""

    def __init__(self, app: Any) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            # uvicorn's records go to the root logger, where pytest's caplog sees them.
            log_config=None,
            lifespan="off",
            # Open event streams would hold a stop forever; clients reconnect anyway.
            timeout_graceful_shutdown=1,
        )
        self.server = uvicorn.Server(config)
        # uvicorn installs no signal handlers when it runs outside the main thread.
        self._thread = threading.Thread(target=self.server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + DEADLINE
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                pytest.fail("uvicorn did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        self.server.should_exit = True
        self._thread.join(timeout=DEADLINE)


@pytest.fixture
def uvicorn_server() -> Iterator[Callable[[Any], UvicornServer]]:
    """Factory: ``uvicorn_server(dash_app)`` serves the app's ASGI server until the test ends."""
    servers: list[UvicornServer] = []

    def start(app: Any) -> UvicornServer:
        server = UvicornServer(app.server)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
