"""The nginx configuration of the "Behind nginx" guide, run by a real nginx in front of a
real livedash server: events come through one by one, as they are published.

(nginx's defaults held events back only some of the time here, one event late until the next
bytes arrived, so there is no reliable negative control to run beside this.)"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from dash import Dash, html

from livedash import Hub, LiveText
from livedash.testing import LiveServer, SSEClient, free_port

ROOT = Path(__file__).resolve().parents[2]
SNIPPET = ROOT / "docs" / "snippets" / "nginx.conf"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def _nginx_conf(tmp: Path, listen: int, upstream: int, snippet: str) -> Path:
    site = snippet.replace("server 127.0.0.1:8050;", f"server 127.0.0.1:{upstream};")
    site = site.replace("listen 80;", f"listen 127.0.0.1:{listen};")
    assert f"127.0.0.1:{upstream}" in site and f"127.0.0.1:{listen}" in site
    temps = "\n".join(
        f"    {kind}_temp_path {tmp / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    user = "user root root;\n" if os.geteuid() == 0 else ""
    conf = tmp / "nginx.conf"
    conf.write_text(
        f"{user}worker_processes 1;\ndaemon off;\npid {tmp / 'nginx.pid'};\n"
        f"error_log {tmp / 'error.log'};\nevents {{ worker_connections 64; }}\n"
        f"http {{\n    access_log off;\n{temps}\n{site}\n}}\n"
    )
    return conf


@pytest.fixture
def nginx(tmp_path: Path) -> Iterator[Callable[[int, str], int]]:
    """Factory: ``nginx(upstream_port, site_config)`` starts nginx, returns its port."""
    procs: list[subprocess.Popen[bytes]] = []

    def start(upstream: int, snippet: str) -> int:
        if not Path(NGINX).exists():
            pytest.fail("nginx is not installed: run `make test`, which installs it")
        port = free_port()
        conf = _nginx_conf(tmp_path, port, upstream, snippet)
        proc = subprocess.Popen([NGINX, "-c", str(conf), "-p", str(tmp_path)])
        procs.append(proc)
        deadline = time.monotonic() + 30
        while True:  # nginx has no readiness signal: poll its port with a deadline
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return port
            except OSError:
                assert proc.poll() is None, (tmp_path / "error.log").read_text()
                assert time.monotonic() < deadline, "nginx never listened"
                time.sleep(0.05)

    yield start
    for proc in procs:
        proc.terminate()
        proc.wait(timeout=30)


def _app(hub: Hub) -> Any:
    app = Dash(__name__)
    app.layout = html.Div(LiveText("orders", "{n}", id="n"))
    hub.init_app(app)
    return app


def test_events_come_through_the_documented_config_one_by_one(
    hub_factory: Callable[..., Hub],
    live_server: Callable[[Any], LiveServer],
    nginx: Callable[[int, str], int],
) -> None:
    hub = hub_factory()
    server = live_server(_app(hub))
    port = nginx(server.port, SNIPPET.read_text())
    # Reads time out before the 15 s heartbeat, whose bytes would push out an event that a
    # buffering proxy held back (seen with nginx's defaults: each event one step late).
    client = SSEClient(port, "/livedash/events?stream=orders", timeout=10)
    try:
        assert client.response.status == 200
        assert client.response.getheader("Content-Type", "").startswith("text/event-stream")
        messages = iter(client)
        assert next(messages).json() == []  # the hello: the stream is open end to end
        for n in range(1, 4):
            # Each event is published only after the previous one came through, so an event
            # held back by the proxy is never pushed out by the next one.
            hub.publish("orders", {"n": n})
            batch = next(messages).json()
            assert [event[3]["n"] for event in batch] == [n]
        # Ordinary Dash requests pass through the other location.
        page = client.conn.__class__("127.0.0.1", port, timeout=20)
        page.request("GET", "/_dash-layout")
        assert page.getresponse().status == 200
        page.close()
    finally:
        client.close()
