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

import numpy as np
import numpy.typing as npt

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
from livedash.transport.wire import wire

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
    if any('"' in f for f in [*fields, get("x") or ""]):
        raise BadRequest('field names cannot contain a double quote (")')
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
    seqs, ts, xs, columns = read_columns(hub, req, MAX_WINDOW_EVENTS + 1)
    truncated = len(seqs) > MAX_WINDOW_EVENTS
    if truncated:
        del seqs[MAX_WINDOW_EVENTS:], ts[MAX_WINDOW_EVENTS:], xs[MAX_WINDOW_EVENTS:]
        columns = [c[:MAX_WINDOW_EVENTS] for c in columns]
    t_all = np.asarray(ts, dtype=np.float64)
    traces = [
        _trace(t_all, xs, column, req, field) for field, column in zip(req.y, columns, strict=True)
    ]
    return {
        "stream": req.stream,
        "since": req.since,
        "until": req.until,
        "count": len(seqs),
        "points": req.points,
        "algorithm": req.algorithm,
        "downsampled": any(t["downsampled"] for t in traces),
        "truncated": truncated,
        # Live events after this seq are not in the traces; a graph appends them.
        "last_seq": max(head, seqs[-1]) if seqs else head,
        "traces": traces,
    }


def read_columns(
    hub: Hub, req: RangeRequest, limit: int
) -> tuple[list[int], list[float], list[Any], list[list[float | None]]]:
    """seq, ts, x and the numeric values (None where not a number) of every y field.

    Stores with a ``read_columns`` method (SQLite: ``json_extract`` in the query) skip
    decoding whole events, which is most of the time of a day-long window; the others, and
    x axes drawn from a data field, are read with ``read_range`` and picked apart here."""
    data_fields = [f for f in req.y if f not in ("ts", "seq")]
    reader = getattr(hub.store, "read_columns", None)
    if reader is not None and req.x in ("ts", "seq"):
        seqs, ts, values = reader(req.stream, req.since, req.until, data_fields, limit)
        found = dict(zip(data_fields, values, strict=True))
    else:
        events = hub.store.read_range(req.stream, req.since, req.until, limit)
        seqs, ts = [e.seq for e in events], [e.ts for e in events]
        found = {f: [_number(lookup(e, f)) for e in events] for f in data_fields}
        if req.x not in ("ts", "seq"):
            xs = [lookup(e, req.x) for e in events]
    found["ts"], found["seq"] = list(ts), list(seqs)
    if req.x in ("ts", "seq"):
        xs = list(found[req.x])
    return seqs, ts, xs, [found[f] for f in req.y]


def _trace(
    t_all: npt.NDArray[np.float64],
    xs_all: list[Any],
    values: list[float | None],
    req: RangeRequest,
    field: str,
) -> dict[str, Any]:
    # None (missing, not a number) becomes NaN, and is left out: a gap, not a zero.
    y = np.asarray(values, dtype=np.float64)
    keep = np.flatnonzero(np.isfinite(y))
    t, y = t_all[keep], y[keep]
    downsampled = len(y) > req.points
    if downsampled:
        # Buckets are cut on time, whatever the x axis shows; ts may wobble by microseconds
        # between concurrent publishers, so sort by it first.
        if np.any(np.diff(t) < 0):
            order = np.argsort(t, kind="stable")
            keep, t, y = keep[order], t[order], y[order]
        picked = downsample_indices(t, y, req.points, req.algorithm)
        keep, t, y = keep[picked], t[picked], y[picked]
    xs = t.tolist() if req.x == "ts" else [xs_all[i] for i in keep.tolist()]
    trace: dict[str, Any] = {"field": field, "x": xs, "y": y.tolist(), "downsampled": downsampled}
    if req.x != "ts":
        trace["t"] = t.tolist()  # each point's publish time, so a graph can cut its window
    return trace
