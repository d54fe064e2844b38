from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from livedash import Hub, PublishError
from livedash.stores import MemoryStore


def test_publish_assigns_seq_and_subscribers_receive(hub_factory: Callable[..., Hub]) -> None:
    hub = hub_factory()
    sub = hub.subscribe(["s"])
    first = hub.publish("s", {"v": 1})
    hub.publish("s", {"v": 2})
    assert first.seq == 1 and first.data == {"v": 1}
    got: list[int] = []
    while len(got) < 2:
        events, _ = sub.get(timeout=10)
        got.extend(e.seq for e in events)
    assert got == [1, 2]
    hub.unsubscribe(sub)
    assert hub.subscriber_count() == 0


@pytest.mark.parametrize(
    ("stream", "data", "reason"),
    [
        ("bad name", {"v": 1}, "bad_stream"),
        ("ok", ["not", "an", "object"], "bad_data"),
        ("ok", {"v": object()}, "bad_data"),
        ("ok", {"v": "x" * 70_000}, "too_large"),
    ],
)
def test_bad_input_raises_and_changes_nothing(
    hub_factory: Callable[..., Hub], tmp_path: Path, stream: str, data: Any, reason: str
) -> None:
    hub = hub_factory(f"sqlite:///{tmp_path / 'h.db'}")
    hub.publish("ok", {"v": 0})
    with pytest.raises(PublishError) as info:
        hub.publish(stream, data)
    assert info.value.reason == reason
    assert str(info.value)
    assert [e.data for e in hub.read("ok", 0)] == [{"v": 0}]
    assert hub.store.head("ok") == 1


def test_publish_many_is_all_or_nothing(hub_factory: Callable[..., Hub]) -> None:
    hub = hub_factory()
    with pytest.raises(PublishError):
        hub.publish_many([("a", {"v": 1}), ("a", {"v": float("inf")})])
    assert hub.read("a", 0) == []


def test_slow_subscriber_overflows_without_blocking_publish(
    hub_factory: Callable[..., Hub],
) -> None:
    from livedash.fanout import Overflow

    hub = hub_factory(queue_size=10)
    slow = hub.subscribe(["s"])
    fast = hub.subscribe(["s"])
    seen: list[int] = []
    for i in range(200):
        hub.publish("s", {"i": i})
        # The fast reader keeps up; the slow one never reads.
        while len(seen) < i + 1:
            events, _ = fast.get(timeout=10)
            seen.extend(e.seq for e in events)
    assert seen == list(range(1, 201))
    assert slow.pending() <= 10
    with pytest.raises(Overflow):
        slow.get(timeout=0)
    assert slow.overflows >= 1


def test_producer_publishes_and_errors_do_not_stop_it(hub_factory: Callable[..., Hub]) -> None:
    hub = hub_factory()
    calls = 0
    done = threading.Event()

    @hub.every(0.01, stream="tick")
    def tick() -> dict[str, int] | None:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise RuntimeError("boom")
        if calls == 3:
            return None
        if calls >= 6:
            done.set()
        return {"n": calls}

    hub.start()
    assert done.wait(30)
    hub.close()
    values = [e.data["n"] for e in hub.read("tick", 0)]
    assert values[:3] == [1, 4, 5]
    assert hub.producers[0].errors == 1


def test_every_rejects_non_positive_period(hub_factory: Callable[..., Hub]) -> None:
    with pytest.raises(ValueError, match="seconds > 0"):
        hub_factory().every(0)


class _LeaseLog(MemoryStore):
    """A memory store that notes who asked for a lease."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: list[str] = []

    def acquire_lease(self, name: str, owner: str, ttl: float) -> bool:
        self.asked.append(owner)
        return super().acquire_lease(name, owner, ttl)


def test_one_producer_of_two_hubs_runs_and_renews_its_lease_less_than_every_tick() -> None:
    store = _LeaseLog()
    hubs = [Hub(store), Hub(store)]
    done = threading.Event()
    try:
        for hub in hubs:

            @hub.every(0.01, stream="tick")
            def tick(hub: Hub = hub) -> dict[str, str]:
                if len(store.read("tick", 0, 1000)) >= 100:
                    done.set()
                return {"by": hub.instance_id}

        for hub in hubs:
            hub.start()
        assert done.wait(60)
    finally:
        for hub in hubs:
            hub.close()
    producers = {e.data["by"] for e in store.read("tick", 0, 1000)}
    assert len(producers) == 1
    (holder,) = producers
    # The standby asks every tick; the holder renews when half of its 3 s lease has run,
    # far less often than its 100+ ticks.
    assert store.asked.count(holder) < 20
