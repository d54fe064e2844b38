"""HTTP ingest: ``POST /livedash/publish`` with one event or a batch, all or nothing."""

from __future__ import annotations

import hmac
import json
from typing import Any

from livedash.errors import PublishError
from livedash.hub import Hub
from livedash.transport.params import BadRequest

#: Largest accepted request body.
MAX_BODY = 1024 * 1024
#: Most events in one batch.
MAX_BATCH = 1000


def check_token(expected: str | None, authorization: str | None) -> None:
    """Raise 401 unless ``authorization`` is ``Bearer <expected>`` (constant-time compare).
    With no token configured, ingest is open."""
    if expected is None:
        return
    scheme, _, given = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        given.strip().encode(), expected.encode()
    ):
        raise BadRequest("missing or wrong bearer token: send 'Authorization: Bearer TOKEN'", 401)


def ingest(hub: Hub, body: bytes) -> dict[str, Any]:
    """Publish the events in a JSON body: ``{"stream": S, "data": {...}}`` or
    ``{"events": [{"stream": S, "data": {...}}, ...]}``."""
    if len(body) > MAX_BODY:
        raise BadRequest(f"body is {len(body)} bytes, over the {MAX_BODY}-byte limit", 413)
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"body is not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise BadRequest("body must be a JSON object with 'stream' and 'data', or 'events'", 422)
    items = doc.get("events", [doc])
    if not isinstance(items, list) or not items:
        raise BadRequest("'events' must be a non-empty list", 422)
    if len(items) > MAX_BATCH:
        raise BadRequest(f"{len(items)} events in one batch; at most {MAX_BATCH}", 413)
    pairs = []
    for i, item in enumerate(items):
        if not isinstance(item, dict) or "stream" not in item or "data" not in item:
            raise BadRequest(f"event {i}: expected an object with 'stream' and 'data'", 422)
        pairs.append((item["stream"], item["data"]))
    try:
        events = hub.publish_many(pairs)
    except PublishError as exc:
        raise BadRequest(str(exc), 413 if exc.reason == "too_large" else 422) from None
    return {"published": [{"stream": e.stream, "seq": e.seq} for e in events]}
