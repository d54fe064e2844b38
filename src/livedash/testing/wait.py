"""Ports and deadlines: a free port to serve on, and a bounded wait for a condition."""

from __future__ import annotations

import fcntl
import functools
import os
import random
import socket
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

#: Where :func:`free_port` picks from: below Linux's ephemeral range (32768-60999), from which
#: the kernel hands out every ``bind(0)`` port and every outgoing connection's own port. A
#: port found free there can be taken by any process's next connection or ``bind(0)`` before
#: the server meant for it binds (seen: a served app exiting "address already in use").
PORT_RANGE = range(20000, 32768)

#: Ports this process has handed out: a test may pick several before it starts anything
#: (a Redis cluster: a port and a bus port per node), and none may come back twice.
_HANDED_OUT: set[int] = set()

#: Other processes pick ports too, side by side (pytest-xdist's workers), and a port is free
#: to bind until its server binds it: two workers whose Redis clusters picked their twelve
#: ports at once could both get one, and the second node on it exits at start (seen). So a
#: port handed out is also reserved among this user's processes: a lock on byte ``port`` of
#: this file, held while the process lives (the kernel drops it when the process ends).
RESERVATIONS = Path(tempfile.gettempdir()) / f"livedash-ports-{os.getuid()}.lock"


@functools.cache
def _reservations() -> int:
    """The descriptor of :data:`RESERVATIONS`, opened once: closing it would drop every lock."""
    return os.open(RESERVATIONS, os.O_RDWR | os.O_CREAT, 0o600)


def _reserve(port: int) -> bool:
    """Lock byte ``port`` of :data:`RESERVATIONS`; False if another process holds it."""
    try:
        fcntl.lockf(_reservations(), fcntl.LOCK_EX | fcntl.LOCK_NB, 1, port)
    except OSError:  # EAGAIN or EACCES: another process reserved it
        return False
    return True


def _unreserve(port: int) -> None:
    fcntl.lockf(_reservations(), fcntl.LOCK_UN, 1, port)


def free_port(host: str = "127.0.0.1", ports: range = PORT_RANGE) -> int:
    """A TCP port on ``host`` that nothing is bound to right now, from ``ports`` (default
    :data:`PORT_RANGE`), never handed out before by this process and not handed out to
    another of this user's live processes (see :data:`RESERVATIONS`)."""
    for _ in range(1000):
        port = random.choice(ports)
        if port in _HANDED_OUT or not _reserve(port):
            continue
        with socket.socket() as s:
            try:
                s.bind((host, port))
            except OSError:
                _unreserve(port)
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
