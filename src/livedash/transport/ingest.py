"""HTTP ingest: ``POST /livedash/publish`` with one event or a batch, all or nothing."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from livedash.errors import PublishError
from livedash.events import encode_data, validate_stream_name
from livedash.hub import Hub
from livedash.transport import MAX_BODY
from livedash.transport.params import BadRequest

#: Most events in one batch.
MAX_BATCH = 1000


def check_token(expected: str | None, authorization: str | None) -> None:
    """Raise 401 unless ``authorization`` is ``Bearer <expected>``. With no token configured,
    ingest is open.

    The comparison is constant-time and over SHA-256 digests, so neither the content nor the
    length of the token leaks through response timing."""
    if expected is None:
        return
    scheme, _, given = (authorization or "").partition(" ")
    given_digest = hashlib.sha256(given.strip().encode("utf-8", "surrogatepass")).digest()
    expected_digest = hashlib.sha256(expected.encode()).digest()
    if not hmac.compare_digest(given_digest, expected_digest) or scheme.lower() != "bearer":
        raise BadRequest(
            "missing or wrong bearer token: send 'Authorization: Bearer TOKEN' with the token "
            "the server was started with (--token or LIVEDASH_TOKEN)",
            401,
            reason="unauthorized",
        )


def check_length(content_length: int | None, max_body: int = MAX_BODY) -> None:
    """Refuse a body whose declared length is over the limit before reading any of it."""
    if content_length is not None and content_length > max_body:
        raise BadRequest(
            f"body is {content_length} bytes, over the {max_body}-byte limit; send smaller batches",
            413,
            reason="body_too_large",
        )


def check_content_type(content_type: str | None) -> None:
    """Refuse a body that is not declared as JSON (415). A browser sends a cross-site
    ``text/plain`` or form POST without asking the server first; ``application/json`` it
    sends only to a server that agreed (CORS preflight), so requiring it closes that door."""
    kind = (content_type or "").partition(";")[0].strip().lower()
    if kind != "application/json":
        raise BadRequest(
            f"Content-Type must be application/json, got {content_type or 'none'!r}: send "
            "'Content-Type: application/json' (curl: -H 'Content-Type: application/json')",
            415,
            reason="unsupported_media_type",
        )


def ingest(hub: Hub, body: bytes, max_body: int = MAX_BODY) -> dict[str, Any]:
    """Publish the events in a JSON body: ``{"stream": S, "data": {...}}`` or
    ``{"events": [{"stream": S, "data": {...}}, ...]}``. Nothing is stored unless every
    event is valid."""
    if len(body) > max_body:
        raise BadRequest(
            f"body is over the {max_body}-byte limit; send smaller batches",
            413,
            reason="body_too_large",
        )
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"body is not valid JSON: {exc}", reason="bad_json") from None
    except RecursionError:
        # json.loads recurses once per nesting level; no event needs that depth.
        raise BadRequest("body is not valid JSON: nested too deeply", reason="bad_json") from None
    if not isinstance(doc, dict):
        raise BadRequest(
            "body must be a JSON object with 'stream' and 'data', or 'events'",
            422,
            reason="bad_event",
        )
    items = doc.get("events", [doc])
    if not isinstance(items, list) or not items:
        raise BadRequest("'events' must be a non-empty list", 422, reason="bad_event")
    if len(items) > MAX_BATCH:
        raise BadRequest(
            f"{len(items)} events in one batch; at most {MAX_BATCH}", 413, reason="batch_too_large"
        )
    pairs = []
    for i, item in enumerate(items):
        if not isinstance(item, dict) or "stream" not in item or "data" not in item:
            raise BadRequest(
                f"event {i}: expected an object with 'stream' and 'data'",
                422,
                reason="bad_event",
                index=i,
            )
        pairs.append((item["stream"], item["data"]))
    try:
        events = hub.publish_many(pairs)
    except PublishError as exc:
        index = _first_invalid(hub, pairs)
        where = f"event {index}: " if index is not None and len(pairs) > 1 else ""
        raise BadRequest(
            f"{where}{exc}",
            413 if exc.reason == "too_large" else 422,
            reason=exc.reason,
            index=index,
        ) from None
    return {"published": [{"stream": e.stream, "seq": e.seq} for e in events]}


def _first_invalid(hub: Hub, pairs: list[tuple[Any, Any]]) -> int | None:
    # Only on the error path, so a good batch is validated once.
    for i, (stream, data) in enumerate(pairs):
        try:
            validate_stream_name(stream)
            encode_data(data, max_bytes=hub.max_event_bytes)
        except PublishError:
            return i
    return None
