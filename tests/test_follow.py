"""The one follower: ``hub.follow`` from server code (sync and async), paged catch-up, exact
resume, resets; the event stream and the poll route are its other users."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from livedash import Hub
from livedash.events import Event
from livedash.follow import (
    BLOCKING,
    PAGE_BYTES,
    PAGE_EVENTS,
    Events,
    Follower,
    Reset,
    Synced,
    Wait,
    read_once,
)
from livedash.stores.memory import MemoryStore
from livedash.testing.redis import RedisServer

DEADLINE = 30.0


def _take(follow: object, n: int) -> list[Event]:
    got: list[Event] = []
    for event in follow:  # type: ignore[attr-defined]
        got.append(event)
        if len(got) == n:
            break
    return got


def test_follow_delivers_history_then_live_and_resumes_exactly(
    hub_factory: Callable[..., Hub],
) -> None:
    hub = hub_factory()
    hub.publish_many([("a", {"i": i}) for i in range(5)])
    follow = hub.follow("a", last=2)
    seen: list[Event] = []
    done = threading.Event()

    def reader() -> None:
        seen.extend(_take(follow, 5))
        done.set()

    thread = threading.Thread(target=reader)
    thread.start()
    # History first (the newest 2), then what is published while following.
    deadline = time.monotonic() + DEADLINE
    while follow.cursor.get("a") != 5:
        assert time.monotonic() < deadline, "the history never arrived"
        time.sleep(0.01)
    hub.publish_many([("a", {"i": i}) for i in range(5, 8)])
    assert done.wait(DEADLINE)
    thread.join()
    assert [e.seq for e in seen] == [4, 5, 6, 7, 8]
    # Resuming from the cursor continues with the next event, nothing twice.
    hub.publish_many([("a", {"i": i}) for i in range(8, 10)])
    again = _take(hub.follow("a", after=follow.cursor), 2)
    assert [e.seq for e in again] == [9, 10]


def test_follow_is_an_async_iterator_on_the_event_loop(hub_factory: Callable[..., Hub]) -> None:
    hub = hub_factory()
    hub.publish("b", {"i": 0})

    async def main() -> list[int]:
        got: list[int] = []
        follow = hub.follow(["b", "c"], after={"b": 0, "c": 0})

        async def read() -> None:
            async for event in follow:
                got.append(event.seq)
                if len(got) == 201:
                    return

        task = asyncio.create_task(read())
        # Published from another thread while the loop follows.
        await asyncio.to_thread(hub.publish_many, [("b", {"i": i}) for i in range(1, 101)])
        await asyncio.to_thread(hub.publish_many, [("c", {"i": i}) for i in range(100)])
        await asyncio.wait_for(task, DEADLINE)
        return got

    # On a thread of its own: this thread may hold Playwright's loop (the browser fixture).
    result: list[list[int]] = []
    runner = threading.Thread(target=lambda: result.append(asyncio.run(main())))
    runner.start()
    runner.join(DEADLINE * 2)
    (got,) = result
    assert got[:101] == list(range(1, 102)) and got[101:] == list(range(1, 101))


class CountingStore(MemoryStore):
    """The memory store, counting reads (what a reader that stops reading costs)."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    def read(self, stream: str, after_seq: int, limit: int = 1000) -> list[Event]:
        self.reads += 1
        return super().read(stream, after_seq, limit)


def test_catch_up_goes_out_in_pages_read_as_the_reader_takes_them() -> None:
    store = CountingStore()
    hub = Hub(store)
    try:
        # 3,000 events of ~2 KB: 6 MB of backlog.
        hub.publish_many([("big", {"i": i, "pad": "x" * 2000}) for i in range(3000)])
        steps = Follower(hub, ["big"], after={"big": 0}).steps()
        pages: list[list[Event]] = []
        for item in steps:
            if isinstance(item, Events):
                pages.append(item.events)
                break
        # One page taken: the store was read for it alone, not for the whole backlog.
        reads = store.reads
        assert reads <= 2
        size = sum(len(str(e.data)) for e in pages[0])
        assert size <= PAGE_BYTES and len(pages[0]) <= PAGE_EVENTS
        for item in steps:
            if isinstance(item, Events):
                pages.append(item.events)
            elif isinstance(item, Synced | Wait):
                break
        steps.close()
        assert [e.seq for page in pages for e in page] == list(range(1, 3001))
        # Every page stays within the bound in bytes (a ~2 KB event: ~500 a page).
        assert all(sum(len(str(e.data)) for e in p) <= PAGE_BYTES * 1.1 for p in pages)
        assert len(pages) >= 6
    finally:
        hub.close()


def test_one_event_larger_than_a_page_is_a_page_alone(hub_factory: Callable[..., Hub]) -> None:
    hub = hub_factory()
    hub.publish_many([("h", {"pad": "y" * 60_000}) for _ in range(40)])
    follower = Follower(hub, ["h"], after={"h": 0}, page_bytes=50_000)
    pages = []
    for item in follower.steps():
        if isinstance(item, Events):
            pages.append(len(item.events))
        elif isinstance(item, Synced):
            break
    assert pages == [1] * 40


def test_a_retention_gap_is_a_reset_and_on_reset_is_called(
    hub_factory: Callable[..., Hub],
) -> None:
    hub = hub_factory()
    hub.stream("g", max_events=10)
    hub.publish_many([("g", {"i": i}) for i in range(30)])
    resets: list[tuple[str, int]] = []
    got = _take(hub.follow("g", after={"g": 5}, on_reset=lambda s, q: resets.append((s, q))), 10)
    assert resets == [("g", 21)] and [e.seq for e in got] == list(range(21, 31))


def test_the_poll_reads_one_page_per_stream_bounded_in_bytes(
    hub_factory: Callable[..., Hub],
) -> None:
    hub = hub_factory()
    hub.publish_many([("p", {"pad": "z" * 10_000}) for _ in range(500)])
    hub.publish_many([("q", {"i": i}) for i in range(10)])
    events, cursor, resets = read_once(hub, ["p", "q"], {"p": 0, "q": 0}, {})
    size = sum(len(str(e.data)) for e in events)
    assert size <= PAGE_BYTES * 1.05 and not resets
    taken = [e.seq for e in events if e.stream == "p"]
    assert taken == list(range(1, len(taken) + 1)) and cursor["p"] == taken[-1]
    # History of a stream not in the cursor: its newest n, as before.
    events, cursor, _ = read_once(hub, ["q"], {}, {"q": 3})
    assert [e.seq for e in events] == [8, 9, 10] and cursor == {"q": 10}


def test_the_followers_steps_name_every_blocking_read(hub_factory: Callable[..., Hub]) -> None:
    """Store reads come after a BLOCKING marker, so an event loop runs them in a thread."""
    hub = hub_factory()
    hub.publish("s", {"i": 1})
    steps = Follower(hub, ["s"], after={"s": 0}).steps()
    first = next(steps)
    assert first is BLOCKING
    steps.close()


@pytest.mark.redis
def test_follow_resumes_exactly_across_a_redis_restart(tmp_path: Path) -> None:
    redis = RedisServer(tmp_path / "redis", appendonly=True).start()
    hub = Hub(redis.url())
    try:
        hub.publish_many([("r", {"i": i}) for i in range(3)])
        follow = hub.follow("r", after={"r": 0})
        got: list[int] = []
        done = threading.Event()

        def reader() -> None:
            for event in follow:
                got.append(event.seq)
                if len(got) == 8:
                    done.set()
                    return

        thread = threading.Thread(target=reader, daemon=True)
        thread.start()
        deadline = time.monotonic() + DEADLINE
        while len(got) < 3:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        redis.kill()
        redis.start()
        hub.publish_many([("r", {"i": i}) for i in range(3, 8)])
        assert done.wait(DEADLINE), got
        thread.join(timeout=DEADLINE)
        assert got == list(range(1, 9))
    finally:
        hub.close()
        redis.kill()


def test_a_reset_item_says_where_a_stream_continues(hub_factory: Callable[..., Hub]) -> None:
    hub = hub_factory()
    hub.stream("k", max_events=5)
    hub.publish_many([("k", {"i": i}) for i in range(20)])
    items = []
    for item in Follower(hub, ["k"], after={"k": 2}).steps():
        if isinstance(item, Reset | Events):
            items.append(item)
        if isinstance(item, Synced):
            break
    assert isinstance(items[0], Reset) and items[0].seq == 16
    pages = [item.events for item in items[1:] if isinstance(item, Events)]
    assert [e.seq for page in pages for e in page] == [16, 17, 18, 19, 20]
    assert not any(isinstance(item, Reset) for item in items[1:])
