"""Ports and deadlines: a free port to serve on, and a bounded wait for a condition."""

from __future__ import annotations

import random
import socket
import time
from collections.abc import Callable

#: Where :func:`free_port` picks from: below Linux's ephemeral range (32768-60999), from which
#: the kernel hands out every ``bind(0)`` port and every outgoing connection's own port. A
#: port found free there can be taken by any process's next connection or ``bind(0)`` before
#: the server meant for it binds (seen: a served app exiting "address already in use").
PORT_RANGE = range(20000, 32768)

#: Ports this process has handed out: a test may pick several before it starts anything
#: (a Redis cluster: a port and a bus port per node), and none may come back twice.
_HANDED_OUT: set[int] = set()


def free_port(host: str = "127.0.0.1", ports: range = PORT_RANGE) -> int:
    """A TCP port on ``host`` that nothing is bound to right now, from ``ports`` (default
    :data:`PORT_RANGE`) and never handed out before by this process."""
    for _ in range(1000):
        port = random.choice(ports)
        if port in _HANDED_OUT:
            continue
        with socket.socket() as s:
            try:
                s.bind((host, port))
            except OSError:
                continue  # taken: try another
        _HANDED_OUT.add(port)
        return port
    raise RuntimeError(
        f"no free TCP port on {host} in {ports.start}-{ports.stop - 1} after 1000 "
        "tries: stop what holds them, or serve on a port of your own"
    )


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
