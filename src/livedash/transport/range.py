"""Time-range reads: ``GET /livedash/range``, for time windows and replays.

Two shapes, one route:

* ``points=N`` (default 2,000): the events of the window, downsampled per trace to at most
  ``N`` points (see :mod:`livedash.downsample`), as ``{"traces": [{"field", "x", "y"}...]}``.
  A graph draws them, then keeps appending live events newer than ``last_seq``.
* ``points=0``: the raw events ``[stream, seq, ts, data]``, oldest first, at most ``limit``
  events and about :data:`MAX_PAGE_BYTES` a page; ``"more": true`` says there is another
  page, which ``after=`` the answer's ``last_seq`` fetches. Replays read this.

The window is ``since``..``until`` (epoch seconds) or the last ``span`` seconds by the
server's clock (so that a browser with a skewed clock still sees the right window).

What a request costs is bounded by what it returns, not by the history behind it: the store
is read a chunk of :data:`CHUNK` events at a time (only the fields asked for, as columns),
each chunk folded into at most ``2 * points`` candidates per trace
(:class:`~livedash.downsample.Preselect`) before the next is read, and a raw page stops at
its byte budget. The reads run on :class:`ReadPool`'s own threads, a few at a time per
process, never on the threads that subscribing and publishing use; past its queue a request
is answered 429 with ``Retry-After``, before any work.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from livedash.downsample import ALGORITHMS, DEFAULT_POINTS, MAX_POINTS, Algorithm, Preselect
from livedash.errors import ConfigError, PublishError
from livedash.events import validate_stream_name
from livedash.hub import Hub, Subscription
from livedash.stores.base import CHUNK, Columns
from livedash.transport.params import BadRequest, parse_float

#: What one downsampled window may read from the store: events, field values (events times
#: the fields asked for) and bytes of stored JSON. A larger window is answered from its newest
#: events that fit, with ``truncated: true``. Set so that the costliest window stays well
#: under a second of CPU on a busy 2-core machine, two at a time (``bench/abuse.py``): a window
#: costs ~2.8 us per small event, ~6 us per event of 460 B (SQLite parsing its JSON) and
#: ~0.35 us per further field; at the earlier budget (250,000 events, 64 MiB) eight windows at
#: once cost 1.2 CPU-s each. A day at one event per second (86,400) fits whole.
MAX_WINDOW_EVENTS = 150_000
MAX_WINDOW_VALUES = 600_000
MAX_WINDOW_BYTES = 32 * 1024 * 1024
#: Events whose size estimates the bytes a window holds.
SIZE_SAMPLE = 64
#: Default and largest page of raw events.
RAW_PAGE, MAX_RAW_PAGE = 10_000, 50_000
#: Most bytes of events in one raw page (``points=0``); a single larger event is a page of
#: its own. With events of up to 64 KiB, 50,000 of them would be 3 GiB.
MAX_PAGE_BYTES = 1024 * 1024
#: Events read from the store at a time for a raw page (a page stops at its byte budget, so
#: reading all ``limit`` at once would decode events that are not sent).
RAW_CHUNK = 500
#: ... and for its first read, before the events' size is known (16 of the 64 KiB an event
#: may hold fit the page).
FIRST_RAW_CHUNK = 16
#: Longest span one request may ask for (a year).
MAX_SPAN = 366 * 86400.0
#: Most distinct y fields (traces) per request; a field repeated counts once.
MAX_FIELDS = 32
#: Longest field name (``x`` or one ``y``), in characters.
MAX_FIELD_CHARS = 200
#: Heavy reads run at once per process (:data:`HEAVY_READS_ENV`), and how many more may wait
#: for one of them (:data:`HEAVY_QUEUE_ENV`) before a request is answered 429.
HEAVY_READS, HEAVY_QUEUE = 2, 16
HEAVY_READS_ENV, HEAVY_QUEUE_ENV = "LIVEDASH_HEAVY_READS", "LIVEDASH_HEAVY_QUEUE"
#: Seconds a client refused for a full pool is asked to wait (``Retry-After``).
RETRY_AFTER = 1


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


def _field(name: str, what: str) -> str:
    if len(name) > MAX_FIELD_CHARS:
        raise BadRequest(f"{what} field name is {len(name)} characters; at most {MAX_FIELD_CHARS}")
    if '"' in name:
        raise BadRequest('field names cannot contain a double quote (")')
    return name


def parse_range_request(
    get: Callable[[str], str | None],
    get_list: Callable[[str], list[str]],
    now: float | None = None,
) -> RangeRequest:
    """Build a :class:`RangeRequest` from query parameters; raise :class:`BadRequest`.

    Linear in the query's length and done before any store read: a repeated ``y`` counts
    once, and counting stops at the first field past :data:`MAX_FIELDS`."""
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
    # A dict keeps the order and merges repeats: y=v 32 times is one trace, read once.
    fields: dict[str, None] = {}
    for raw in get_list("y"):
        for name in raw.split(","):
            if name:
                fields[_field(name, "a y")] = None
                if len(fields) > MAX_FIELDS:
                    raise BadRequest(
                        f"too many y fields (more than {MAX_FIELDS}); at most {MAX_FIELDS} "
                        "distinct fields per request"
                    )
    if points and not fields:
        raise BadRequest("downsampled ranges need the fields to draw: add y=FIELD (repeatable)")
    x = _field(get("x") or "ts", "the x")
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
        x=x,
        y=tuple(fields),
        algorithm=algorithm,
        limit=limit,
        after=after,
    )


def _dumps(obj: object) -> str:
    # As every JSON route answers (routes.json_response): compact, ASCII.
    return json.dumps(obj, separators=(",", ":"))


def range_body(hub: Hub, req: RangeRequest) -> bytes:
    """The JSON body answering ``req`` (see the module docstring for the two shapes)."""
    if req.points == 0:
        return _raw_page(hub, req)
    return (_dumps(_downsampled(hub, req)) + "\n").encode()


def _raw_page(hub: Hub, req: RangeRequest) -> bytes:
    """A page of raw events, at most ``req.limit`` and :data:`MAX_PAGE_BYTES`, encoded as it
    is read. Each store read asks for about as many events as the bytes left hold (going by
    the size of those read so far), so events that would not fit are not decoded."""
    parts: list[str] = []
    size = 0
    more = False
    after = req.after
    want = FIRST_RAW_CHUNK
    while not more:
        want = min(want, req.limit + 1 - len(parts))
        events = hub.store.read_range(req.stream, req.since, req.until, want, after)
        for event in events:
            text = _dumps([event.stream, event.seq, round(event.ts, 3), event.data])
            if len(parts) == req.limit or (parts and size + len(text) + 1 > MAX_PAGE_BYTES):
                more = True
                break
            parts.append(text)
            size += len(text) + 1
            after = event.seq
        if len(events) < want:
            break
        left = MAX_PAGE_BYTES - size
        want = max(1, min(RAW_CHUNK, left * len(parts) // max(size, 1) + 1))
    last_seq = after if parts else max(hub.store.head(req.stream), req.after)
    head = _dumps({"stream": req.stream, "since": req.since, "until": req.until})[:-1]
    tail = _dumps({"more": more, "last_seq": last_seq})[1:]
    return f'{head},"events":[{",".join(parts)}],{tail}\n'.encode()


def _downsampled(hub: Hub, req: RangeRequest) -> dict[str, Any]:
    """The traces of a window, read a chunk at a time: memory holds one chunk (only the
    fields asked for) and at most ``2 * points`` candidates per trace. A window past the
    read budget is answered from its newest events that fit, with ``truncated: true``."""
    store = hub.store
    head = store.head(req.stream)
    data_fields = [f for f in req.y if f not in ("ts", "seq")]
    labels = [] if req.x in ("ts", "seq") else [req.x]
    first, last = store.window(req.stream, req.since, req.until)
    budget = _budget(hub, req, len(data_fields) + len(labels), first, last)
    truncated = last - first > budget
    after = last - budget if truncated else first
    traces = {field: Preselect(req.points) for field in req.y}
    count = scanned = 0
    while True:
        want = min(CHUNK, budget - count)
        chunk = store.read_columns(
            req.stream, req.since, req.until, data_fields, want, after, labels
        )
        if chunk.seqs:
            _fold(chunk, req, data_fields, traces)
            count += len(chunk.seqs)
            scanned += chunk.scanned
            after = chunk.seqs[-1]
        if len(chunk.seqs) < want:
            break
        if count >= budget or scanned > 2 * MAX_WINDOW_BYTES:
            # Events arrived since the window was measured, or they are larger than the
            # sample said: stop at the budget all the same.
            truncated = True
            break
    out = [_trace(field, traces[field], req) for field in req.y]
    return {
        "stream": req.stream,
        "since": req.since,
        "until": req.until,
        "count": count,
        "points": req.points,
        "algorithm": req.algorithm,
        "downsampled": any(t["downsampled"] for t in out),
        "truncated": truncated,
        # Live events after this seq are not in the traces; a graph appends them.
        "last_seq": max(head, after),
        "traces": out,
    }


def _budget(hub: Hub, req: RangeRequest, fields: int, first: int, last: int) -> int:
    """How many of the window's newest events one request may read: at most
    :data:`MAX_WINDOW_EVENTS`, :data:`MAX_WINDOW_VALUES` field values and, going by the size
    of the newest :data:`SIZE_SAMPLE` events, :data:`MAX_WINDOW_BYTES` of stored JSON."""
    budget = min(MAX_WINDOW_EVENTS, MAX_WINDOW_VALUES // max(1, fields))
    if last - first > SIZE_SAMPLE:
        sample = hub.store.read_columns(
            req.stream, req.since, req.until, [], SIZE_SAMPLE, last - SIZE_SAMPLE
        )
        if sample.scanned:
            budget = min(budget, MAX_WINDOW_BYTES * len(sample.seqs) // sample.scanned)
    return max(budget, SIZE_SAMPLE)


def _fold(
    chunk: Columns, req: RangeRequest, data_fields: list[str], traces: dict[str, Preselect]
) -> None:
    """Feed one chunk's finite points of every trace to its :class:`Preselect`."""
    t = np.asarray(chunk.ts, dtype=np.float64)
    seqs = np.asarray(chunk.seqs, dtype=np.int64)
    payload: npt.NDArray[Any] | None = None
    if req.x == "seq":
        payload = seqs
    elif req.x != "ts":
        payload = np.empty(len(seqs), dtype=object)
        payload[:] = chunk.labels[0]
    values = dict(zip(data_fields, chunk.values, strict=True))
    for field, preselect in traces.items():
        # None (missing, not a number) becomes NaN, and is left out: a gap, not a zero.
        if field == "ts":
            y = t
        elif field == "seq":
            y = seqs.astype(np.float64)
        else:
            y = np.asarray(values[field], dtype=np.float64)
        keep = np.isfinite(y)
        preselect.add(t[keep], y[keep], None if payload is None else payload[keep])


def _trace(field: str, preselect: Preselect, req: RangeRequest) -> dict[str, Any]:
    t, y, payload, downsampled = preselect.result(req.algorithm)
    xs = t.tolist() if payload is None else payload.tolist()
    trace: dict[str, Any] = {"field": field, "x": xs, "y": y.tolist(), "downsampled": downsampled}
    if req.x != "ts":
        trace["t"] = t.tolist()  # each point's publish time, so a graph can cut its window
    return trace


# -- the heavy-read pool ------------------------------------------------------------------------
class Job:
    """One read submitted to a :class:`ReadPool`: ``signal`` becomes ready when it is done
    (a :class:`~livedash.hub.Subscription` that no fan-out feeds, so a route's handler can
    wait for it with the :class:`~livedash.transport.steps.Wait` step its drivers know: on
    an event loop no thread waits, under WSGI the request's own thread does)."""

    def __init__(self) -> None:
        self.signal = Subscription((), 1)
        self.done = False
        self._result: bytes = b""
        self._error: BaseException | None = None

    def finish(self, result: bytes, error: BaseException | None) -> None:
        """Record the outcome and wake the waiter."""
        self._result, self._error = result, error
        self.done = True
        self.signal.set_status("done")

    def result(self) -> bytes:
        """The read's answer; raises what the read raised."""
        if self._error is not None:
            raise self._error
        return self._result


class ReadPool:
    """Threads of their own for heavy reads (range windows), ``workers`` at a time per
    process, with at most ``queue`` more waiting; past that :meth:`submit` refuses, and the
    route answers 429 before it does any work.

    Under uvicorn every other blocking step (subscribing, publishing, a catch-up read) runs
    in the event loop's default thread pool; a burst of slow window reads there once made a
    new event stream wait 15 s for its first event and a publish take 15 s."""

    def __init__(self, workers: int = HEAVY_READS, queue: int = HEAVY_QUEUE) -> None:
        if workers < 1 or queue < 0:
            raise ConfigError(
                f"heavy reads: need at least 1 worker and a queue of 0 or more, got {workers} "
                f"and {queue} (set {HEAVY_READS_ENV} / {HEAVY_QUEUE_ENV})"
            )
        self.workers = workers
        self.queue = queue
        self._lock = threading.Lock()
        self._admitted = 0
        self._executor: ThreadPoolExecutor | None = None

    @classmethod
    def from_env(cls) -> ReadPool:
        """A pool sized by :data:`HEAVY_READS_ENV` and :data:`HEAVY_QUEUE_ENV` (defaults
        :data:`HEAVY_READS`, :data:`HEAVY_QUEUE`)."""
        return cls(_env_int(HEAVY_READS_ENV, HEAVY_READS), _env_int(HEAVY_QUEUE_ENV, HEAVY_QUEUE))

    @property
    def admitted(self) -> int:
        """Reads running or waiting now."""
        return self._admitted

    def full(self) -> bool:
        """True when :meth:`submit` would refuse now."""
        return self._admitted >= self.workers + self.queue

    def submit(self, read: Callable[[], bytes]) -> Job | None:
        """Run ``read`` on the pool; None (nothing run) when the pool and its queue are full."""
        with self._lock:
            if self._admitted >= self.workers + self.queue:
                return None
            self._admitted += 1
            if self._executor is None:  # made on first use: after any fork, in the worker
                self._executor = ThreadPoolExecutor(self.workers, "livedash-read")
            executor = self._executor
        job = Job()
        executor.submit(self._run, read, job)
        return job

    def _run(self, read: Callable[[], bytes], job: Job) -> None:
        try:
            result, error = read(), None
        except BaseException as exc:  # handed to the waiting handler, raised there
            result, error = b"", exc
        finally:
            with self._lock:
                self._admitted -= 1
        job.finish(result, error)

    def close(self) -> None:
        """Stop the threads once the reads in flight are done."""
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True)


def _env_int(name: str, default: int) -> int:
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        return int(text)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {text!r}") from None


#: The process's heavy-read pool: a bound on this process's CPU and memory, so one for every
#: app and hub the process serves.
READS = ReadPool.from_env()
