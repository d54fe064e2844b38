"""Cursor-based polling: the same events as the SSE stream, as JSON, for clients that
cannot hold a stream open."""

from __future__ import annotations

import contextlib
from collections.abc import Generator
from typing import Any

from livedash.events import format_cursor
from livedash.follow import read_once
from livedash.hub import Hub, Overflow
from livedash.transport.params import StreamRequest
from livedash.transport.steps import BLOCKING, Step, Wait
from livedash.transport.wire import wire

#: Longest a long-poll request may wait for new events.
MAX_WAIT = 25.0


def poll(hub: Hub, req: StreamRequest, wait: float = 0.0) -> Generator[Step, object, Any]:
    """Events after the request's cursor (or the last ``last`` events of streams without one),
    a page per stream (:func:`~livedash.follow.read_once`: at most ``BATCH_LIMIT`` events
    each and 256 KiB in all), plus the cursor to send next time: the body of ``GET /poll``,
    returned by this generator of steps. With ``wait`` > 0 and nothing new, a long poll: it
    waits up to ``wait`` seconds for the next event."""
    yield BLOCKING
    events, cursor, resets = read_once(hub, req.streams, req.cursor, req.last)
    if wait > 0 and not events and not resets:
        # Subscribing after the first read is safe because the second read starts from that
        # read's cursor: an event published in between is read, not missed.
        sub = hub.subscribe(req.streams)
        try:
            events, cursor, resets = read_once(hub, req.streams, cursor, {})
            if not events and not resets:
                yield Wait(sub, wait)
                with contextlib.suppress(Overflow):
                    sub.get(0)
                yield BLOCKING
                events, cursor, resets = read_once(hub, req.streams, cursor, {})
        finally:
            hub.unsubscribe(sub)
    return {"events": wire(events), "cursor": format_cursor(cursor), "resets": resets}
