"""Ports and deadlines: a free port to serve on, and a bounded wait for a condition."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on ``host`` that nothing listens on right now (the kernel's choice)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def wait_until(
    condition: Callable[[], object], timeout: float, what: str, interval: float = 0.05
) -> None:
    """Call ``condition()`` every ``interval`` seconds until it returns something true.

    For states nothing announces (a process that answers, a count another process keeps);
    where an event can be awaited, await it instead. Raises :class:`TimeoutError` naming
    ``what`` after ``timeout`` seconds; an exception from ``condition`` propagates."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:g} s waiting until {what}")
        time.sleep(interval)
