"""Connections that send nothing (issue 21): under ``livedash serve`` they never lock real
requests out, and the server closes them, and half-sent requests, after the header timeout."""

from __future__ import annotations

import contextlib
import json
import socket
import time
import urllib.request
from pathlib import Path

from livedash.serve import BODY_TIMEOUT_ENV, HEADER_TIMEOUT_ENV, ServeOptions, uvicorn_argv
from livedash.testing import ServeProcess, SSEClient, wait_until
from tests.scale.conftest import TEST_APP, ServeFactory

#: Connections that send nothing, against a limit of :data:`LIMIT` requests per worker.
IDLE, LIMIT = 300, 50
#: The deadlines the server runs with here (seconds): short, so that the test is.
HEADER, BODY = 1.0, 2.0
#: Longest a test waits for the server to close what it should.
DEADLINE = 30.0


def _closed_by_server(sock: socket.socket, deadline: float) -> bool:
    """True once the server has closed ``sock`` (EOF or a reset), before ``deadline``."""
    sock.settimeout(max(0.01, deadline - time.monotonic()))
    try:
        while sock.recv(4096):
            pass  # a 4xx the server may send before it closes
    except TimeoutError:
        return False
    except ConnectionResetError:
        pass
    return True


def test_idle_connections_neither_count_nor_stay(serve: ServeFactory, tmp_path: Path) -> None:
    env = {HEADER_TIMEOUT_ENV: str(HEADER), BODY_TIMEOUT_ENV: str(BODY)}
    server = serve(
        TEST_APP, f"sqlite:///{tmp_path}/idle.db", env=env, extra=("--connections", str(LIMIT))
    )
    stream = SSEClient(server.port, "/livedash/events?stream=feed")
    idle: list[socket.socket] = []
    try:
        messages = iter(stream)
        assert next(messages).id == "feed:0"
        idle = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(IDLE)]
        # Half a request head, a byte at a time would do the same: it must not hold either.
        slow = socket.create_connection(("127.0.0.1", server.port))
        slow.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        # A body that never comes.
        mute = socket.create_connection(("127.0.0.1", server.port))
        mute.sendall(
            b"POST /livedash/publish HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"
        )
        idle += [slow, mute]
        # Six times the request limit in idle connections, and a real request is served.
        with urllib.request.urlopen(f"{server.url}/livedash/health", timeout=30) as health:
            assert health.status == 200
        assert server.publish("feed", {"v": 1}) == [1]
        deadline = time.monotonic() + DEADLINE
        still_open = [s for s in idle if not _closed_by_server(s, deadline)]
        assert not still_open, f"{len(still_open)} idle connections outlived the header timeout"
        # The event stream, open longer than every deadline, is untouched by them.
        assert stream.seqs("feed", 1) == [1]
        assert server.publish("feed", {"v": 2}) == [2]
        assert stream.seqs("feed", 2) == [2]
    finally:
        stream.close()
        for sock in idle:
            with contextlib.suppress(OSError):
                sock.close()


def test_serve_runs_uvicorn_with_the_request_deadlines() -> None:
    argv = uvicorn_argv(ServeOptions("seed"))
    assert argv[argv.index("--http") + 1] == "livedash.serve:HttpProtocol"
    assert argv[argv.index("--timeout-keep-alive") + 1] == "5"


def _subscribers(server: ServeProcess) -> int:
    with urllib.request.urlopen(f"{server.url}/livedash/health", timeout=30) as health:
        return int(json.load(health)["subscribers"])


def test_a_stream_whose_client_goes_is_freed_without_a_watcher_task(
    serve: ServeFactory, tmp_path: Path
) -> None:
    # Under serve the server tells a stream its client went (the disconnect watch of
    # livedash.serve.HttpProtocol): no task per stream awaits receive(). Without the one
    # or the other, a gone client's subscription would stay (uvicorn's send to a closed
    # connection returns quietly).
    server = serve(TEST_APP, f"sqlite:///{tmp_path}/gone.db")
    before = _subscribers(server)
    clients = [SSEClient(server.port, "/livedash/events?stream=feed") for _ in range(20)]
    try:
        for client in clients:
            assert next(iter(client)).id == "feed:0"
        assert _subscribers(server) == before + 20
    finally:
        for client in clients:
            client.close()
    wait_until(lambda: _subscribers(server) == before, DEADLINE, "every gone stream freed")
