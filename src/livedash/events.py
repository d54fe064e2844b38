"""Events, cursors and the rules a published event must satisfy. No I/O here."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from livedash.errors import PublishError

#: Stream names: letters, digits, ``_ . -``; 1-64 characters; must start with a letter or digit.
#: ``\Z``, not ``$``: ``$`` also matches before a trailing newline, and a name ending in one
#: would break the framing of the event stream, where names appear in ``id:`` lines.
STREAM_NAME_RE = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}\Z")
#: Largest accepted event payload, as compact JSON, in bytes.
MAX_EVENT_BYTES = 64 * 1024
#: Deepest nesting of lists and objects in event data. Far below Python's recursion limit, so
#: every later encode or decode of a stored event (store, SSE, poll) is safe: one deeply
#: nested event must not break the stream for everyone who follows it.
MAX_DEPTH = 64

JSONObject = dict[str, Any]
#: ``{stream: last seq seen}``; the position of a reader in every stream it follows.
Cursor = dict[str, int]


class Event:
    """One stored event. ``seq`` is assigned by the store and strictly increases per stream.

    Immutable. An event read from a store (:meth:`stored`) keeps its data as the JSON text
    the store holds and decodes it only when :attr:`data` is first read: a catch-up or a
    fan-out that only relays events sends that text as it is. Decoding is what reading
    history cost most (100,000 events of a 61-level nested object: 8.4 CPU-s to decode,
    2.3 more to encode again, against 0.2 for the gzip of all of it)."""

    __slots__ = ("_data", "_text", "seq", "stream", "ts", "wire_json")

    stream: str
    seq: int
    ts: float
    _data: JSONObject | None
    _text: str | None
    #: this event's wire JSON, built once by :func:`livedash.transport.wire.fragment` and
    #: reused for every connection it is sent to
    wire_json: str | None

    def __init__(self, stream: str, seq: int, ts: float, data: JSONObject) -> None:
        self._fill(stream, seq, ts, data, None)

    @classmethod
    def stored(cls, stream: str, seq: int, ts: float, text: str) -> Event:
        """The event whose data a store holds as ``text``: compact JSON as
        :func:`encode_data` wrote it, so it is also the data's wire form."""
        event = cls.__new__(cls)
        event._fill(stream, seq, ts, None, text)
        return event

    def _fill(
        self, stream: str, seq: int, ts: float, data: JSONObject | None, text: str | None
    ) -> None:
        init = object.__setattr__  # past the immutability guard, once, at construction
        init(self, "stream", stream)
        init(self, "seq", seq)
        init(self, "ts", ts)
        init(self, "_data", data)
        init(self, "_text", text)
        init(self, "wire_json", None)

    @property
    def data(self) -> JSONObject:
        """The event's payload (decoded from the stored text on first use)."""
        data = self._data
        if data is None:
            data = json.loads(self._text or "null")  # one of the two is always set
            object.__setattr__(self, "_data", data)
        return data

    @property
    def data_json(self) -> str:
        """The payload as compact JSON text (the stored text when there is one)."""
        text = self._text
        if text is None:
            text = json.dumps(self._data, separators=(",", ":"), ensure_ascii=False)
            object.__setattr__(self, "_text", text)
        return text

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"Event is immutable: cannot assign to {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"Event is immutable: cannot delete {name!r}")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Event):
            return NotImplemented
        return (self.stream, self.seq, self.ts, self.data) == (
            other.stream,
            other.seq,
            other.ts,
            other.data,
        )

    def __hash__(self) -> int:
        return hash((self.stream, self.seq, self.ts))

    def __repr__(self) -> str:
        return (
            f"Event(stream={self.stream!r}, seq={self.seq!r}, ts={self.ts!r}, data={self.data!r})"
        )

    def to_json(self) -> JSONObject:
        """The wire form used by every transport."""
        return {"stream": self.stream, "seq": self.seq, "ts": self.ts, "data": self.data}


def validate_stream_name(stream: object) -> str:
    """Return ``stream`` if it is a valid stream name, else raise :class:`PublishError`."""
    if not isinstance(stream, str) or not STREAM_NAME_RE.match(stream):
        raise PublishError(
            f"invalid stream name {stream!r}: use 1-64 characters from A-Z a-z 0-9 _ . - "
            "starting with a letter or digit",
            reason="bad_stream",
        )
    return stream


def encode_data(data: object, *, max_bytes: int = MAX_EVENT_BYTES) -> str:
    """Validate an event payload and return it as compact JSON text.

    The payload must be a JSON object (a ``dict`` with string keys) of finite numbers,
    strings, booleans, ``None``, lists and nested objects, at most ``max_bytes`` long.
    """
    if not isinstance(data, Mapping):
        raise PublishError(
            f"event data must be a JSON object (a dict), got {type(data).__name__}",
            reason="bad_data",
        )
    try:
        text = json.dumps(data, separators=(",", ":"), allow_nan=False, ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        raise PublishError(
            f"event data is not JSON-serialisable ({exc}); convert values to str, int, float, "
            "bool, None, list or dict first",
            reason="bad_data",
        ) from None
    except RecursionError:
        raise _too_deep() from None
    # Counting brackets is cheap; only data with many containers needs the walk.
    if text.count("[") + text.count("{") > MAX_DEPTH and _deeper_than(data, MAX_DEPTH):
        raise _too_deep()
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError:
        raise PublishError(
            "event data contains a lone surrogate (a str that is not valid Unicode, such as "
            "'\\ud800'); clean the text before publishing",
            reason="bad_data",
        ) from None
    if size > max_bytes:
        raise PublishError(
            f"event data is {size} bytes as JSON, over the {max_bytes}-byte limit; "
            "publish smaller events or raise max_event_bytes on the Hub",
            reason="too_large",
        )
    return text


def _too_deep() -> PublishError:
    return PublishError(
        f"event data nests lists/objects more than {MAX_DEPTH} levels deep; flatten it",
        reason="bad_data",
    )


def _deeper_than(data: object, limit: int) -> bool:
    stack: list[tuple[object, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, Mapping):
            children: Any = value.values()
        elif isinstance(value, list | tuple):
            children = value
        else:
            continue
        if depth > limit:
            return True
        stack.extend((c, depth + 1) for c in children if isinstance(c, Mapping | list | tuple))
    return False


def format_cursor(cursor: Mapping[str, int]) -> str:
    """``{"a": 3, "b": 7}`` -> ``"a:3,b:7"`` (stream names never contain ``:`` or ``,``)."""
    return ",".join(f"{name}:{seq}" for name, seq in cursor.items())


def parse_cursor(text: str) -> Cursor:
    """Parse ``"a:3,b:7"``; raise ``ValueError`` with the offending part on bad input."""
    cursor: Cursor = {}
    if not text:
        return cursor
    for part in text.split(","):
        name, sep, seq_text = part.rpartition(":")
        if (
            not sep
            or not STREAM_NAME_RE.match(name)
            or not (seq_text.isascii() and seq_text.isdigit())
        ):
            raise ValueError(f"bad cursor part {part!r}: expected STREAM:SEQ")
        seq = int(seq_text)
        if seq > 2**63 - 1:
            raise ValueError(f"bad cursor part {part!r}: seq out of range")
        cursor[name] = seq
    return cursor
