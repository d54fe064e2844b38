"""Events, cursors and the rules a published event must satisfy. No I/O here."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from livedash.errors import PublishError

#: Stream names: letters, digits, ``_ . -``; 1-64 characters; must start with a letter or digit.
STREAM_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")
#: Largest accepted event payload, as compact JSON, in bytes.
MAX_EVENT_BYTES = 64 * 1024

JSONObject = dict[str, Any]
#: ``{stream: last seq seen}``; the position of a reader in every stream it follows.
Cursor = dict[str, int]


@dataclass(frozen=True, slots=True)
class Event:
    """One stored event. ``seq`` is assigned by the store and strictly increases per stream."""

    stream: str
    seq: int
    ts: float
    data: JSONObject

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
    size = len(text.encode("utf-8"))
    if size > max_bytes:
        raise PublishError(
            f"event data is {size} bytes as JSON, over the {max_bytes}-byte limit; "
            "publish smaller events or raise max_event_bytes on the Hub",
            reason="too_large",
        )
    return text


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
        if not sep or not STREAM_NAME_RE.match(name) or not seq_text.isdigit():
            raise ValueError(f"bad cursor part {part!r}: expected STREAM:SEQ")
        seq = int(seq_text)
        if seq > 2**63 - 1:
            raise ValueError(f"bad cursor part {part!r}: seq out of range")
        cursor[name] = seq
    return cursor
