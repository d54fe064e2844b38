"""livedash.testing's StreamClient against a real server, in both wire formats, and the
exactly-once rule it checks; its served processes."""

from __future__ import annotations

import socket
import sys
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from dash import Dash, html

from livedash import Hub, TransportConfig
from livedash.testing import ExactlyOnce, ServedProcess, StreamClient, free_port, serving


def _app(hub: Hub) -> Dash:
    app = Dash(__name__)
    app.layout = html.Div("x")
    hub.init_app(app, TransportConfig(heartbeat=0.5))
    return app


def test_exactly_once_rule() -> None:
    check = ExactlyOnce({"a": 2})
    assert [check.event("a", seq) for seq in (3, 4)] == [True, True]
    check.position("b", 10)  # where b starts: nothing said so before
    assert check.event("b", 11)
    assert check.ok
    assert not check.event("a", 4)  # again
    assert check.event("a", 7)  # 5 and 6 lost
    assert (check.duplicates, check.missing) == (1, 2)
    assert len(check.problems) == 2
    with pytest.raises(AssertionError, match="1 duplicate or out of order, 2 lost"):
        check.check()


def test_a_reset_allows_the_jump_it_announces_and_a_rewind() -> None:
    check = ExactlyOnce()
    for seq in (1, 2):
        check.event("a", seq)
    check.reset("a", 21)  # retention dropped 3-20
    check.event("a", 21)
    check.reset("a", 1)  # the store went back: a Redis restarted empty
    check.event("a", 1)
    check.event("a", 2)
    assert check.ok and check.skipped_after_reset == 18 and check.resets == 2


@pytest.mark.parametrize("wire", [1, 2])
@pytest.mark.parametrize("asgi", [False, True])
def test_every_event_once_through_a_dropped_connection(
    livedash_hub: Callable[..., Hub],
    livedash_server: Callable[..., Any],
    stream_client: Callable[..., StreamClient],
    wire: int,
    asgi: bool,
) -> None:
    hub = livedash_hub()
    server = livedash_server(_app(hub), asgi=asgi)
    client = stream_client(server, ["a", "b"], wire=wire)
    hub.publish_many([(("a", "b")[i % 2], {"i": i}) for i in range(100)])
    client.wait_for_seq("b", 50)
    client.drop()
    hub.publish_many([(("a", "b")[i % 2], {"i": i}) for i in range(100, 200)])
    client.wait(lambda got: len(got) >= 200, what="200 events")
    assert client.seqs("a") == client.seqs("b") == list(range(1, 101))
    assert [e.data["i"] for e in client.events("a")] == list(range(0, 200, 2))
    assert client.reconnects >= 1 and len(client.connections) >= 2
    client.check()


@pytest.mark.parametrize("wire", [1, 2])
def test_a_client_behind_the_retention_is_told_and_the_check_accepts_it(
    livedash_hub: Callable[..., Hub],
    livedash_server: Callable[..., Any],
    stream_client: Callable[..., StreamClient],
    wire: int,
) -> None:
    hub = livedash_hub()
    hub.stream("g", max_events=10)
    server = livedash_server(_app(hub))
    hub.publish_many([("g", {"i": i}) for i in range(30)])
    client = stream_client(server, "g", wire=wire, cursor={"g": 5})
    assert client.wait_for_seq("g", 30)[0].seq == 21
    assert [m.json() for m in client.controls if m.event == "reset"] == [{"stream": "g", "seq": 21}]
    assert client.exactly_once.skipped_after_reset == 15
    client.check()


def test_a_server_that_exits_early_says_what_it_printed(tmp_path: Path) -> None:
    argv = [sys.executable, "-c", "print('no port for you'); raise SystemExit(3)"]
    process = ServedProcess(argv, f"http://127.0.0.1:{free_port()}", tmp_path / "out.log")
    with pytest.raises(RuntimeError, match=r"exited with 3 before serving:\nno port for you"):
        process.start()


def test_serving_a_command_until_the_block_ends(tmp_path: Path) -> None:
    port = free_port()
    argv = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"]
    with serving(argv, port, cwd=tmp_path) as url:
        assert url == f"http://127.0.0.1:{port}"
        with urllib.request.urlopen(url + "/", timeout=10) as r:
            assert r.status == 200
    # The process was ended with the block: nothing listens there any more.
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
