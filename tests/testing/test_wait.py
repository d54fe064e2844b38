"""free_port: ports no connection or bind(0) of the kernel's can take back before use."""

from __future__ import annotations

import socket
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
