"""Running a route's handler on an event loop: the ASGI driver of :mod:`~livedash.transport.steps`.

:func:`drive` runs a handler of :mod:`~livedash.transport.routes` on the event loop: an open
event stream holds no thread, it awaits its subscription (woken through the subscription's
waker); the short blocking store work (subscribe, history and catch-up reads, polls, range
reads, ingest) runs in the loop's default thread pool. One :class:`Ticker` per loop times
every open stream's heartbeat and stall cut. The WSGI twin is
:func:`~livedash.transport.steps.run_blocking`.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from typing import Any

from livedash.hub import Subscription, WakeBatch
from livedash.transport.asgi_types import DisconnectWatch, Receive, Send
from livedash.transport.fairpool import FairPool
from livedash.transport.steps import (
    Blocking,
    Handler,
    ReadBody,
    Response,
    Sleep,
    Step,
    StreamStart,
    Wait,
)
from livedash.transport.wire import gzip_chunks

#: Longest an event stream waits to end its body (a stalled client must not hold a shutdown).
LAST_SEND_TIMEOUT = 1.0


async def drive(
    handler: Handler,
    *,
    batch: WakeBatch,
    ticker: Ticker,
    head: bool,
    receive: Receive,
    send: Send,
    stall_timeout: float | None,
    catch_up: FairPool | None = None,
    watch_disconnect: DisconnectWatch | None = None,
    watch_shutdown: DisconnectWatch | None = None,
) -> None:
    """Run ``handler`` on the event loop and send its response.

    Waits are awaited; steps after a :class:`~livedash.transport.steps.Blocking` marker run in
    a thread until the next wait. Once a stream has started, the client is gone when
    ``receive`` says ``http.disconnect`` or a send fails; a client that reads nothing for
    ``stall_timeout`` seconds is cut (the ASGI twin of ``TCP_USER_TIMEOUT`` under WSGI).
    Either way the handler is closed, which unsubscribes. Subscriptions wake their waits
    through ``batch``, the loop's :class:`~livedash.hub.WakeBatch`; an open stream's
    heartbeat and stall cut are timed by ``ticker``, the loop's :class:`Ticker`. A stream
    ends its body when the server shuts down, if ``watch_shutdown`` tells it so."""
    driver = _Driver(handler, batch, catch_up)
    try:
        sent: bytes | None = None
        while True:
            step = await driver.next(sent)
            sent = None
            if step is None or isinstance(step, Response):
                response = step or Response(500, b"", "text/plain")
                await respond(send, response, head)
                return
            if isinstance(step, ReadBody):
                sent = await _read_at_most(receive, step.limit)
            elif isinstance(step, StreamStart):
                # Built in the call, not kept in a local: this frame lives as long as the
                # stream, and the list would stay with it (~600 B per open stream).
                await send(
                    {
                        "type": "http.response.start",
                        "status": 200,
                        "headers": [
                            (k.lower().encode("latin-1"), v.encode("latin-1"))
                            for k, v in step.headers.items()
                        ],
                    }
                )
                encode = _gzip_encoder(step.compact) if step.gzip else _utf8
                del step  # nor the start's headers, for as long as the stream lasts
                await _stream(
                    driver,
                    encode,
                    receive,
                    send,
                    stall_timeout,
                    ticker,
                    watch_disconnect,
                    watch_shutdown,
                )
                return
            else:
                await driver.wait(step)
    finally:
        driver.close()


class Ticker:
    """One timer per event loop for the deadlines of every open event stream on it: the end
    of a heartbeat wait and the stall cut of a send.

    A timer per wait and per send (``asyncio.timeout``) makes uvloop create and close a
    libuv timer for every event on every stream: measured at 2,000 streams and 1 event/s,
    that was half of the worker's CPU (16.7% -> 8.9% without it) and p99 delivery 419 ms ->
    113 ms. This one timer is set for the nearest deadline it knows of, not for a fixed
    period: a stream that gets an event every second moves its heartbeat on each time, so
    the loop wakes for the ticker about once a heartbeat rather than once a second (a timed
    wake-up a second of the loop was 0.2 of the 1.6 ms CPU a second of a one-client server),
    and a scan of 5,000 streams runs every 15 s rather than every second."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.drivers: set[_Driver] = set()
        self._timer: asyncio.TimerHandle | None = None
        self._due = math.inf

    def add(self, driver: _Driver) -> None:
        """Watch ``driver``'s deadlines until :meth:`discard`; it calls :meth:`schedule`
        for each deadline it sets."""
        self.drivers.add(driver)

    def discard(self, driver: _Driver) -> None:
        """Stop watching ``driver``; the last one out stops the timer."""
        self.drivers.discard(driver)
        if not self.drivers and self._timer is not None:
            self._timer.cancel()
            self._timer, self._due = None, math.inf

    def schedule(self, when: float) -> None:
        """Run the checks by loop time ``when`` (a no-op when they are due sooner already:
        one comparison for a stream whose event moved its heartbeat on)."""
        if when < self._due:
            if self._timer is not None:
                self._timer.cancel()
            self._due = when
            self._timer = self.loop.call_at(when, self._run)

    def _run(self) -> None:
        self._timer, self._due = None, math.inf
        now = self.loop.time()
        nearest = math.inf
        for driver in list(self.drivers):
            due = driver.tick(now)
            if due is not None and due < nearest:
                nearest = due
        if nearest < math.inf:
            self.schedule(nearest)


class _Driver:
    """Advances one handler: in a thread after a :class:`Blocking` marker, on the loop
    otherwise; and owns the subscription wake-ups its waits need."""

    def __init__(
        self, handler: Handler, batch: WakeBatch, catch_up: FairPool | None = None
    ) -> None:
        self.handler = handler
        self.batch = batch
        # Where catch-up reads run (None: the loop's default pool, as other blocking steps),
        # ranked by the catch-up steps this handler has had.
        self.catch_up = catch_up
        self.catching_up = False
        self.pages = 0
        self.loop = asyncio.get_running_loop()
        # The current wait, resolved by wake(). A bare future rather than an asyncio.Event:
        # Event.wait asks for the running loop each time (a getpid() system call in CPython
        # 3.11), measured with py-spy at 5% of the loop's time at 2,000 streams, and each
        # Event keeps a deque of ~600 B per stream.
        self.waiter: asyncio.Future[None] | None = None
        #: the client disconnected (set when the server or the stream's watcher says so,
        #: which also wakes the wait)
        self.gone = False
        #: the server shuts down: the stream ends its body (set with a wake, as ``gone``)
        self.ending = False
        self.offload = False
        self.in_thread: asyncio.Future[Step | Response | None] | None = None
        self.waking: Subscription | None = None
        # Deadlines a Ticker checks (loop time): the current wait's end; the start of a send
        # still in progress, and how long one may take before the client counts as stalled.
        self.wait_until: float | None = None
        self.sending_since: float | None = None
        self.stall_timeout: float | None = None
        self.ticker: Ticker | None = None
        self.task: asyncio.Task[Any] | None = None
        self.stalled = False
        # Inline delivery (see on_ready): while the stream's task waits out a heartbeat, the
        # chunks the subscription's events make are sent from the wake-up itself, through
        # the stream's send and encoder; what cannot finish there is handed to the task.
        self.parked = False
        self.send: Send | None = None
        self.encode: Callable[[str], bytes] | None = None
        self.handover: _Handover | None = None

    def tick(self, now: float) -> float | None:
        """Called by the loop's :class:`Ticker`: end a wait past its deadline, cut a send
        that has not completed within the stall timeout. Returns the next deadline still
        ahead (None: none)."""
        due: float | None = None
        if self.wait_until is not None:
            if now >= self.wait_until:
                self.wake()  # its task sets a new deadline when it waits again
            else:
                due = self.wait_until
        if (
            self.sending_since is not None
            and self.stall_timeout is not None
            and self.task is not None
            and not self.stalled
        ):
            cut = self.sending_since + self.stall_timeout
            if now >= cut:
                self.stalled = True
                self.task.cancel()
            elif due is None or cut < due:
                due = cut
        return due

    def wait_for(self, timeout: float) -> None:
        """The current wait ends ``timeout`` seconds from now, told to the ticker."""
        self.wait_until = due = self.loop.time() + timeout
        if self.ticker is not None:
            self.ticker.schedule(due)

    def sending(self) -> None:
        """A send starts: the ticker cuts it if it lasts past the stall timeout."""
        self.sending_since = now = self.loop.time()
        if self.ticker is not None and self.stall_timeout is not None:
            self.ticker.schedule(now + self.stall_timeout)

    def wake(self) -> None:
        """End the current wait, if there is one (on the loop: the ticker, the watcher when
        the client goes, or :meth:`on_ready` when it cannot deliver by itself)."""
        self.parked = False
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def on_ready(self) -> None:
        """The subscription has something (called on the loop, by the batch, once per burst).

        When the stream's task is parked in its heartbeat wait, the handler is advanced and
        its chunks sent right here, on the batch's one call: no task step and no future per
        stream per event (at 2,000 streams, resolving a future and resuming the task was
        over a quarter of the loop's time per delivery). Anything else (a send the server
        must wait to drain, a catch-up, the end) is handed to the task, which is woken."""
        if not self.parked or self.gone or self.ending or self.handover is not None:
            self.wake()
            return
        self.handover = self._deliver()
        if self.handover is not None:
            self.wake()

    def _deliver(self) -> _Handover | None:
        """Advance the handler and send its chunks until it waits again (None) or something
        must be left to the task (returned)."""
        assert self.send is not None and self.encode is not None
        try:
            while True:
                step = _advance(self.handler, None)
                if isinstance(step, str):
                    body = self.encode(step)
                    del step
                    sending = self.send(
                        {"type": "http.response.body", "body": body, "more_body": True}
                    ).__await__()
                    try:
                        blocker = sending.send(None)
                    except StopIteration:
                        continue  # written: a send suspends only while the buffer drains
                    return _Handover(sending=sending, blocker=blocker)
                if isinstance(step, Wait) and step.sub is self.waking:
                    # Caught up: wait again, the heartbeat counted from now.
                    self.wait_for(step.timeout)
                    return None
                if isinstance(step, Blocking):
                    # Store work (a catch-up after an overflow or a gap): the task's next()
                    # runs it in a thread, as any other blocking step.
                    self._offload(step)
                    return _Handover(advance=True)
                return _Handover(step=step)
        except BaseException as exc:  # raised in the task, as if it had advanced the handler
            return _Handover(error=exc)

    async def _woken(self) -> None:
        self.waiter = waiter = self.loop.create_future()
        try:
            await waiter
        finally:
            self.waiter = None

    async def next(self, sent: bytes | None) -> Step | Response | None:
        """The handler's next step; its response when it returns (None after a stream)."""
        while True:
            if self.offload:
                if self.catching_up and self.catch_up is not None:
                    self.in_thread = asyncio.wrap_future(
                        self.catch_up.submit(self.pages, _advance, self.handler, sent)
                    )
                    self.pages += 1
                else:
                    self.in_thread = self.loop.run_in_executor(None, _advance, self.handler, sent)
                # shield: if this task is cancelled the thread still owns the generator, and
                # closing it must wait for that step to finish (see close).
                step = await asyncio.shield(self.in_thread)
                self.in_thread = None
            else:
                step = _advance(self.handler, sent)
            sent = None
            if isinstance(step, Blocking):
                self._offload(step)
                continue
            if isinstance(step, Wait | Sleep | ReadBody | StreamStart):
                self.offload = False
            return step

    def _offload(self, step: Blocking) -> None:
        """The handler's steps from here to its next wait run in a thread: the catch-up pool
        for a catch-up, the loop's default pool otherwise."""
        self.offload = True
        self.catching_up = step.catch_up

    async def wait(self, step: Step, ticked: bool = False) -> None:
        """Await a :class:`Wait` (until its subscription has something) or a :class:`Sleep`;
        either ends early when the client is gone. ``ticked``: a :class:`Ticker` watches this
        driver, so a wait's deadline is left to it (an open stream's heartbeat) instead of a
        timer of its own (a long poll, whose ``wait=`` is honoured to the millisecond)."""
        if isinstance(step, Wait):
            if self.waking is not step.sub:
                if self.waking is not None:
                    self.waking.set_waker(None)
                self.waking = step.sub
                # on_ready runs on the loop, called by the batch: one wake-up per burst.
                step.sub.set_waker(self.on_ready, self.batch)
            if step.sub.ready or self.gone:
                return
            if ticked:
                self.wait_for(step.timeout)
                try:
                    await self._woken()
                finally:
                    self.wait_until = None
            else:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(step.timeout):
                        await self._woken()
        elif isinstance(step, Sleep) and not self.gone:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(step.seconds):
                    await self._woken()

    def close(self) -> None:
        if self.waking is not None:
            self.waking.set_waker(None)
        if self.in_thread is not None and not self.in_thread.done():
            self.in_thread.add_done_callback(lambda _: self.handler.close())
        else:
            self.handler.close()


def _advance(handler: Handler, sent: bytes | None) -> Step | Response | None:
    try:
        return handler.send(sent)
    except StopIteration as done:
        result: Response | None = done.value
        return result


async def _stream(
    driver: _Driver,
    encode: Callable[[str], bytes],
    receive: Receive,
    send: Send,
    stall_timeout: float | None,
    ticker: Ticker,
    watch_disconnect: DisconnectWatch | None = None,
    watch_shutdown: DisconnectWatch | None = None,
) -> None:
    """Send a started stream's chunks until the handler ends, the client goes (or stops
    reading for ``stall_timeout`` seconds: ``ticker`` cuts it) or the server shuts down."""
    driver.task = asyncio.current_task()
    driver.stall_timeout = stall_timeout
    driver.send, driver.encode = send, encode
    driver.ticker = ticker
    ticker.add(driver)

    def lost() -> None:
        driver.gone = True
        driver.wake()

    def ending() -> None:
        driver.ending = True
        driver.wake()

    async def watch() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        lost()

    # Told by the server when it can (livedash run / serve); otherwise a task of the stream's
    # own awaits receive() (a task and its frames: ~1 KiB per held stream).
    forget = watch_disconnect(lost) if watch_disconnect is not None else None
    watcher = asyncio.create_task(watch()) if forget is None else None
    # A shutdown is heard only from a server that tells it; elsewhere the server's own
    # graceful timeout ends the stream (see the CancelledError below).
    forget_shutdown = watch_shutdown(ending) if watch_shutdown is not None else None
    try:
        try:
            while not driver.gone and not driver.ending:
                handover, driver.handover = driver.handover, None
                if handover is None or handover.advance:
                    step = await driver.next(None)
                elif handover.sending is not None:
                    driver.sending()
                    try:
                        await _finish(handover.sending, handover.blocker)
                    except OSError:
                        return  # the client is gone (see below)
                    finally:
                        driver.sending_since = None
                    continue
                elif handover.error is not None:
                    if isinstance(handover.error, OSError):
                        return
                    raise handover.error
                else:
                    step = handover.step
                if step is None or isinstance(step, Response):
                    break
                if isinstance(step, str):
                    message = {
                        "type": "http.response.body",
                        "body": encode(step),
                        "more_body": True,
                    }
                    del step  # the text is not kept while a slow client takes its bytes
                    driver.sending()
                    try:
                        await send(message)
                    except OSError:
                        # The client is gone: nothing more can be sent, and returning without
                        # ending the body makes the server drop the connection.
                        return
                    finally:
                        driver.sending_since = None
                elif isinstance(step, Wait):
                    driver.parked = True
                    try:
                        await driver.wait(step, ticked=True)
                    finally:
                        driver.parked = False
                else:
                    await driver.wait(step)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()
            if driver.stalled:
                # The ticker cut a client that stopped reading: drop the connection (return
                # without ending the body), which frees its subscription.
                return
            # The server cancels the streams still open when its graceful shutdown runs out
            # (uvicorn --timeout-graceful-shutdown). The client reconnects and resumes anyway:
            # end the body cleanly rather than have the server log a traceback per stream.
            # A cancel that insists (a cancel scope) interrupts the last send and propagates.
        if not driver.gone:
            with contextlib.suppress(OSError, TimeoutError):
                async with asyncio.timeout(LAST_SEND_TIMEOUT):
                    await send({"type": "http.response.body", "body": b"", "more_body": False})
    finally:
        ticker.discard(driver)
        if watcher is not None:
            watcher.cancel()
        if forget is not None:
            forget()
        if forget_shutdown is not None:
            forget_shutdown()


@dataclass
class _Handover:
    """What inline delivery left for the stream's task: a send still waiting for the
    connection's buffer to drain (the coroutine and what it waits on), the handler's next
    step, the error advancing it raised, or (``advance``) steps to run in a thread."""

    advance: bool = False
    sending: Generator[Any, None, None] | None = None
    blocker: Any = None
    step: Step | Response | None = None
    error: BaseException | None = None


async def _finish(sending: Generator[Any, None, None], blocker: Any) -> None:
    """Run a send (its awaitable's iterator), started outside any task and suspended on
    ``blocker`` (a future, or None for a bare yield), to its end in the current task."""
    try:
        while True:
            if blocker is None:
                await asyncio.sleep(0)
            else:
                # wait() leaves the future's result or error for the coroutine to take.
                await asyncio.wait([blocker])
            blocker = sending.send(None)
    except StopIteration:
        return
    finally:
        sending.close()  # a no-op once finished; ends it if this task was cancelled


async def respond(send: Send, response: Response, head: bool) -> None:
    headers = [
        (b"content-type", response.content_type.encode("latin-1")),
        (b"content-length", str(len(response.body)).encode()),
        *((k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in response.headers.items()),
    ]
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if head else response.body})


def _utf8(chunk: str) -> bytes:
    return chunk.encode("utf-8")


def _gzip_encoder(compact: bool) -> Callable[[str], bytes]:
    """One stream's gzip encoder: each call compresses and flushes one chunk, through the
    same :func:`~livedash.transport.wire.gzip_chunks` the WSGI side uses (fed one chunk at
    a time, so both sides send the same bytes)."""
    pending: list[str] = []

    def feed() -> Iterator[str]:
        while True:
            yield pending.pop()

    compressed = gzip_chunks(feed(), compact=compact)

    def encode(chunk: str) -> bytes:
        pending.append(chunk)
        return next(compressed)

    return encode


async def _read_at_most(receive: Receive, limit: int) -> bytes | None:
    """The request body up to ``limit`` bytes (chunked bodies declare no length); None if
    the client disconnected first."""
    chunks: list[bytes] = []
    size = 0
    while size < limit:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        chunks.append(chunk[: limit - size])
        size += len(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)
