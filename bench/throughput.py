"""Store throughput: events/s published on one Hub and fanned out to 10 subscribers.

``python -m bench.throughput STORE_URL --seconds S --subscribers 10 [--loop]`` prints one
JSON object. Run in its own process so that nothing else shares its GIL.

Subscribers are threads blocking in ``Subscription.get`` by default; with ``--loop`` they are
coroutines on one asyncio loop (in its own thread), woken the way the ASGI transport wakes an
open event stream: through the loop's ``WakeBatch`` where the livedash measured has one (one
cross-thread call per burst), else one ``call_soon_threadsafe`` per subscriber.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import threading
import time
from typing import Any

from livedash import Hub
from livedash.fanout import Overflow

STREAM = "bench-throughput"


def loop_subscribers(
    subs: list[Any],
    got: list[int],
    last_at: list[float],
    overflows: list[int],
    done: threading.Event,
) -> tuple[threading.Thread, str]:
    """Drain ``subs`` from coroutines on one event loop in a thread; how they are woken."""
    loop = asyncio.new_event_loop()
    try:
        from livedash.fanout import WakeBatch

        batch: Any = WakeBatch(loop.call_soon_threadsafe)
        how = "WakeBatch: one call_soon_threadsafe per burst"
    except ImportError:  # livedash before the serving core
        batch = None
        how = "call_soon_threadsafe per subscriber"

    async def drain(i: int) -> None:
        sub = subs[i]
        woken = asyncio.Event()
        if batch is not None:
            sub.set_waker(woken.set, batch)
        else:
            sub.set_waker(lambda: loop.call_soon_threadsafe(woken.set))
        while True:
            woken.clear()
            if not sub.ready:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(0.2):
                        await woken.wait()
            try:
                events, _ = sub.get(0)
            except Overflow:
                overflows[i] += 1
                continue
            if events:
                got[i] += len(events)
                last_at[i] = time.perf_counter()
            elif done.is_set() or sub.closed:
                sub.set_waker(None)
                return

    async def main() -> None:
        await asyncio.gather(*(drain(i) for i in range(len(subs))))

    thread = threading.Thread(target=lambda: loop.run_until_complete(main()), daemon=True)
    thread.start()
    return thread, how


def measure(
    store: str,
    seconds: float,
    subscribers: int,
    batch: int,
    max_events: int,
    publishers: int = 1,
    on_loop: bool = False,
) -> Any:
    hub = Hub(store)
    hub.stream(STREAM, max_events=100_000)
    subs = [hub.subscribe([STREAM]) for _ in range(subscribers)]
    got = [0] * subscribers
    last_at = [0.0] * subscribers
    overflows = [0] * subscribers
    done = threading.Event()

    def drain(i: int) -> None:
        sub = subs[i]
        while True:
            try:
                events, _ = sub.get(0.2)
            except Overflow:
                overflows[i] += 1  # a real client would now re-read the store
                continue
            if events:
                got[i] += len(events)
                last_at[i] = time.perf_counter()
            elif done.is_set() or sub.closed:
                return

    if on_loop:
        looper, wake = loop_subscribers(subs, got, last_at, overflows, done)
        threads = [looper]
    else:
        threads = [
            threading.Thread(target=drain, args=(i,), daemon=True) for i in range(subscribers)
        ]
        wake = "a thread per subscriber"
        for t in threads:
            t.start()
    counts = [0] * publishers
    data = {"price": 101.25, "symbol": "ACME", "volume": 300}
    start = time.perf_counter()
    end = start + seconds

    def publish(i: int) -> None:
        while time.perf_counter() < end and sum(counts) < max_events:
            if batch == 1:
                hub.publish(STREAM, data)
            else:
                hub.publish_many([(STREAM, data)] * batch)
            counts[i] += batch

    if publishers == 1:
        publish(0)
    else:  # concurrent publishers (request threads, sources): the Redis store groups them
        pubs = [threading.Thread(target=publish, args=(i,)) for i in range(publishers)]
        for t in pubs:
            t.start()
        for t in pubs:
            t.join()
    published = sum(counts)
    publish_elapsed = time.perf_counter() - start
    # Let the subscribers finish what is queued (bounded).
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(
        g + 0 < published and s.pending() for g, s in zip(got, subs, strict=True)
    ):
        time.sleep(0.05)
    time.sleep(0.3)
    done.set()
    for t in threads:
        t.join(5)
    fan_elapsed = max(last_at) - start if any(last_at) else publish_elapsed
    hub.close()
    delivered = sum(got)
    return {
        "store": store.split(":")[0],
        "batch": batch,
        "publishers": publishers,
        "subscribers": subscribers,
        "subscribers_on": "event loop" if on_loop else "threads",
        "wake": wake,
        "published": published,
        "publish_seconds": round(publish_elapsed, 3),
        "published_per_s": round(published / publish_elapsed),
        "delivered_per_subscriber_min": min(got) if got else None,
        "fanned_out_per_s": round(delivered / fan_elapsed),
        "complete_per_s": round(min(got) / fan_elapsed) if got else None,
        "overflows": sum(overflows),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("store")
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--subscribers", type=int, default=10)
    parser.add_argument("--batch", type=int, default=1, help="events per publish_many call")
    parser.add_argument("--max-events", type=int, default=2_000_000)
    parser.add_argument("--publishers", type=int, default=1, help="threads publishing at once")
    parser.add_argument(
        "--loop", action="store_true", help="subscribers as coroutines on one event loop"
    )
    args = parser.parse_args(argv)
    result = measure(
        args.store,
        args.seconds,
        args.subscribers,
        args.batch,
        args.max_events,
        args.publishers,
        on_loop=args.loop,
    )
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
