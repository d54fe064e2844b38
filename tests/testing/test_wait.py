"""free_port: ports no connection or bind(0) of the kernel's can take back before use, and
that no other live process was handed."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from livedash.testing import free_port
from livedash.testing.wait import PORT_RANGE


def test_free_port_hands_out_distinct_bindable_ports_outside_the_ephemeral_range() -> None:
    low, high = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    ports = [free_port() for _ in range(300)]
    assert len(set(ports)) == len(ports), "a port was handed out twice"
    assert all(port in PORT_RANGE and not low <= port <= high for port in ports)
    with socket.socket() as s:  # still free to bind: only handed out, never held
        s.bind(("127.0.0.1", ports[-1]))


#: Ports of the test's own, outside PORT_RANGE: holding ports there would take them from
#: the servers other tests are starting meanwhile.
OWN_PORTS = range(15000, 15060)


def test_free_port_skips_the_ports_something_is_bound_to() -> None:
    held: list[socket.socket] = []
    try:
        # Every other port bound behind its back: without the check, 20 picks would land on
        # a held port ~10 times.
        for port in range(OWN_PORTS.start, OWN_PORTS.stop, 2):
            s = socket.socket()
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                s.close()  # someone else's: just as good
                continue
            held.append(s)
        taken = {s.getsockname()[1] for s in held}
        picked = [free_port(ports=OWN_PORTS) for _ in range(20)]
        assert all(port in OWN_PORTS for port in picked)
        assert not taken & set(picked)
    finally:
        for s in held:
            s.close()


#: Another 20 ports of the test's own, for the reservation between processes.
SHARED_PORTS = range(15100, 15120)

HOLDER = f"""
import sys
from livedash.testing import free_port
print(*(free_port(ports=range({SHARED_PORTS.start}, {SHARED_PORTS.stop})) for _ in range(10)))
sys.stdout.flush()
sys.stdin.read()  # holds its ports until the test closes stdin
"""


@contextmanager
def _holder() -> Iterator[set[int]]:
    """Another process that takes 10 of SHARED_PORTS and holds them for the ``with`` block."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        yield {int(port) for port in proc.stdout.readline().split()}
    finally:
        proc.communicate(input="", timeout=30)


def test_free_port_never_hands_a_port_to_two_live_processes() -> None:
    # A second process takes half the range and binds nothing: only the reservation keeps
    # this one off its ports (without it, 10 picks from 20 land on one of them ~all the time).
    with _holder() as theirs:
        assert len(theirs) == 10
        ours = {free_port(ports=SHARED_PORTS) for _ in range(10)}
        assert ours == set(SHARED_PORTS) - theirs
    # A process's reservations end with it: the next one can take those ports again.
    with _holder() as successors:
        assert successors == theirs
