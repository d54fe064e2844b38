"""One wake-up per burst: subscriptions that share an event loop's WakeBatch cost one
cross-thread call for a burst, however many subscribers it wakes."""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Callable

from livedash import Hub
from livedash.events import Event
from livedash.hub import Subscription, WakeBatch


def test_a_burst_to_many_subscribers_schedules_the_loop_once() -> None:
    loop = asyncio.new_event_loop()
    scheduled: list[Callable[[], None]] = []

    def call_soon_threadsafe(fn: Callable[[], None]) -> object:
        scheduled.append(fn)
        return loop.call_soon_threadsafe(fn)

    try:
        batch = WakeBatch(call_soon_threadsafe)
        woken: list[int] = []
        subs = [Subscription(["s"], maxsize=100) for _ in range(50)]
        for i, sub in enumerate(subs):
            sub.set_waker(functools.partial(woken.append, i), batch)
        for seq in range(1, 11):  # ten events to each of fifty subscribers
            for sub in subs:
                sub.offer(Event("s", seq, 0.0, {}))
        assert len(scheduled) == 1 and woken == []  # nothing runs off the loop
        # On a thread of its own: the session's Playwright keeps a loop running on this one.
        runner = threading.Thread(target=loop.run_until_complete, args=(asyncio.sleep(0),))
        runner.start()
        runner.join(30)
        assert sorted(woken) == list(range(50))  # each woken once, on the loop
        assert all(len(sub.get(0)[0]) == 10 for sub in subs)
        subs[0].offer(Event("s", 11, 0.0, {}))  # the next burst schedules again
        assert len(scheduled) == 2
    finally:
        loop.close()


def test_subscribers_on_a_loop_receive_every_event_of_a_published_burst() -> None:
    hub = Hub("memory://")
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    async def follow(sub: Subscription, n: int) -> list[int]:
        woken = asyncio.Event()
        sub.set_waker(woken.set, batch)
        seqs: list[int] = []
        while len(seqs) < n:
            await asyncio.wait_for(woken.wait(), 30)
            woken.clear()
            events, _ = sub.get(0)
            seqs += [e.seq for e in events]
        return seqs

    try:
        batch = WakeBatch(loop.call_soon_threadsafe)
        subs = [hub.subscribe(["burst"]) for _ in range(20)]
        futures = [asyncio.run_coroutine_threadsafe(follow(sub, 200), loop) for sub in subs]
        hub.publish_many([("burst", {"i": i}) for i in range(100)])
        for i in range(100):
            hub.publish("burst", {"i": 100 + i})
        for future in futures:
            assert future.result(timeout=60) == list(range(1, 201))
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
        hub.close()
