"""Time-range reads: ``GET /livedash/range``, for time windows and replays.

Two shapes, one route:

* ``points=N`` (default 2,000): the events of the window, downsampled per trace to at most
  ``N`` points (see :mod:`livedash.downsample`), as ``{"traces": [{"field", "x", "y"}...]}``.
  A graph draws them, then keeps appending live events newer than ``last_seq``.
* ``points=0``: the raw events ``[stream, seq, ts, data]``, oldest first, at most ``limit`` a
  page; ``after=SEQ`` fetches the next page. Replays read this.

The window is ``since``..``until`` (epoch seconds) or the last ``span`` seconds by the
server's clock (so that a browser with a skewed clock still sees the right window).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from livedash.downsample import (
    ALGORITHMS,
    DEFAULT_POINTS,
    MAX_POINTS,
    Algorithm,
    downsample_indices,
)
from livedash.errors import PublishError
from livedash.events import Event, validate_stream_name
from livedash.hub import Hub
from livedash.transport.params import BadRequest, parse_float
from livedash.transport.sse import wire

#: Most events one downsampled window reads from the store (a week at one event per second
#: is 604,800); a larger window is answered from its oldest events with ``truncated: true``.
MAX_WINDOW_EVENTS = 1_000_000
#: Default and largest page of raw events.
RAW_PAGE, MAX_RAW_PAGE = 10_000, 50_000
#: Longest span one request may ask for (a year).
MAX_SPAN = 366 * 86400.0
#: Most y fields (traces) per request.
MAX_FIELDS = 32


@dataclass(frozen=True)
class RangeRequest:
    """A parsed ``/livedash/range`` query."""

    stream: str
    since: float
    until: float | None
    points: int
    x: str
    y: tuple[str, ...]
    algorithm: Algorithm
    limit: int
    after: int


def parse_range_request(
    get: Callable[[str], str | None],
    get_list: Callable[[str], list[str]],
    now: float | None = None,
) -> RangeRequest:
    """Build a :class:`RangeRequest` from query parameters; raise :class:`BadRequest`."""
    now = time.time() if now is None else now
    try:
        stream = validate_stream_name(get("stream") or "")
    except PublishError as exc:
        raise BadRequest(f"{exc} (pass ?stream=NAME)") from None
    until = parse_float(get("until"), "until", 0.0, 1e11, math.nan)
    span = get("span")
    if span is not None and get("since") is not None:
        raise BadRequest("pass either since= (epoch seconds) or span= (seconds back), not both")
    if span is not None:
        seconds = parse_float(span, "span", 0.001, MAX_SPAN, 0.0)
        since = (now if math.isnan(until) else until) - seconds
    elif get("since") is not None:
        since = parse_float(get("since"), "since", 0.0, 1e11, 0.0)
    else:
        raise BadRequest("no window given: add since=EPOCH_SECONDS or span=SECONDS")
    if not math.isnan(until) and until < since:
        raise BadRequest(f"until ({until}) is before since ({since})")
    points = int(parse_float(get("points"), "points", 0, MAX_POINTS, DEFAULT_POINTS))
    if 0 < points < 4:
        raise BadRequest(f"points must be 0 (raw events) or 4..{MAX_POINTS}, got {points}")
    fields = [f for raw in get_list("y") for f in raw.split(",") if f]
    if points and not fields:
        raise BadRequest("downsampled ranges need the fields to draw: add y=FIELD (repeatable)")
    if len(fields) > MAX_FIELDS:
        raise BadRequest(f"too many y fields ({len(fields)}); at most {MAX_FIELDS}")
    algorithm = get("algo") or "minmax"
    if algorithm not in ALGORITHMS:
        raise BadRequest(f"unknown algo {algorithm!r}; use one of {', '.join(ALGORITHMS)}")
    limit = int(parse_float(get("limit"), "limit", 1, MAX_RAW_PAGE, RAW_PAGE))
    after = int(parse_float(get("after"), "after", 0, 2.0**63 - 1, 0))
    return RangeRequest(
        stream=stream,
        since=since,
        until=None if math.isnan(until) else until,
        points=points,
        x=get("x") or "ts",
        y=tuple(fields),
        algorithm=algorithm,
        limit=limit,
        after=after,
    )


def lookup(event: Event, path: str) -> Any:
    """The value at ``path`` (``ts``, ``seq`` or a dotted data field), or None."""
    if path == "ts":
        return event.ts
    if path == "seq":
        return event.seq
    value: Any = event.data
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def read_range(hub: Hub, req: RangeRequest) -> dict[str, Any]:
    """Answer a range request (see the module docstring for the two shapes)."""
    head = hub.store.head(req.stream)
    if req.points == 0:
        events = hub.store.read_range(req.stream, req.since, req.until, req.limit + 1, req.after)
        more = len(events) > req.limit
        events = events[: req.limit]
        return {
            "stream": req.stream,
            "since": req.since,
            "until": req.until,
            "events": wire(events),
            "more": more,
            "last_seq": events[-1].seq if events else max(head, req.after),
        }
    events = hub.store.read_range(req.stream, req.since, req.until, MAX_WINDOW_EVENTS + 1)
    truncated = len(events) > MAX_WINDOW_EVENTS
    del events[MAX_WINDOW_EVENTS:]
    traces = [_trace(events, req, field) for field in req.y]
    return {
        "stream": req.stream,
        "since": req.since,
        "until": req.until,
        "count": len(events),
        "points": req.points,
        "algorithm": req.algorithm,
        "downsampled": any(t["downsampled"] for t in traces),
        "truncated": truncated,
        # Live events after this seq are not in the traces; a graph appends them.
        "last_seq": max(head, events[-1].seq) if events else head,
        "traces": traces,
    }


def _trace(events: list[Event], req: RangeRequest, field: str) -> dict[str, Any]:
    ts: list[float] = []
    ys: list[float] = []
    xs: list[Any] = []
    for event in events:
        y = _number(lookup(event, field))
        if y is None:  # a missing or non-numeric value is a gap, not a zero
            continue
        ts.append(event.ts)
        ys.append(y)
        xs.append(event.ts if req.x == "ts" else lookup(event, req.x))
    downsampled = len(ys) > req.points
    if downsampled:
        # Buckets are cut on time, whatever the x axis shows; ts may wobble by microseconds
        # between concurrent publishers, so sort by it first.
        order = sorted(range(len(ts)), key=ts.__getitem__)
        ts = [ts[i] for i in order]
        ys = [ys[i] for i in order]
        xs = [xs[i] for i in order]
        keep = downsample_indices(ts, ys, req.points, req.algorithm).tolist()
        ts = [ts[i] for i in keep]
        xs = [xs[i] for i in keep]
        ys = [ys[i] for i in keep]
    trace: dict[str, Any] = {"field": field, "x": xs, "y": ys, "downsampled": downsampled}
    if req.x != "ts":
        trace["t"] = ts  # each point's publish time, so a graph can cut its window by time
    return trace
