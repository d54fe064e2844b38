"""The steps a route's handler yields instead of doing I/O itself.

Every handler of the route table (:mod:`livedash.transport.routes`) is a generator: it names
each wait, each blocking store call and each body read as a step, and returns its response.
Two small drivers run the same handlers: :func:`run_blocking` on a thread (Flask, WSGI) and
:func:`livedash.transport.driver.drive` on an event loop (every ASGI server), which awaits the
waits and sends the blocking parts to a thread. So the serving logic exists once.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field

# The follower's steps are the core's own (it names its waits too); the handlers' adds the
# body read, the response and the start of a stream.
from livedash.follow import BLOCKING, Blocking, Sleep, Wait

__all__ = [
    "BLOCKING",
    "Blocking",
    "Handler",
    "ReadBody",
    "Response",
    "Sleep",
    "Step",
    "StreamStart",
    "Wait",
    "run_blocking",
]


@dataclass(frozen=True)
class ReadBody:
    """Read the request body, at most ``limit`` bytes; the driver sends it back into the
    handler (``None`` when the client went away first)."""

    limit: int


@dataclass
class Response:
    """A complete response. ``headers`` are extra to ``Content-Type`` and ``Content-Length``."""

    status: int
    body: bytes
    content_type: str
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class StreamStart:
    """Start a streamed ``200`` response with ``headers``; every ``str`` step after it is a
    chunk of the body (gzip-encoded by the driver when ``gzip``), until the handler returns.
    ``compact`` picks :func:`~livedash.transport.wire.gzip_chunks`'s browser-only flush."""

    headers: dict[str, str]
    gzip: bool = False
    compact: bool = False


#: What a handler yields.
Step = str | Wait | Sleep | Blocking | ReadBody | StreamStart
#: A route's handler: yields steps, is sent the body for a :class:`ReadBody`, returns its
#: response (``None`` after a :class:`StreamStart`).
Handler = Generator[Step, bytes | None, Response | None]


def run_blocking(
    handler: Handler, read_body: Callable[[int], bytes | None]
) -> Response | tuple[StreamStart, Iterator[str]]:
    """Run ``handler`` on this thread up to its response: a :class:`Response`, or the start of
    a stream and an iterator of its chunks that blocks on each wait (for a WSGI server, where
    each open stream holds a thread). Exceptions before the start propagate."""
    sent: bytes | None = None
    while True:
        try:
            step = handler.send(sent)
        except StopIteration as done:
            assert isinstance(done.value, Response), "a handler must return its response"
            return done.value
        sent = None
        if isinstance(step, ReadBody):
            sent = read_body(step.limit)
        elif isinstance(step, StreamStart):
            return step, _chunks(handler)
        else:
            _block(step)


def _chunks(handler: Handler) -> Iterator[str]:
    try:
        for step in handler:
            if isinstance(step, str):
                yield step
            else:
                _block(step)
    finally:
        handler.close()  # unsubscribes, also when the server closes the response early


def _block(step: Step) -> None:
    if isinstance(step, Wait):
        step.sub.wait(step.timeout)
    elif isinstance(step, Sleep):
        time.sleep(step.seconds)
