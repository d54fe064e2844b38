"""POST /livedash/publish over real HTTP: every refusal, its status and its JSON reason."""

from __future__ import annotations

import http.client
import json
import socket
from collections.abc import Callable
from typing import Any

import pytest

from livedash import Hub
from livedash.events import MAX_DEPTH
from livedash.testing import LiveServer, SSEClient
from livedash.transport.ingest import MAX_BATCH
from tests.security.strategies import TOKEN
from tests.security.target import make_app

AUTH = {"Authorization": f"Bearer {TOKEN}"}


def _post(server: LiveServer, body: bytes, headers: dict[str, str]) -> tuple[int, Any, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        headers = {"Content-Type": "application/json", **headers}
        conn.request("POST", "/livedash/publish", body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read()), resp.headers
    finally:
        conn.close()


def _raw(server: LiveServer, head: bytes, body: bytes = b"") -> tuple[int, Any]:
    """Send ``head`` (request line and headers) and ``body`` as they are; read the answer."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(head + body)
        reply = b""
        while b"\r\n\r\n" not in reply or not _complete(reply):
            chunk = sock.recv(65536)
            if not chunk:
                break
            reply += chunk
    status = int(reply.split(b" ", 2)[1])
    return status, json.loads(_body(reply))


def _complete(reply: bytes) -> bool:
    head, _, body = reply.partition(b"\r\n\r\n")
    if b"transfer-encoding: chunked" in head.lower():
        return body.endswith(b"0\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return len(body) >= int(line.split(b":")[1])
    return False


def _body(reply: bytes) -> bytes:
    head, _, body = reply.partition(b"\r\n\r\n")
    if b"transfer-encoding: chunked" not in head.lower():
        return body
    out = b""
    while True:
        size_line, _, rest = body.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            return out
        out += rest[:size]
        body = rest[size + 2 :]


@pytest.fixture
def served(
    hub_factory: Callable[..., Hub], live_server: Callable[[Any], LiveServer]
) -> tuple[Hub, LiveServer]:
    hub = hub_factory()
    return hub, live_server(make_app(hub))


def _event(stream: str = "pub", **data: Any) -> dict[str, Any]:
    return {"stream": stream, "data": data or {"v": 1}}


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer ", f"Bearer {TOKEN}x", f"Bearer {TOKEN[:-1]}", f"Basic {TOKEN}"],
)
def test_missing_or_wrong_token_is_401_and_stores_nothing(
    served: tuple[Hub, LiveServer], authorization: str | None
) -> None:
    hub, server = served
    headers = {} if authorization is None else {"Authorization": authorization}
    status, reply, resp_headers = _post(server, json.dumps(_event()).encode(), headers)
    assert status == 401
    assert reply["reason"] == "unauthorized" and "Authorization: Bearer" in reply["error"]
    assert resp_headers["WWW-Authenticate"].startswith("Bearer")
    assert hub.store.head("pub") == 0


def test_the_token_is_accepted_with_any_scheme_case(served: tuple[Hub, LiveServer]) -> None:
    hub, server = served
    for scheme in ("Bearer", "bearer", "BEARER"):
        status, _, _ = _post(
            server, json.dumps(_event()).encode(), {"Authorization": f"{scheme} {TOKEN}"}
        )
        assert status == 200
    assert hub.store.head("pub") == 3


def test_declared_length_over_the_limit_is_refused_before_the_body_is_sent(
    served: tuple[Hub, LiveServer],
) -> None:
    hub, server = served
    # The body is never sent: an answer at all proves the server did not wait to read it.
    head = (
        f"POST /livedash/publish HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n"
        "Content-Type: application/json\r\nContent-Length: 1000000000\r\n\r\n"
    ).encode()
    status, reply = _raw(server, head)
    assert status == 413 and reply["reason"] == "body_too_large"
    assert "1000000000 bytes" in reply["error"]
    assert hub.store.head("pub") == 0


def test_a_stranger_with_a_huge_body_gets_401_not_413(served: tuple[Hub, LiveServer]) -> None:
    _, server = served
    head = b"POST /livedash/publish HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000\r\n\r\n"
    status, reply = _raw(server, head)
    assert status == 401 and reply["reason"] == "unauthorized"


def test_chunked_body_over_the_limit_is_413(served: tuple[Hub, LiveServer]) -> None:
    hub, server = served
    payload = json.dumps(_event(pad="x" * 2_000_000)).encode()
    chunks = b"".join(
        f"{len(payload[i : i + 65536]):x}\r\n".encode() + payload[i : i + 65536] + b"\r\n"
        for i in range(0, len(payload), 65536)
    )
    head = (
        f"POST /livedash/publish HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n"
        "Content-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\n\r\n"
    ).encode()
    status, reply = _raw(server, head, chunks + b"0\r\n\r\n")
    assert status == 413 and reply["reason"] == "body_too_large"
    assert hub.store.head("pub") == 0


def test_chunked_body_within_the_limit_is_published(served: tuple[Hub, LiveServer]) -> None:
    hub, server = served
    payload = json.dumps(_event(v=42)).encode()
    head = (
        f"POST /livedash/publish HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n"
        "Content-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\n\r\n"
    ).encode()
    body = f"{len(payload):x}\r\n".encode() + payload + b"\r\n0\r\n\r\n"
    status, reply = _raw(server, head, body)
    assert status == 200 and reply == {"published": [{"stream": "pub", "seq": 1}]}
    assert hub.history("pub", 1)[0].data == {"v": 42}


@pytest.mark.parametrize(
    "body", [b"{not json", b"", b"\xff\xfe\x00", b'{"stream": "pub", "data": {}', b"[" * 100_000]
)
def test_malformed_json_is_400(served: tuple[Hub, LiveServer], body: bytes) -> None:
    hub, server = served
    status, reply, _ = _post(server, body, AUTH)
    assert status == 400 and reply["reason"] == "bad_json"
    assert reply["error"].startswith("body is not valid JSON")
    assert hub.store.head("pub") == 0


@pytest.mark.parametrize(
    ("event", "reason", "fragment"),
    [
        (_event("bad name"), "bad_stream", "invalid stream name"),
        (_event("pub\n"), "bad_stream", "invalid stream name"),
        ({"stream": "pub", "data": [1, 2]}, "bad_data", "must be a JSON object"),
        ({"stream": "pub", "data": {"v": float("nan")}}, "bad_data", "not JSON-serialisable"),
        ({"stream": "pub", "data": {"s": "\ud800"}}, "bad_data", "lone surrogate"),
        ({"stream": "pub"}, "bad_event", "expected an object with 'stream' and 'data'"),
    ],
)
def test_an_invalid_event_in_a_batch_is_422_names_it_and_stores_nothing(
    served: tuple[Hub, LiveServer], event: dict[str, Any], reason: str, fragment: str
) -> None:
    hub, server = served
    batch = {"events": [_event(v=1), _event("pub.a", v=2), event]}
    status, reply, _ = _post(server, json.dumps(batch).encode(), AUTH)
    assert status == 422, reply
    assert reply["reason"] == reason and reply["index"] == 2
    assert fragment in reply["error"]
    assert hub.store.head("pub") == 0 and hub.store.head("pub.a") == 0


def test_an_oversize_event_is_413_and_an_oversize_batch_too(
    served: tuple[Hub, LiveServer],
) -> None:
    hub, server = served
    big = {"events": [_event(v=1), _event(pad="x" * 70_000)]}
    status, reply, _ = _post(server, json.dumps(big).encode(), AUTH)
    assert status == 413 and reply["reason"] == "too_large" and reply["index"] == 1
    many = {"events": [_event(v=i) for i in range(MAX_BATCH + 1)]}
    status, reply, _ = _post(server, json.dumps(many).encode(), AUTH)
    assert status == 413 and reply["reason"] == "batch_too_large"
    assert hub.store.head("pub") == 0


def test_deep_nesting_is_refused_so_no_event_can_break_a_stream(
    served: tuple[Hub, LiveServer],
) -> None:
    _, server = served
    # 900 levels parse, but would come close to Python's recursion limit every time the event
    # is encoded again (store, SSE, poll), on every server that reads it.
    deep = b'{"stream": "pub", "data": {"x": ' + b"[" * 900 + b"]" * 900 + b"}}"
    status, reply, _ = _post(server, deep, AUTH)
    assert status == 422 and f"more than {MAX_DEPTH} levels" in reply["error"]
    ok = b'{"stream": "pub", "data": {"x": ' + b"[" * 60 + b"]" * 60 + b"}}"
    assert _post(server, ok, AUTH)[0] == 200
    client = SSEClient(server.port, "/livedash/events?stream=pub&last=pub:1")
    first = next(iter(client))
    client.close()
    assert first.json()[0][1] == 1


def test_error_messages_do_not_echo_a_megabyte_back(served: tuple[Hub, LiveServer]) -> None:
    _, server = served
    status, reply, _ = _post(server, json.dumps(_event("x" * 900_000)).encode(), AUTH)
    assert status == 422 and len(reply["error"]) <= 500


def test_a_smaller_body_limit_is_configurable(
    hub_factory: Callable[..., Hub], live_server: Callable[[Any], LiveServer]
) -> None:
    hub = hub_factory()
    server = live_server(make_app(hub, max_body=200))
    status, reply, _ = _post(server, json.dumps(_event(pad="y" * 300)).encode(), AUTH)
    assert status == 413 and "200-byte limit" in reply["error"]
    assert _post(server, json.dumps(_event()).encode(), AUTH)[0] == 200
