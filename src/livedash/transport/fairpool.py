"""A few threads that run the least-served reader's work first: event streams' catch-up pages.

Event streams catching up (history on load, a backlog after a reconnect) read the store a
page at a time, each page once the one before it was sent. With a first-come queue, 500
streams that asked for long backlogs kept a new stream waiting 7 s for its first event behind
their pages (``python -m bench.abuse --only events-stalled``). Ranked by the pages a stream
has had, a stream that just connected runs next, and the long backlogs share what is left.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

T = TypeVar("T")

#: Seconds an idle thread waits for work before it ends (the next submit starts one again).
IDLE_EXIT = 30.0
#: The share of its time a thread works while other work waits behind it (it rests the rest):
#: 500 streams catching up at once kept the interpreter busy and a page request beside them
#: waited 1.2-2.0 s; at 0.3, 0.53-0.59 s (``bench.abuse --only events-stalled``). One reader
#: alone never waits.
DUTY = 0.3


class FairPool:
    """Runs functions on at most ``threads`` threads, lowest ``rank`` first, first-come within
    a rank. Threads start when work comes and end after :data:`IDLE_EXIT` seconds without it,
    so a pool whose event loop is gone leaves no thread behind. While more than one call
    waits, each thread works ``duty`` of its time (:data:`DUTY`)."""

    def __init__(
        self, threads: int, name: str, idle_exit: float = IDLE_EXIT, duty: float = DUTY
    ) -> None:
        if threads < 1:
            raise ValueError(f"a FairPool needs at least 1 thread, got {threads}")
        if not 0 < duty <= 1:
            raise ValueError(f"a FairPool's duty is a share of time in (0, 1], got {duty}")
        self.duty = duty
        self.max_threads = threads
        self.name = name
        self.idle_exit = idle_exit
        self._queue: list[tuple[int, int, Future[Any], Callable[..., Any], tuple[Any, ...]]] = []
        self._order = itertools.count()
        self._lock = threading.Condition()
        self._threads = 0
        self._idle = 0

    def submit(self, rank: int, fn: Callable[..., T], *args: Any) -> Future[T]:
        """Run ``fn(*args)`` on a pool thread after every queued call of a lower rank."""
        future: Future[T] = Future()
        with self._lock:
            heapq.heappush(self._queue, (rank, next(self._order), future, fn, args))
            if self._idle:
                self._lock.notify()
            # More queued than idle threads can take: another thread, up to the most.
            if len(self._queue) > self._idle and self._threads < self.max_threads:
                self._threads += 1
                threading.Thread(
                    target=self._work, name=f"{self.name}-{self._threads}", daemon=True
                ).start()
        return future

    def _work(self) -> None:
        while True:
            with self._lock:
                while not self._queue:
                    self._idle += 1
                    try:
                        woken = self._lock.wait(self.idle_exit)
                    finally:
                        self._idle -= 1
                    if not woken and not self._queue:
                        self._threads -= 1
                        return
                _, _, future, fn, args = heapq.heappop(self._queue)
            if not future.set_running_or_notify_cancel():
                continue
            started = time.perf_counter()
            try:
                result = fn(*args)
            except BaseException as exc:  # the caller's to handle, as with any executor
                future.set_exception(exc)
            else:
                future.set_result(result)
            if self.duty < 1 and len(self._queue) > 1:
                # Contended: rest in proportion to the work just done (see DUTY).
                time.sleep((time.perf_counter() - started) * (1 / self.duty - 1))
