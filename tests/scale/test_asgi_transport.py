"""The transport contract on Dash's fastapi and quart backends, over a real uvicorn: the ASGI
middleware answers like the Flask routes (order, resume, gzip, refusals, polls), and an open
event stream holds no thread."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
import urllib.error
import urllib.request
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from dash import Dash, html

from livedash import Hub, TransportConfig
from livedash.events import Event
from livedash.fanout import Subscription
from livedash.testing import SSEClient, UvicornServer, wait_until
from livedash.testing.redis import RedisServer
from livedash.transport import mounted_configs

Serve = Callable[[Any], UvicornServer]
#: Longest wait for a condition the server must reach (a loaded 2-core machine is slow).
DEADLINE = 30.0


@pytest.fixture(params=["fastapi", "quart"])
def backend(request: pytest.FixtureRequest) -> str:
    """Each test runs on both ASGI backends of Dash."""
    return str(request.param)


def _app(hub: Hub, backend: str, compress: bool = False, **config: Any) -> Dash:
    app = Dash(__name__, backend=backend, compress=compress)
    app.layout = html.Div("x")
    hub.init_app(app, TransportConfig(**config))
    return app


def _request(
    url: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], Any]:
    if body is not None:  # a publish says what it carries (anything else is refused: 415)
        headers = {"Content-Type": "application/json", **(headers or {})}
    req = urllib.request.Request(url, data=body, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=DEADLINE) as r:
            return r.status, dict(r.headers), json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), json.loads(exc.read())


def test_mounts_as_middleware_and_records_its_config(
    hub_factory: Callable[..., Hub], backend: str
) -> None:
    app = _app(hub_factory(), backend, prefix="/live")
    assert [c.prefix for c in mounted_configs(app)] == ["/live"]
    scripts = [s for s in app.config.external_scripts if isinstance(s, str)]
    assert any(s.startswith("/live/static/livedash.js?") for s in scripts)


def test_burst_of_1000_arrives_in_order_none_missing(
    hub_factory: Callable[..., Hub], uvicorn_server: Serve, backend: str
) -> None:
    hub = hub_factory()
    server = uvicorn_server(_app(hub, backend))
    client = SSEClient(server.port, "/livedash/events?stream=burst")
    try:
        assert client.response.getheader("Content-Type") == "text/event-stream; charset=utf-8"
        assert client.response.getheader("X-Accel-Buffering") == "no"
        assert client.response.getheader("Cache-Control") == "no-cache"
        first = next(iter(client))  # the position message: the subscription is live from here
        assert first.id == "burst:0"
        publisher = threading.Thread(
            target=lambda: [hub.publish("burst", {"i": i}) for i in range(1000)]
        )
        publisher.start()
        seqs = client.seqs("burst", 1000)
        publisher.join()
    finally:
        client.close()
    assert seqs == list(range(1, 1001))


def test_reconnect_with_last_event_id_resumes_without_gap_or_duplicate(
    hub_factory: Callable[..., Hub], uvicorn_server: Serve, backend: str
) -> None:
    hub = hub_factory()
    server = uvicorn_server(_app(hub, backend))
    hub.publish_many([("r", {"i": i}) for i in range(50)])
    first = SSEClient(server.port, "/livedash/events?stream=r&last=r:50")
    seen = first.seqs("r", 50)
    hub.publish_many([("r", {"i": i}) for i in range(50, 60)])
    seen += first.seqs("r", 60)[:5]  # drop mid-stream, having kept 5 of the 10
    first.close()
    hub.publish_many([("r", {"i": i}) for i in range(60, 100)])
    second = SSEClient(server.port, "/livedash/events?stream=r", {"Last-Event-ID": f"r:{seen[-1]}"})
    try:
        seen += second.seqs("r", 100)
    finally:
        second.close()
    assert seen == list(range(1, 101))


# compress=True on quart needs quart_compress, which livedash does not install.
@pytest.mark.parametrize(
    ("dash_backend", "dash_compress"), [("fastapi", False), ("fastapi", True), ("quart", False)]
)
def test_gzip_stream_decodes_and_is_not_buffered(
    hub_factory: Callable[..., Hub], uvicorn_server: Serve, dash_backend: str, dash_compress: bool
) -> None:
    # With compress=True Dash adds Starlette's GZip middleware; the stream must not pass it.
    hub = hub_factory()
    server = uvicorn_server(_app(hub, dash_backend, compress=dash_compress))
    hub.publish_many([("z", {"i": i}) for i in range(3)])
    client = SSEClient(
        server.port, "/livedash/events?stream=z&last=z:3", {"Accept-Encoding": "gzip"}
    )
    try:
        assert client.response.getheader("Content-Encoding") == "gzip"
        inflate = zlib.decompressobj(31)
        text = ""
        while "data: []" not in text:
            text += inflate.decompress(client.response.read1(65536)).decode()
        # A live event comes out at once, one flushed gzip member part at a time.
        hub.publish("z", {"i": 3})
        while '"i":3' not in text:
            text += inflate.decompress(client.response.read1(65536)).decode()
    finally:
        client.close()
    payloads = [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: [[")]
    assert [e[3]["i"] for batch in payloads for e in batch] == [0, 1, 2, 3]


def test_refusals_answer_like_the_flask_routes(
    hub_factory: Callable[..., Hub], uvicorn_server: Serve, backend: str
) -> None:
    hub = hub_factory()
    server = uvicorn_server(_app(hub, backend, token="s3cret", readable=["open.*"], max_body=2000))
    publish = f"{server.url}/livedash/publish"
    good = json.dumps({"stream": "open.a", "data": {"v": 1}}).encode()

    status, headers, body = _request(publish, good)
    assert status == 401 and body["reason"] == "unauthorized"
    assert headers["www-authenticate"] == 'Bearer realm="livedash"'
    auth = {"Authorization": "Bearer s3cret"}
    status, _, body = _request(publish, good, {**auth, "Content-Type": "application/json"})
    assert (status, body) == (200, {"published": [{"stream": "open.a", "seq": 1}]})

    status, _, body = _request(publish, b"x" * 3000, auth)
    assert status == 413 and body["reason"] == "body_too_large"
    status, _, body = _request(publish, json.dumps({"stream": "a", "nodata": 1}).encode(), auth)
    assert status == 422 and body["reason"] == "bad_event"
    status, _, body = _request(publish, b"{not json", auth)
    assert status == 400 and body["reason"] == "bad_json"

    for route in ("events", "poll"):
        status, _, body = _request(f"{server.url}/livedash/{route}?stream=secret")
        assert status == 403 and body["reason"] == "forbidden"
        status, _, body = _request(f"{server.url}/livedash/{route}?stream=bad%20name")
        assert status == 400 and body["error"]
    status, _, body = _request(f"{server.url}/livedash/range?stream=secret&span=60&points=0")
    assert status == 403 and body["reason"] == "forbidden"
    status, _, body = _request(f"{server.url}/livedash/range?stream=open.a&span=3600&points=0")
    assert status == 200 and [e[3] for e in body["events"]] == [{"v": 1}]
    assert hub.history("open.a", 10)[0].data == {"v": 1}


def test_poll_pages_and_long_poll_wakes_on_publish(
    hub_factory: Callable[..., Hub], uvicorn_server: Serve, backend: str
) -> None:
    hub = hub_factory()
    server = uvicorn_server(_app(hub, backend))
    hub.publish_many([("p", {"i": i}) for i in range(5)])
    status, headers, body = _request(f"{server.url}/livedash/poll?stream=p&last=p:2")
    assert status == 200 and headers["cache-control"] == "no-store"
    assert [e[1] for e in body["events"]] == [4, 5] and body["cursor"] == "p:5"

    result: dict[str, Any] = {}
    waiter = threading.Thread(
        target=lambda: result.update(
            poll=_request(f"{server.url}/livedash/poll?stream=p&cursor=p:5&wait=25")
        )
    )
    waiter.start()
    wait_until(lambda: hub.subscriber_count() == 1, DEADLINE, "the long poll subscribed")
    hub.publish("p", {"i": 5})
    waiter.join(timeout=DEADLINE)
    status, _, body = result["poll"]
    assert status == 200 and [e[1] for e in body["events"]] == [6] and body["cursor"] == "p:6"
    wait_until(lambda: hub.subscriber_count() == 0, DEADLINE, "the long poll unsubscribed")


def test_health_metrics_static_and_unknown_routes(
    hub_factory: Callable[..., Hub], uvicorn_server: Serve, backend: str
) -> None:
    hub = hub_factory()
    server = uvicorn_server(_app(hub, backend))
    assert _request(f"{server.url}/livedash/health")[::2] == (
        200,
        {"store": "ok", "subscribers": 0},
    )
    with urllib.request.urlopen(f"{server.url}/metrics", timeout=DEADLINE) as r:
        assert "livedash_open_connections" in r.read().decode()
    with urllib.request.urlopen(f"{server.url}/livedash/static/livedash.js", timeout=30) as r:
        assert r.headers["Content-Type"].startswith("text/javascript")
        assert b"livedash" in r.read()
    for path in ("/livedash/static/../../errors.py", "/livedash/static/nope.js", "/livedash/x"):
        assert _request(server.url + path)[0] == 404
    assert _request(f"{server.url}/livedash/publish")[0] == 405
    # Everything else is Dash's: the page itself.
    with urllib.request.urlopen(server.url + "/", timeout=DEADLINE) as r:
        assert "livedash/static/livedash.js" in r.read().decode()


def test_idle_streams_hold_no_thread_and_disconnects_unsubscribe(
    hub_factory: Callable[..., Hub], uvicorn_server: Serve, backend: str
) -> None:
    hub = hub_factory()
    server = uvicorn_server(_app(hub, backend, heartbeat=600))
    _request(f"{server.url}/livedash/health")
    threads_before = threading.active_count()
    conns = []
    try:
        for _ in range(60):
            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=DEADLINE)
            conn.request("GET", "/livedash/events?stream=idle")
            conns.append((conn, conn.getresponse()))
        wait_until(lambda: hub.subscriber_count() == 60, DEADLINE, "60 streams subscribed")
        # The thread pool for store reads (a handful) and the fan-out reader, not 60.
        assert threading.active_count() - threads_before < 20
        hub.publish("idle", {"v": 1})
        for _, response in conns[:3]:  # idle streams still wake for an event
            text = b""
            while b'"v":1' not in text:
                text += response.read1(65536)
    finally:
        for conn, response in conns:
            response.close()
            conn.close()
    # Closed with no heartbeat due for 10 minutes: http.disconnect must end each stream.
    wait_until(lambda: hub.subscriber_count() == 0, DEADLINE, "every stream unsubscribed")


def test_subscription_waker_fires_once_per_wakeup() -> None:
    sub = Subscription(["s"], maxsize=10)
    calls: list[int] = []
    sub.set_waker(lambda: calls.append(1))
    assert calls == [] and not sub.ready
    for seq in (1, 2, 3):
        sub.offer(Event("s", seq, 0.0, {}))
    assert calls == [1] and sub.ready  # a burst wakes the loop once
    assert [e.seq for e in sub.get(0)[0]] == [1, 2, 3]
    sub.set_status("degraded")
    assert calls == [1, 1]
    sub.get(0)
    sub.close()
    assert calls == [1, 1, 1] and sub.wait(0)
    sub.set_waker(lambda: calls.append(2))  # already ready: called at once
    assert calls[-1] == 2


@pytest.mark.redis
def test_a_stream_survives_a_redis_outage_on_the_event_loop(
    hub_factory: Callable[..., Hub], uvicorn_server: Serve, tmp_path: Path
) -> None:
    redis = RedisServer(tmp_path / "redis", appendonly=True).start()
    try:
        hub = hub_factory(redis.url())
        server = uvicorn_server(_app(hub, "fastapi"))
        hub.publish("o", {"v": 1})
        client = SSEClient(server.port, "/livedash/events?stream=o&last=o:1")
        messages = iter(client)
        try:
            assert [e[1] for e in next(messages).json()] == [1]
            redis.kill()
            status = next(m for m in messages if m.event == "status")
            assert status.json() == {"store": "degraded"}
            # The 503 comes from the same event loop that holds the stream: it is not stuck.
            code, headers, body = _request(
                f"{server.url}/livedash/publish",
                json.dumps({"stream": "o", "data": {"v": 2}}).encode(),
            )
            assert code == 503 and headers["retry-after"] == "1" and body["reason"] == "store"
            redis.start()
            assert next(m for m in messages if m.event == "status").json() == {"store": "ok"}
            hub.publish("o", {"v": 3})
            got = next(m for m in messages if m.event == "message" and m.data != "[]")
            assert [(e[1], e[3]) for e in got.json()] == [(2, {"v": 3})]
        finally:
            client.close()
    finally:
        redis.kill()


def test_head_on_the_event_stream_answers_headers_and_ends(
    hub_factory: Callable[..., Hub], uvicorn_server: Serve, backend: str
) -> None:
    hub = hub_factory()
    server = uvicorn_server(_app(hub, backend))
    req = urllib.request.Request(f"{server.url}/livedash/events?stream=h", method="HEAD")
    with urllib.request.urlopen(req, timeout=DEADLINE) as r:
        assert r.status == 200 and r.headers["Content-Type"].startswith("text/event-stream")
    assert hub.subscriber_count() == 0


def test_a_client_that_stops_reading_is_cut_after_the_stall_timeout(
    hub_factory: Callable[..., Hub], uvicorn_server: Serve
) -> None:
    hub = hub_factory()
    server = uvicorn_server(_app(hub, "fastapi", stall_timeout=1.0))
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # fills fast, never read
    try:
        sock.connect(("127.0.0.1", server.port))
        sock.sendall(b"GET /livedash/events?stream=stall HTTP/1.1\r\nHost: x\r\n\r\n")
        wait_until(lambda: hub.subscriber_count() == 1, DEADLINE, "the stream subscribed")
        blob = "x" * 8000
        deadline = time.monotonic() + DEADLINE
        # Keep publishing until the server's writes back up and it gives the client up.
        while hub.subscriber_count():
            assert time.monotonic() < deadline, "a stalled client still holds its stream"
            hub.publish_many([("stall", {"blob": blob})] * 20)
            time.sleep(0.05)
    finally:
        sock.close()


def test_a_server_shutdown_ends_open_streams_cleanly(
    hub_factory: Callable[..., Hub], uvicorn_server: Serve, caplog: pytest.LogCaptureFixture
) -> None:
    hub = hub_factory()
    server = uvicorn_server(_app(hub, "fastapi"))
    client = SSEClient(server.port, "/livedash/events?stream=bye")
    try:
        assert next(iter(client)).id == "bye:0"
        # uvicorn waits its graceful timeout (1 s here) for the open stream, then cancels it.
        server.stop()
        assert [m.event for m in client] == []  # the stream ends
    finally:
        client.close()
    wait_until(lambda: hub.subscriber_count() == 0, DEADLINE, "the stream unsubscribed")
    # Ended as a response, not as an error: no traceback per open stream at every restart.
    errors = [r.getMessage() for r in caplog.records if r.name.startswith("uvicorn")]
    assert not [e for e in errors if "Exception in ASGI application" in e], errors
