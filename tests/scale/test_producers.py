"""Producers run once per deployment, not once per worker, and move when their worker dies."""

from __future__ import annotations

import signal

import pytest

from livedash.testing import SSEClient
from tests.scale.conftest import TEST_APP, ServeFactory

pytestmark = pytest.mark.redis


def _events(port: int, stream: str, count: int) -> list[tuple[int, float, dict[str, object]]]:
    """The next ``count`` events of ``stream`` after connecting, as (seq, ts, data)."""
    client = SSEClient(port, f"/livedash/events?stream={stream}", timeout=30)
    got: list[tuple[int, float, dict[str, object]]] = []
    try:
        for msg in client:
            if msg.event == "message":
                got += [(seq, ts, data) for _, seq, ts, data in msg.json()]
            if len(got) >= count:
                return got
    finally:
        client.close()
    raise AssertionError(f"stream ended after {len(got)} events")


def test_seed_clock_publishes_once_per_second_with_three_workers(
    serve: ServeFactory, redis_url: str
) -> None:
    server = serve("seed", redis_url, workers=3)
    events = _events(server.port, "seed", 7)
    seqs = [seq for seq, _, _ in events]
    assert seqs == list(range(seqs[0], seqs[0] + 7))
    # Three producers would put ~3 events in every second: 6 gaps would span ~2 s. One
    # producer spans ~6 s; a slow machine only makes the span longer, never shorter.
    span = events[-1][1] - events[0][1]
    assert span > 4.0, f"7 seed events within {span:.2f} s: more than one producer runs"


def test_one_worker_of_three_produces_and_another_takes_over_when_it_dies(
    serve: ServeFactory, redis_url: str
) -> None:
    env = {"LIVEDASH_TEST_TICK": "0.2"}
    servers = [serve(TEST_APP, redis_url, env=env) for _ in range(3)]
    watcher = servers[0]
    before = _events(watcher.port, "tick", 15)
    producers = {data["pid"] for _, _, data in before}
    assert len(producers) == 1, f"several workers produced: {producers}"
    (holder,) = producers
    [dying] = [s for s in servers if holder in s.worker_pids()]
    survivors = [s for s in servers if s is not dying]
    dying.kill(signal.SIGKILL)
    after = _events(survivors[0].port, "tick", 15)
    # The lease expires (3 s) and a survivor takes it; one producer again, a new one.
    new_producers = {data["pid"] for _, _, data in after[-5:]}
    assert len(new_producers) == 1 and holder not in new_producers
    seqs = [seq for seq, _, _ in after]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))  # no duplicate seq, no gap
