"""Logging a failure that repeats: one line when it starts, a count, one line when it ends.

A producer ticking every second while Redis is down fails every second, and logging each
failure with its traceback buried everything else (771 lines in 10 s). A :class:`FailureLog`
logs the first failure of each kind as one line, counts the repeats, says how many there were
every :data:`REMIND_EVERY` seconds while they go on, and logs one line when the work
succeeds again.
"""

from __future__ import annotations

import logging
import threading
import time

from livedash.errors import LivedashError

__all__ = ["REMIND_EVERY", "FailureLog"]

#: Seconds between the "still failing" lines of a failure that goes on.
REMIND_EVERY = 60.0


class FailureLog:
    """The log of one piece of recurring work (a producer, a source, the store reader).

    ``what`` names the work in each line (``"producer for stream 'clock'"``). Call
    :meth:`failed` with each exception and :meth:`succeeded` after each success; both are
    cheap while nothing changes, and safe to call from several threads."""

    def __init__(
        self, logger: logging.Logger, what: str, *, remind_every: float = REMIND_EVERY
    ) -> None:
        self.logger = logger
        self.what = what
        self.remind_every = remind_every
        self._lock = threading.Lock()
        #: failures since the last success, by kind
        self._counts: dict[str, int] = {}
        self._since = 0.0
        self._reminded = 0.0

    @property
    def failing(self) -> bool:
        """True between a failure and the next success."""
        return bool(self._counts)

    def failed(self, exc: BaseException, kind: str | None = None) -> None:
        """Count ``exc``; log it if it is the first of its ``kind`` (default: its type's
        name) since the last success, or if the last line about this work is
        ``remind_every`` seconds old."""
        kind = kind or type(exc).__name__
        now = time.monotonic()
        with self._lock:
            if not self._counts:
                self._since = self._reminded = now
            count = self._counts[kind] = self._counts.get(kind, 0) + 1
            remind = count > 1 and now - self._reminded >= self.remind_every
            if count == 1 or remind:
                self._reminded = now
            summary = _summary(self._counts)
        if count == 1:
            # livedash's own errors (store unreachable, event rejected) say in their message
            # what is wrong and what to do. Anything else is a bug in the code that was
            # called, whose traceback is needed, once.
            ours = isinstance(exc, LivedashError)
            self.logger.log(
                logging.WARNING if ours else logging.ERROR,
                "livedash: %s failed: %s: %s (repeats are counted, not logged, until it recovers)",
                self.what,
                kind,
                exc,
                exc_info=None if ours else exc,
            )
        elif remind:
            self.logger.warning(
                "livedash: %s still failing after %.0f s: %s", self.what, now - self._since, summary
            )

    def succeeded(self) -> None:
        """Log one line saying the work recovered, if it was failing."""
        if not self._counts:  # the common case, without taking the lock
            return
        with self._lock:
            counts, self._counts = self._counts, {}
            took = time.monotonic() - self._since
        if counts:
            # A warning, like the failure it ends: whoever sees one must see the other.
            self.logger.warning(
                "livedash: %s recovered after %.1f s (%s)", self.what, took, _summary(counts)
            )


def _summary(counts: dict[str, int]) -> str:
    total = sum(counts.values())
    kinds = ", ".join(f"{n} x {kind}" for kind, n in counts.items())
    return f"{total} failure{'s' if total != 1 else ''}: {kinds}"
