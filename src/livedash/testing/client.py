"""A stream client for tests, and the exactly-once check it applies to what it receives.

:class:`StreamClient` follows streams of a running livedash server in a thread of its own, as
livedash's browser client does: in either wire format, reconnecting from its own cursor
whenever a connection ends, recording every event. :class:`ExactlyOnce` is the rule it checks:
per stream, every seq once and in order, with no gap unless the server said ``reset``.
"""

from __future__ import annotations

import http.client
import threading
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple
from urllib.parse import urlsplit

from livedash.events import parse_cursor
from livedash.testing.reader import WireReader
from livedash.testing.sse import Message, RawStream

#: How many problems :class:`ExactlyOnce` describes in words (all are counted).
DESCRIBED = 20


class ExactlyOnce:
    """Checks the events a client received, stream by stream: each seq once, in order, and
    the next one after it, unless the server announced a ``reset`` (the stream continues at
    the reset's seq: retention dropped what the client had not read, or the store went
    back).

    ``cursor`` is where the client started (``{stream: last seq it had}``); a stream not in it
    starts wherever its first event, or the server's first position for it, says."""

    def __init__(self, cursor: Mapping[str, int] | None = None) -> None:
        #: stream -> the last seq received (or the position the client started from)
        self.last: dict[str, int] = dict(cursor or {})
        #: stream -> the seq a ``reset`` said the stream continues at, until it does
        self.pending_resets: dict[str, int] = {}
        self.received = 0
        #: events received again, or out of order
        self.duplicates = 0
        #: events skipped with no reset: lost
        self.missing = 0
        #: events skipped after a reset said so (the client was told)
        self.skipped_after_reset = 0
        self.resets = 0
        #: the first :data:`DESCRIBED` problems, in words
        self.problems: list[str] = []

    def position(self, stream: str, seq: int) -> None:
        """The server says ``stream`` is at ``seq`` (a format-1 id, a format-2 ``sync``):
        where it starts, if nothing has said so yet."""
        self.last.setdefault(stream, seq)

    def reset(self, stream: str, seq: int) -> None:
        """The server says ``stream`` continues at ``seq``."""
        self.resets += 1
        self.pending_resets[stream] = seq

    def event(self, stream: str, seq: int) -> bool:
        """Record an event; False when it was received before (or comes out of order), so
        a client can drop it. A gap is counted in :attr:`missing` and described in
        :attr:`problems`, but the event itself is new."""
        self.received += 1
        last = self.last.get(stream)
        if stream in self.pending_resets:
            continued = self.pending_resets.pop(stream)
            if seq != continued:
                self.missing += max(0, seq - continued)
                self._problem(f"{stream}: seq {seq} after a reset to {continued}")
            elif last is not None and seq > last + 1:
                self.skipped_after_reset += seq - last - 1
        elif last is not None and seq <= last:
            self.duplicates += 1
            self._problem(f"{stream}: seq {seq} again or out of order (after {last})")
            return False
        elif last is not None and seq != last + 1:
            self.missing += seq - last - 1
            self._problem(f"{stream}: seq {seq} after {last}, with no reset: {seq - last - 1} lost")
        self.last[stream] = seq
        return True

    def _problem(self, text: str) -> None:
        if len(self.problems) < DESCRIBED:
            self.problems.append(text)

    @property
    def ok(self) -> bool:
        """True while nothing was received twice, out of order or lost."""
        return self.duplicates == 0 and self.missing == 0 and not self.problems

    def check(self) -> None:
        """Raise :class:`AssertionError` describing the problems, if any."""
        if not self.ok:
            raise AssertionError(
                f"not exactly once: {self.duplicates} duplicate or out of order, "
                f"{self.missing} lost; first: {self.problems}"
            )


class Received(NamedTuple):
    """An event as a client received it."""

    stream: str
    seq: int
    ts: float
    data: Any


@dataclass(frozen=True)
class Connection:
    """One connection a :class:`StreamClient` made: its HTTP status, response headers
    (lower-case names) and local port."""

    status: int
    headers: dict[str, str]
    local_port: int


class StreamClient:
    """Follows ``streams`` at ``url`` (a livedash app's base URL) in a thread, as livedash's
    browser client does.

    ``wire`` picks the format (1: the standard one, resumed with ``Last-Event-ID``; 2: the
    compact one livedash's client asks for, resumed with ``?cursor=``). ``cursor`` is where to
    start (``{stream: last seq already had}``), ``query`` more query parameters (``last=a:5``
    for history). When a connection ends or fails the client reconnects after ``retry``
    seconds from where it is, unless ``reconnect`` is False.

    Every event decoded is recorded in :attr:`received` (those sent twice too) and checked by
    :attr:`exactly_once`; :meth:`wait` blocks until what was received satisfies a condition.
    Use it as a context manager, or call :meth:`close`."""

    def __init__(
        self,
        url: str,
        streams: str | Sequence[str],
        *,
        wire: int = 1,
        gzip: bool = True,
        cursor: Mapping[str, int] | None = None,
        query: str = "",
        headers: Mapping[str, str] | None = None,
        timeout: float = 30.0,
        retry: float = 0.2,
        reconnect: bool = True,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme != "http" or parts.hostname is None:
            raise ValueError(f"url must be http://HOST:PORT[/prefix], got {url!r}")
        self.host = parts.hostname
        self.port = parts.port or 80
        self.prefix = parts.path.rstrip("/")
        self.streams = [streams] if isinstance(streams, str) else list(streams)
        if wire not in (1, 2):
            raise ValueError(f"wire must be 1 or 2, got {wire!r}")
        self.wire, self.gzip, self.query = wire, gzip, query
        self.headers = dict(headers or {})
        self.timeout, self.retry, self.reconnect = timeout, retry, reconnect
        self.reader = WireReader(cursor)
        self.exactly_once = ExactlyOnce(cursor)
        #: every event decoded, in order, those sent twice included
        self.received: list[Received] = []
        #: the named events that carry no stream data (``reset``, ``status``, ``hello``, ...)
        self.controls: list[Message] = []
        self.connections: list[Connection] = []
        #: why connections ended or failed (a response that ends, a refused connect, ...)
        self.errors: list[str] = []
        self.reconnects = 0
        #: the id of the last format-1 message that had one
        self.last_id: str | None = None
        #: set once the server said where every stream is: the subscription is live
        self.subscribed = threading.Event()
        self._cursor_given = bool(cursor)
        self._changed = threading.Condition()
        self._stopping = threading.Event()
        self._finished = False
        self._current: RawStream | None = None
        self._thread = threading.Thread(
            target=self._run, name=f"stream-client-{','.join(self.streams)}", daemon=True
        )

    # -- life ---------------------------------------------------------------------------------
    def start(self, timeout: float | None = None) -> StreamClient:
        """Start following; with ``timeout``, wait until subscribed (or raise
        :class:`TimeoutError`)."""
        self._thread.start()
        if timeout is not None and not self.subscribed.wait(timeout):
            raise TimeoutError(f"not subscribed within {timeout:g} s: {self.errors[-3:]}")
        return self

    def drop(self) -> None:
        """Cut the current connection with a reset (RST), as a failing link would; the
        client reconnects from its cursor."""
        current = self._current
        if current is not None:
            current.shut(abort=True)

    def close(self) -> None:
        """Stop following and wait for the thread."""
        self._stopping.set()
        current = self._current
        if current is not None:
            current.shut()
        if self._thread.is_alive():
            self._thread.join(timeout=self.timeout + 5)

    def __enter__(self) -> StreamClient:
        return self if self._thread.is_alive() else self.start(self.timeout)

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- what was received --------------------------------------------------------------------
    def events(self, stream: str | None = None) -> list[Received]:
        """The events received so far (of ``stream`` only, if given)."""
        with self._changed:
            return [e for e in self.received if stream is None or e.stream == stream]

    def seqs(self, stream: str | None = None) -> list[int]:
        """The seqs of :meth:`events`."""
        return [e.seq for e in self.events(stream)]

    def wait(
        self,
        condition: Callable[[list[Received]], bool],
        timeout: float = 30.0,
        what: str = "the condition holds",
    ) -> list[Received]:
        """Block until ``condition(received)`` holds (checked each time events arrive);
        the events received. :class:`TimeoutError` after ``timeout`` seconds, or when the
        client has stopped (``reconnect=False`` and the connection ended)."""
        with self._changed:
            done = self._changed.wait_for(
                lambda: condition(self.received) or self._finished, timeout
            )
            if not done or not condition(self.received):
                raise TimeoutError(
                    f"timed out after {timeout:g} s waiting until {what}: {len(self.received)} "
                    f"events received, last {self.received[-3:]}, errors {self.errors[-3:]}"
                )
            return list(self.received)

    def wait_for_seq(self, stream: str, seq: int, timeout: float = 30.0) -> list[Received]:
        """Block until an event of ``stream`` with seq >= ``seq`` arrived; ``stream``'s
        events."""
        self.wait(
            lambda got: any(e.stream == stream and e.seq >= seq for e in reversed(got)),
            timeout,
            f"{stream} reaches seq {seq}",
        )
        return self.events(stream)

    def check(self) -> None:
        """Raise :class:`AssertionError` unless every event arrived exactly once, in order
        (see :class:`ExactlyOnce`)."""
        with self._changed:
            self.exactly_once.check()

    # -- the thread ---------------------------------------------------------------------------
    def _path(self) -> str:
        params = [f"stream={s}" for s in self.streams]
        if self.wire == 2:
            params.append("wire=2")
            if self.reader.cursor:
                params.append(self.reader.query())
        elif self.last_id is None and self._cursor_given:
            params.append(self.reader.query())
        if self.query:
            params.append(self.query)
        return f"{self.prefix}/livedash/events?{'&'.join(params)}"

    def _run(self) -> None:
        try:
            while not self._stopping.is_set():
                try:
                    self._follow()
                except (OSError, ValueError, zlib.error, http.client.HTTPException) as exc:
                    self.errors.append(repr(exc))
                if self._stopping.is_set() or not self.reconnect:
                    break
                self.reconnects += 1
                self._stopping.wait(self.retry)
        finally:
            with self._changed:
                self._finished = True
                self._changed.notify_all()

    def _follow(self) -> None:
        headers = dict(self.headers)
        if self.wire == 1 and self.last_id is not None:
            headers["Last-Event-ID"] = self.last_id
        stream = RawStream(
            self.port,
            self._path(),
            gzip=self.gzip,
            timeout=self.timeout,
            host=self.host,
            headers=headers,
        )
        self._current = stream
        try:
            if self._stopping.is_set():  # closed while this connection was being made
                return
            self.connections.append(Connection(stream.status, stream.headers, stream.local_port))
            if stream.status != 200:
                self.errors.append(f"HTTP {stream.status}")
                return
            for message in stream.messages():
                if self._stopping.is_set():
                    return
                self._read(message)
            self.errors.append("the response ended")
        finally:
            self._current = None
            stream.close()

    def _read(self, message: Message) -> None:
        with self._changed:
            events = self.reader.decode(message)
            check = self.exactly_once
            if message.event == "message":
                for stream, seq, ts, data in events:
                    check.event(stream, seq)
                    self.received.append(Received(stream, seq, ts, data))
                if message.id is not None:
                    self.last_id = message.id
                    for stream, seq in parse_cursor(message.id).items():
                        check.position(stream, seq)
                    if not events:  # format 1's position message: subscribed
                        self.subscribed.set()
            else:
                self.controls.append(message)
                if message.event == "reset":
                    reset = message.json()
                    check.reset(reset["stream"], reset["seq"])
                elif message.event == "sync":
                    for stream, seq in message.json().items():
                        check.position(stream, seq)
                    self.subscribed.set()
            self._changed.notify_all()
