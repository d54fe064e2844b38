"""Generated hostile payloads and query strings against publish, events and poll.

The bulk goes through Flask's test client, which runs the same route code as a real server
without the socket (so 10,000+ requests take seconds); a sample of each goes over real HTTP
to a threaded server. Every answer must be a 2xx or a 4xx with a JSON reason, never a 5xx;
a refused publish leaves the store as it was; no subscription outlives its request.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from livedash import Hub
from livedash.testing import LiveServer, wait_until
from livedash.transport import MAX_BODY
from tests.security.strategies import (
    TOKEN,
    authorizations,
    last_event_ids,
    publish_bodies,
    raw_queries,
)
from tests.security.target import (
    NOT_JSON,
    authorized,
    check_error_reply,
    check_poll_reply,
    check_sse_text,
    heads,
    make_app,
    parse_body,
    seed_history,
    streams_named,
)

#: Generated requests per route through the test client (10,500 in all), and over real HTTP.
PUBLISH_EXAMPLES = 5000
POLL_EXAMPLES = 3000
EVENTS_EXAMPLES = 2500
HTTP_EXAMPLES = 150


#: pytest-timeout for the three test-client runs: each is thousands of requests of pure CPU,
#: which on a loaded 2-core machine (tests running beside them) outlast the suite's 120 s.
CPU_BOUND_TIMEOUT = pytest.mark.timeout(360)


def _settings(examples: int) -> settings:
    return settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )


class Target:
    """One app under attack, with the streams it has accepted so far."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.app = make_app(hub)
        self.client = self.app.server.test_client()
        seed_history(hub)
        self.known: set[str] = {"pub", "pub.a", "pub.b-1", "seed", "private", "admin.log"}

    def publish(self, body: bytes, auth: str | None) -> tuple[int, Any]:
        """POST ``body`` and check the invariants every answer must keep."""
        doc = parse_body(body)
        watched = self.known | streams_named(doc)
        before = heads(self.hub, watched)
        headers = {"Content-Type": "application/json"}
        if auth is not None:
            headers["Authorization"] = auth
        resp = self.client.post("/livedash/publish", data=body, headers=headers)
        reply = resp.get_json(silent=True)
        if resp.status_code != 200:
            check_error_reply(resp.status_code, reply)
            assert heads(self.hub, watched) == before, "a refused publish changed the store"
            if not authorized(auth):
                assert resp.status_code == 401
            elif len(body) > MAX_BODY:
                assert resp.status_code == 413, reply
            elif doc is NOT_JSON:
                assert resp.status_code == 400, reply
        else:
            assert authorized(auth)
            self._check_stored(doc, reply)
        return resp.status_code, reply

    def _check_stored(self, doc: Any, reply: Any) -> None:
        items = doc.get("events", [doc])
        published = reply["published"]
        assert [p["stream"] for p in published] == [i["stream"] for i in items]
        for item, p in zip(items, published, strict=True):
            stored = self.hub.read(p["stream"], p["seq"] - 1, 1)
            assert stored and stored[0].seq == p["seq"] and stored[0].data == item["data"]
            self.known.add(p["stream"])


@pytest.fixture
def target(hub_factory: Callable[..., Hub]) -> Target:
    return Target(hub_factory())


@CPU_BOUND_TIMEOUT
def test_publish_answers_every_generated_body_with_a_reason(target: Target) -> None:
    sent: list[int] = []

    @_settings(PUBLISH_EXAMPLES)
    @given(body=publish_bodies, auth=authorizations)
    def attack(body: bytes, auth: str | None) -> None:
        status, _ = target.publish(body, auth)
        sent.append(status)

    attack()
    assert len(sent) >= PUBLISH_EXAMPLES
    # The generator reached every kind of answer, so the checks above were exercised.
    assert {200, 400, 401, 422} <= set(sent), sorted(set(sent))


@CPU_BOUND_TIMEOUT
def test_poll_answers_every_generated_query_with_a_reason(target: Target) -> None:
    sent: list[int] = []

    @_settings(POLL_EXAMPLES)
    @given(query=raw_queries)
    def attack(query: str) -> None:
        resp = target.client.get(f"/livedash/poll?{query}")
        reply = resp.get_json(silent=True)
        sent.append(resp.status_code)
        if resp.status_code == 200:
            check_poll_reply(reply)
        else:
            check_error_reply(resp.status_code, reply)

    attack()
    assert len(sent) >= POLL_EXAMPLES
    assert {200, 400, 403} <= set(sent), sorted(set(sent))
    assert target.hub.subscriber_count() == 0


@CPU_BOUND_TIMEOUT
def test_events_answers_every_generated_query_with_a_reason(target: Target) -> None:
    sent: list[int] = []

    @_settings(EVENTS_EXAMPLES)
    @given(query=raw_queries, last_event_id=last_event_ids)
    def attack(query: str, last_event_id: str | None) -> None:
        headers = {"Last-Event-ID": last_event_id} if last_event_id is not None else {}
        resp = target.client.get(f"/livedash/events?{query}", headers=headers, buffered=False)
        sent.append(resp.status_code)
        try:
            if resp.status_code == 200:
                check_sse_text(_until_position(resp.response))
            else:
                check_error_reply(resp.status_code, json.loads(resp.get_data()))
        finally:
            resp.close()

    attack()
    assert len(sent) >= EVENTS_EXAMPLES
    assert {200, 400, 403} <= set(sent), sorted(set(sent))
    # Closing each response ended its subscription.
    assert target.hub.subscriber_count() == 0


def _until_position(chunks: Any) -> str:
    """The stream up to the position message (``data: []``) that ends the catch-up."""
    text = ""
    for chunk in chunks:
        text += chunk.decode("utf-8") if isinstance(chunk, bytes) else chunk
        if "data: []\n\n" in text:
            return text
    raise AssertionError(f"event stream ended before its position message: {text[-200:]!r}")


# -- a sample over real HTTP -----------------------------------------------------------------


#: Every publish says what it carries (anything else is refused with 415).
JSON = {"Content-Type": "application/json"}


def _request(
    server: LiveServer, method: str, path: str, body: bytes | None, headers: dict[str, str]
) -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    conn.request(method, path, body=body, headers=headers)
    return conn.getresponse()


def test_real_http_sample_of_publish_poll_and_events(
    hub_factory: Callable[..., Hub], live_server: Callable[[Any], LiveServer]
) -> None:
    hub = hub_factory()
    server = live_server(make_app(hub))
    seed_history(hub)
    statuses: list[int] = []

    @_settings(HTTP_EXAMPLES)
    @given(body=publish_bodies, auth=authorizations)
    def publish(body: bytes, auth: str | None) -> None:
        watched = streams_named(parse_body(body)) | {"pub", "private"}
        before = heads(hub, watched)
        headers = {"Content-Type": "application/json"}
        if auth is not None:
            headers["Authorization"] = auth
        resp = _request(server, "POST", "/livedash/publish", body, headers)
        reply = json.loads(resp.read())
        statuses.append(resp.status)
        if resp.status != 200:
            check_error_reply(resp.status, reply)
            assert heads(hub, watched) == before

    @_settings(HTTP_EXAMPLES)
    @given(query=raw_queries, route=st.sampled_from(["poll", "events"]))
    def read(query: str, route: str) -> None:
        resp = _request(server, "GET", f"/livedash/{route}?{query}", None, {})
        statuses.append(resp.status)
        if resp.status != 200:
            check_error_reply(resp.status, json.loads(resp.read()))
        elif route == "poll":
            check_poll_reply(json.loads(resp.read()))
        else:
            text = ""
            while "data: []\n\n" not in text:
                line = resp.readline()
                assert line, f"stream ended early: {text!r}"
                text += line.decode("utf-8")
            check_sse_text(text)
        resp.close()

    publish()
    read()
    assert len(statuses) >= 2 * HTTP_EXAMPLES
    assert max(statuses) < 500
    # Closed streams are noticed at the next heartbeat and their subscriptions dropped.
    wait_until(lambda: hub.subscriber_count() == 0, 30, "subscriptions of closed streams linger")


def test_token_is_checked_on_the_real_server(
    hub_factory: Callable[..., Hub], live_server: Callable[[Any], LiveServer]
) -> None:
    hub = hub_factory()
    server = live_server(make_app(hub))
    body = json.dumps({"stream": "pub", "data": {"v": 1}}).encode()
    resp = _request(server, "POST", "/livedash/publish", body, JSON)
    assert resp.status == 401 and resp.getheader("WWW-Authenticate", "").startswith("Bearer")
    resp = _request(
        server, "POST", "/livedash/publish", body, {**JSON, "Authorization": f"Bearer {TOKEN}"}
    )
    assert resp.status == 200 and json.loads(resp.read())["published"][0]["seq"] == 1
