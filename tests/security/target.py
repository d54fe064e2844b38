"""The app under attack, and checks that hold for every answer it gives."""

from __future__ import annotations

import json
from fnmatch import fnmatchcase
from typing import Any

from dash import Dash, html

from livedash import Hub, TransportConfig
from livedash.events import STREAM_NAME_RE, parse_cursor
from tests.security.strategies import OPEN_STREAMS, PRIVATE_STREAMS, READABLE, TOKEN

#: Every field an SSE line may carry (``:`` starts a comment).
SSE_FIELDS = ("id", "data", "event", "retry")


def make_app(hub: Hub, **overrides: Any) -> Dash:
    """A page with livedash mounted: token-protected ingest, some streams private."""
    app = Dash(__name__)
    app.layout = html.Div("target")
    settings: dict[str, Any] = {"token": TOKEN, "readable": READABLE, "heartbeat": 0.05}
    settings.update(overrides)
    hub.init_app(app, TransportConfig(**settings))
    return app


def seed_history(hub: Hub) -> None:
    """A few events in every stream, so history and cursors have something to return."""
    hub.publish_many([(s, {"i": i}) for s in OPEN_STREAMS + PRIVATE_STREAMS for i in range(3)])


def readable(stream: str) -> bool:
    """The read rule the app declares (the oracle for 403s)."""
    return any(fnmatchcase(stream, p) for p in READABLE)


def streams_named(doc: Any) -> set[str]:
    """Every string that a publish body offers as a stream name."""
    found: set[str] = set()
    if isinstance(doc, dict):
        if isinstance(doc.get("stream"), str):
            found.add(doc["stream"])
        events = doc.get("events")
        if isinstance(events, list):
            for item in events:
                if isinstance(item, dict) and isinstance(item.get("stream"), str):
                    found.add(item["stream"])
    return found


#: What :func:`parse_body` returns for a body that is not JSON.
NOT_JSON = object()


def parse_body(body: bytes) -> Any:
    """The body as the server should read it, or :data:`NOT_JSON`."""
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        return NOT_JSON


def heads(hub: Hub, names: set[str]) -> dict[str, int]:
    """The newest seq of each valid name: the store's state as far as ``names`` go."""
    return {n: hub.store.head(n) for n in names if STREAM_NAME_RE.fullmatch(n)}


def authorized(header: str | None) -> bool:
    """Whether ``header`` carries the token (scheme case-insensitive, RFC 7235)."""
    scheme, _, given = (header or "").partition(" ")
    return scheme.lower() == "bearer" and given.strip() == TOKEN


def check_error_reply(status: int, reply: Any) -> None:
    """Every refusal is a 4xx with a JSON object saying what is wrong."""
    assert 400 <= status < 500, (status, reply)
    assert isinstance(reply, dict) and isinstance(reply.get("error"), str) and reply["error"]


def check_poll_reply(reply: Any) -> None:
    """A 200 from /poll: only readable streams, a cursor that parses."""
    assert isinstance(reply, dict)
    cursor = parse_cursor(reply["cursor"])
    assert all(readable(name) for name in cursor), cursor
    for stream, seq, _ts, data in reply["events"]:
        assert readable(stream) and stream in cursor and seq <= cursor[stream]
        assert isinstance(data, dict)


def check_sse_text(text: str) -> None:
    """A prefix of a 200 /events body: well-framed lines, ids that are cursors of readable
    streams, data that is JSON."""
    for line in text.split("\n"):
        if line == "" or line.startswith(":"):
            continue
        name, sep, value = line.partition(": ")
        assert sep and name in SSE_FIELDS, f"bad SSE line {line!r}"
        if name == "id":
            cursor = parse_cursor(value)
            assert all(readable(s) for s in cursor), value
        elif name == "data":
            payload = json.loads(value)
            if isinstance(payload, list):
                for stream, *_ in payload:
                    assert readable(stream), stream
