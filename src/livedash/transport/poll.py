"""Cursor-based polling: the same events as the SSE stream, as JSON, for clients that
cannot hold a stream open."""

from __future__ import annotations

import contextlib
from collections.abc import Generator
from typing import Any

from livedash.events import format_cursor
from livedash.hub import Hub, Overflow
from livedash.transport.params import StreamRequest
from livedash.transport.sse import BATCH_LIMIT
from livedash.transport.steps import BLOCKING, Step, Wait
from livedash.transport.wire import wire

#: Longest a long-poll request may wait for new events.
MAX_WAIT = 25.0


def poll(hub: Hub, req: StreamRequest, wait: float = 0.0) -> Generator[Step, object, Any]:
    """Events after the request's cursor (or the last ``last`` events of streams without one),
    at most ``BATCH_LIMIT`` per stream, plus the cursor to send next time: the body of
    ``GET /poll``, returned by this generator of steps. With ``wait`` > 0 and nothing new,
    a long poll: it waits up to ``wait`` seconds for the next event."""
    yield BLOCKING
    body = _collect(hub, req)
    if wait > 0 and not body["events"] and not body["resets"]:
        # Subscribing after the first read is safe because the second read starts from that
        # read's cursor: an event published in between is read, not missed.
        sub = hub.subscribe(req.streams)
        try:
            after = StreamRequest(req.streams, body["_cursor"], {})
            body = _collect(hub, after)
            if not body["events"] and not body["resets"]:
                yield Wait(sub, wait)
                with contextlib.suppress(Overflow):
                    sub.get(0)
                yield BLOCKING
                body = _collect(hub, after)
        finally:
            hub.unsubscribe(sub)
    del body["_cursor"]
    return body


def _collect(hub: Hub, req: StreamRequest) -> dict[str, Any]:
    events = []
    cursor = {}
    resets = []
    for stream in req.streams:
        if stream in req.cursor:
            after = req.cursor[stream]
            batch = hub.read(stream, after, BATCH_LIMIT)
            if not batch and after > 0 and hub.store.head(stream) < after:
                # The stream went backwards (the store lost data): start it over.
                batch = hub.read(stream, 0, BATCH_LIMIT)
                resets.append(stream)
            elif batch and batch[0].seq != after + 1:
                resets.append(stream)
            cursor[stream] = batch[-1].seq if batch else after
        else:
            head = hub.store.head(stream)
            n = req.last.get(stream, 0)
            batch = hub.history(stream, n) if n else []
            cursor[stream] = batch[-1].seq if batch else head
        events.extend(batch)
    hub.stats.delivered(events)
    return {
        "events": wire(events),
        "cursor": format_cursor(cursor),
        "resets": resets,
        "_cursor": cursor,
    }
