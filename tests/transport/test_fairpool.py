"""The catch-up pool runs the least-served reader's page first."""

from __future__ import annotations

import threading

import pytest

from livedash.transport.fairpool import FairPool


def test_lowest_rank_runs_first_and_first_come_within_a_rank() -> None:
    pool = FairPool(1, "test-fair")
    gate = threading.Event()
    ran: list[str] = []
    # The one thread is held by the first call while the others queue behind it.
    first = pool.submit(0, gate.wait, 30)
    queued = [
        pool.submit(rank, ran.append, name)
        for rank, name in [(5, "old-a"), (9, "older"), (5, "old-b"), (0, "new")]
    ]
    gate.set()
    assert first.result(30) is True
    for future in queued:
        future.result(30)
    assert ran == ["new", "old-a", "old-b", "older"]


def test_threads_up_to_the_most_then_end_when_idle() -> None:
    pool = FairPool(2, "test-fair-idle", idle_exit=0.2)
    gate = threading.Event()
    started = threading.Barrier(3, timeout=30)

    def hold() -> None:
        started.wait()  # both run at once: two threads
        gate.wait(30)

    futures = [pool.submit(0, hold), pool.submit(0, hold)]
    started.wait()
    names = {t.name for t in threading.enumerate() if t.name.startswith("test-fair-idle")}
    assert len(names) == 2
    gate.set()
    for future in futures:
        future.result(30)
    for thread in [t for t in threading.enumerate() if t.name in names]:
        thread.join(30)
        assert not thread.is_alive()
    # Work after the threads ended starts one again.
    assert pool.submit(0, sum, [1, 2]).result(30) == 3


def test_an_exception_reaches_the_caller() -> None:
    pool = FairPool(1, "test-fair-error")
    with pytest.raises(ZeroDivisionError):
        pool.submit(0, divmod, 1, 0).result(30)
    with pytest.raises(ValueError, match="at least 1 thread"):
        FairPool(0, "none")
    with pytest.raises(ValueError, match="share of time"):
        FairPool(1, "none", duty=0)
