"""Producers: what feeds streams, run once per deployment. The one producer system.

:class:`Source` is the interface of everything that feeds streams from outside the app (MQTT,
files, HTTP, a market feed: :mod:`livedash.sources`); :class:`Every` is the periodic producer,
which ``@hub.every`` is the friendly spelling of.

A source implements one method, :meth:`Source.run`, which emits events until it is told to
stop. The hub runs it (``hub.add_source(source)``) in a thread of its own and, because it
holds the store lease ``source:NAME`` while it runs, in exactly one process of a
deployment at a time: with four workers on one store, an MQTT topic is still published
once per message, and a polled URL is polled once per period. When the holder dies, the
lease expires and another process starts the source. A source that raises is logged and
started again after a back-off. A failure that repeats (the store is down) is logged once, with
a count, and its end once (:class:`~livedash.failures.FailureLog`).
"""

from __future__ import annotations

import logging
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from livedash.errors import PublishError, StoreError
from livedash.events import validate_stream_name
from livedash.failures import FailureLog

if TYPE_CHECKING:
    from livedash.events import Event


class Host(Protocol):
    """What a producer needs of the hub that runs it."""

    #: unique per process: the owner of the leases this process takes
    instance_id: str

    def publish(self, stream: str, data: Mapping[str, Any]) -> Event:
        """Store one event."""
        ...

    def acquire_lease(self, name: str, ttl: float) -> bool:
        """Take or renew lease ``name`` for ``ttl`` seconds; False while another holds it."""
        ...


log = logging.getLogger(__name__)

#: ``emit(stream, data)``: publish one event (bad events are logged and counted, not raised).
Emit = Callable[[str, Mapping[str, Any]], None]

#: Back-off after a source's run() raised, doubling up to the cap.
RESTART_MIN, RESTART_MAX = 0.5, 30.0


class Source(ABC):
    """Base class of every source. Subclasses implement :meth:`run`.

    ``name`` names the lease (``source:NAME``) that keeps one copy running per deployment;
    two sources with the same name on one store are the same source. ``single=False`` runs
    it in every process instead (for a source that reads something local to each host).
    """

    #: seconds the lease lasts without renewal; a dead holder is replaced after this
    lease_ttl: float = 5.0

    def __init__(self, name: str, *, single: bool = True) -> None:
        self.name = validate_stream_name(name)
        self.single = single
        #: events published so far by this process
        self.published = 0
        #: events that could not be published, and run() failures, so far
        self.errors = 0
        #: set while this process runs the source (holds the lease)
        self.running = threading.Event()
        self._hub: Host | None = None
        self._stop = threading.Event()
        self._supervisor: threading.Thread | None = None
        self._runner: threading.Thread | None = None
        self._runner_stop = threading.Event()
        self._lock = threading.Lock()
        self._dropped = FailureLog(log, f"source {self.name!r} publishing")
        self._lease_failures = FailureLog(log, f"source {self.name!r} lease")
        self._run_failures = FailureLog(log, f"source {self.name!r} (restarted after a back-off)")

    @abstractmethod
    def run(self, emit: Emit, stopping: threading.Event) -> None:
        """Emit events until ``stopping`` is set, then release what was opened and return.

        Block on ``stopping.wait(...)`` rather than ``time.sleep`` so that stopping is
        prompt. Raising is fine: the error is logged and ``run`` is called again later."""

    # -- lifecycle (called by the hub) -------------------------------------------------------
    def start(self, hub: Host) -> None:
        """Begin feeding ``hub``; returns at once. Called by ``hub.add_source``/``hub.start``."""
        with self._lock:
            if self._supervisor is not None:
                return
            self._hub = hub
            self._stop.clear()
            self._supervisor = threading.Thread(
                target=self._supervise, name=f"livedash-source-{self.name}", daemon=True
            )
            self._supervisor.start()

    def stop(self) -> None:
        """Stop running (idempotent); waits a few seconds for :meth:`run` to return."""
        self._stop.set()
        self._runner_stop.set()
        with self._lock:
            supervisor, self._supervisor = self._supervisor, None
        if supervisor is not None and supervisor is not threading.current_thread():
            supervisor.join(timeout=10)

    # -- internals -----------------------------------------------------------------------
    def _emit(self, stream: str, data: Mapping[str, Any]) -> None:
        assert self._hub is not None
        try:
            self._hub.publish(stream, data)
        except PublishError as exc:
            self.errors += 1
            self._dropped.failed(exc, kind=f"event dropped ({exc.reason})")
        else:
            self.published += 1
            self._dropped.succeeded()

    def _holds_lease(self, hub: Host) -> bool:
        if not self.single:
            return True
        try:
            held = hub.acquire_lease(f"source:{self.name}", self.lease_ttl)
        except StoreError as exc:
            self._lease_failures.failed(exc)
            return False
        self._lease_failures.succeeded()
        return held

    def _supervise(self) -> None:
        hub = self._hub
        assert hub is not None
        delay = RESTART_MIN
        restart_at = 0.0
        while not self._stop.is_set():
            # Renewed once half the lease has run: each renewal is a store write and a wake-up
            # of this thread (at ttl/3, 0.26 of the 1.73 ms CPU a second of a seed server
            # with one client).
            wait = self.lease_ttl / 2
            holder = self._holds_lease(hub)
            runner = self._runner
            alive = runner is not None and runner.is_alive()
            if holder and not alive:
                if runner is not None:  # run() returned or raised: restart after a back-off
                    self._runner = None
                    restart_at = time.monotonic() + delay
                    delay = min(RESTART_MAX, delay * 2)
                pause = restart_at - time.monotonic()
                if pause <= 0:
                    self._start_runner()
                else:
                    wait = min(wait, pause)
            elif not holder and alive:
                log.info("livedash: source %r lost its lease; stopping here", self.name)
                self._stop_runner()
            elif alive:
                delay = RESTART_MIN  # it has kept running for a while: forget old failures
                self._run_failures.succeeded()
            self._stop.wait(wait)
        self._stop_runner()

    def _start_runner(self) -> None:
        self._runner_stop = threading.Event()
        stopping = self._runner_stop
        self._runner = threading.Thread(
            target=self._run_once, args=(stopping,), name=f"livedash-run-{self.name}", daemon=True
        )
        self._runner.start()

    def _run_once(self, stopping: threading.Event) -> None:
        self.running.set()
        try:
            self.run(self._emit, stopping)
        except Exception as exc:
            self.errors += 1
            self._run_failures.failed(exc)
        finally:
            self.running.clear()

    def _stop_runner(self) -> None:
        self._runner_stop.set()
        runner, self._runner = self._runner, None
        if runner is not None:
            runner.join(timeout=10)


def ticks(seconds: float, stopping: threading.Event) -> Iterator[None]:
    """Yield at once, then once every ``seconds``, until ``stopping`` is set (checked while
    waiting, so a stop is prompt). A tick that comes late (a slow step, a suspended process)
    moves the schedule on instead of bunching the missed ones."""
    next_tick = time.monotonic()
    while not stopping.wait(max(0.0, next_tick - time.monotonic())):
        next_tick += seconds
        if next_tick < time.monotonic():
            next_tick = time.monotonic() + seconds
        yield


class Every(Source):
    """Calls ``fn`` every ``seconds`` and publishes what it returns to ``stream``
    (``None`` publishes nothing), in one process of the deployment at a time (lease
    ``source:every.STREAM`` unless ``name`` says otherwise). ``@hub.every`` makes one."""

    def __init__(
        self,
        seconds: float,
        fn: Callable[[], Mapping[str, Any] | None],
        stream: str,
        *,
        name: str | None = None,
        single: bool = True,
    ) -> None:
        if seconds <= 0:
            raise ValueError(f"Every needs seconds > 0, got {seconds!r}")
        super().__init__(name or f"every.{validate_stream_name(stream)}", single=single)
        self.seconds = float(seconds)
        self.fn = fn
        self.stream = stream
        self.lease_ttl = max(3 * self.seconds, 3.0)
        # Kept across restarts of run() (a lost lease stops it), so that the recovery of a
        # failure that outlasted one run is still said, once.
        self._tick_failures = FailureLog(log, f"Every({self.seconds:g}) source {self.name!r}")

    def run(self, emit: Emit, stopping: threading.Event) -> None:
        """Call ``fn`` once per period until stopped; a late tick is skipped, not bunched."""
        for _ in ticks(self.seconds, stopping):
            self._call(emit)

    def _call(self, emit: Emit) -> None:
        # One failed call (or a store down for a while) must not stop the ticks.
        try:
            data = self.fn()
            if data is not None:
                emit(self.stream, data)
        except Exception as exc:
            self.errors += 1
            self._tick_failures.failed(exc)
        else:
            self._tick_failures.succeeded()

    def _supervise(self) -> None:
        """One thread ticks, holds the lease and calls ``fn``: the lease is renewed between
        two calls once half of it has run, as the periodic producer always did. A thread of
        its own renewing it (``Source``'s supervisor) cost 0.2 ms CPU a second, an eighth of
        a seed server with one client, for a function that returns within its period. A call
        that takes longer stretches the lease for the next ones, so that a slow ``fn`` keeps
        it (the process that runs it is busy, not dead)."""
        hub = self._hub
        assert hub is not None
        held_until = check_at = 0.0
        for _ in ticks(self.seconds, self._stop):
            asked = time.monotonic()
            if asked >= check_at:
                if self._holds_lease(hub):
                    held_until = asked + self.lease_ttl
                    check_at = asked + self.lease_ttl / 2
                    self.running.set()
                else:
                    if self.running.is_set():
                        log.info("livedash: source %r lost its lease; stopping here", self.name)
                    held_until, check_at = 0.0, asked + self.lease_ttl / 3
                    self.running.clear()
            if time.monotonic() < held_until:
                self._call(self._emit)
                took = time.monotonic() - asked
                if took > self.seconds:  # a slow call: the lease outlives three of them
                    self.lease_ttl = max(self.lease_ttl, 3 * took)
        self.running.clear()
