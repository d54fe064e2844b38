"""Measure one ``livedash serve`` worker on Redis (not a test: prints figures).

    .venv/bin/python -m tests.scale.measure [--connections 2000] [--events 20000]

1. Idle event streams one worker holds, and its memory per connection: a separate client
   process opens N ``/livedash/events`` streams, waits for each one's first message, then the
   worker's RSS delta / N is reported; one event is then published and the number of streams
   that received it is counted. For each worker class (gevent, gthread).
2. Events per second through Redis end to end: a publisher writes M events into Redis
   (single publishes, and batches of 100) while a client process reads them from a worker's
   event stream; rate = M / (last event received - first publish).

Everything runs on 127.0.0.1 with its own redis-server in a temp dir, bounded in count and time.
"""

from __future__ import annotations

import argparse
import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from livedash.stores import Retention
from livedash.stores.redis import RedisStore

ROOT = Path(__file__).resolve().parents[2]
APP = "tests.scale.apps:create_app"
DEADLINE = 120.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _rss(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def _threads(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))


# -- the client process --------------------------------------------------------------------
def client_idle(port: int, count: int) -> None:
    """Open ``count`` streams; say 'ready N' when each has its first message; on a line from
    stdin, count the streams that receive an event within 60 s and print 'got N'."""
    request = f"GET /livedash/events?stream=feed HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n"
    sel = selectors.DefaultSelector()
    socks: list[socket.socket] = []
    buffers: dict[socket.socket, bytes] = {}
    for _ in range(count):
        s = socket.create_connection(("127.0.0.1", port), timeout=30)
        s.sendall(request.encode())
        s.setblocking(False)
        socks.append(s)
        buffers[s] = b""
        sel.register(s, selectors.EVENT_READ)

    def wait_for(marker: bytes) -> int:
        done: set[socket.socket] = set()
        deadline = time.monotonic() + 60
        while len(done) < len(socks) and time.monotonic() < deadline:
            for key, _ in sel.select(timeout=1):
                s = key.fileobj
                assert isinstance(s, socket.socket)
                chunk = s.recv(65536)
                buffers[s] += chunk
                if marker in buffers[s] and s not in done:
                    done.add(s)
                    buffers[s] = b""
        return len(done)

    print(f"ready {wait_for(b'id: feed:')}", flush=True)
    sys.stdin.readline()
    print(f"got {wait_for(b'data: [[')}", flush=True)
    sys.stdin.readline()


def client_rate(port: int, total: int) -> None:
    """Read one stream until seq ``total`` arrived; print how many events it received, how
    many resets (it fell behind retention) and the wall time of the last one."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=60)
    sock.sendall(f"GET /livedash/events?stream=feed HTTP/1.1\r\nHost: x:{port}\r\n\r\n".encode())
    reader = sock.makefile("rb")
    seen = last = resets = 0
    print("ready", flush=True)
    while last < total:
        line = reader.readline()
        if not line:
            break
        if line.startswith(b"data: [["):
            batch = json.loads(line[6:])
            seen += len(batch)
            last = batch[-1][1]
        elif line.startswith(b"event: reset"):
            resets += 1
    print(f"done {seen} {time.time()!r} {resets}", flush=True)


# -- the measuring process -----------------------------------------------------------------
class Server:
    def __init__(self, store: str, worker_class: str, threads: int) -> None:
        self.port = _free_port()
        argv = [sys.executable, "-m", "livedash.cli", "serve", APP, "--workers", "1"]
        argv += ["--store", store, "--port", str(self.port), "--worker-class", worker_class]
        argv += ["--threads", str(threads), "--connections", "20000"]
        self.proc = subprocess.Popen(
            argv,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + DEADLINE
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/", timeout=5).close()
                break
            except OSError:
                assert time.monotonic() < deadline and self.proc.poll() is None, "no server"
                time.sleep(0.2)
        out = subprocess.run(
            ["ps", "-o", "pid=", "--ppid", str(self.proc.pid)], capture_output=True, text=True
        ).stdout
        self.worker = int(out.split()[0])

    def publish(self, data: dict[str, Any]) -> None:
        body = json.dumps({"stream": "feed", "data": data}).encode()
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/livedash/publish",
            data=body,
            headers={"Content-Type": "application/json"},
        )
        urllib.request.urlopen(req, timeout=30).close()

    def stop(self) -> None:
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)


def _client(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.scale.measure", *args],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def measure_idle(store: str, worker_class: str, connections: int) -> dict[str, Any]:
    server = Server(store, worker_class, threads=connections + 50)
    try:
        warm = _client("client-idle", str(server.port), "10")  # load every code path first
        assert warm.stdout is not None and warm.stdin is not None
        warm.stdout.readline()
        warm.kill()
        warm.wait(30)
        time.sleep(1)
        before, threads_before = _rss(server.worker), _threads(server.worker)
        client = _client("client-idle", str(server.port), str(connections))
        assert client.stdout is not None and client.stdin is not None
        ready = int(client.stdout.readline().split()[1])
        time.sleep(1)
        after, threads_after = _rss(server.worker), _threads(server.worker)
        server.publish({"v": "hello"})
        client.stdin.write("go\n")
        client.stdin.flush()
        got = int(client.stdout.readline().split()[1])
        client.stdin.close()
        client.wait(60)
        return {
            "worker_class": worker_class,
            "streams_open": ready,
            "received_event": got,
            "rss_before_mib": round(before / 2**20, 1),
            "rss_after_mib": round(after / 2**20, 1),
            "kib_per_stream": round((after - before) / max(ready, 1) / 1024, 1),
            "threads_before": threads_before,
            "threads_after": threads_after,
        }
    finally:
        server.stop()


def measure_rate(store: str, total: int, batch: int) -> dict[str, Any]:
    server = Server(store, "gevent", threads=10)
    publisher = RedisStore(store, Retention(max_events=total))
    try:
        client = _client("client-rate", str(server.port), str(total))
        assert client.stdout is not None
        client.stdout.readline()
        time.sleep(1)  # the stream is subscribed once its first message has been read
        payload = json.dumps({"v": 1.5, "name": "sensor-1"})
        started = time.time()
        for i in range(0, total, batch):
            n = min(batch, total - i)
            publisher.append_many([("feed", payload, time.time())] * n)
        published = time.time()
        done = client.stdout.readline().split()
        client.wait(60)
        seen, last, resets = int(done[1]), float(done[2]), int(done[3])
        return {
            "batch": batch,
            "events": seen,
            "resets": resets,
            "publish_per_s": round(total / (published - started)),
            "end_to_end_per_s": round(seen / (last - started)),
        }
    finally:
        publisher.close()
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--connections", type=int, default=2000)
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--rate-only", action="store_true", help="skip the idle streams part")
    args, rest = parser.parse_known_args()
    if rest and rest[0] == "client-idle":
        client_idle(int(rest[1]), int(rest[2]))
        return
    if rest and rest[0] == "client-rate":
        client_rate(int(rest[1]), int(rest[2]))
        return
    with tempfile.TemporaryDirectory() as tmp:
        port = _free_port()
        redis = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--dir",
                tmp,
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
        )
        try:
            time.sleep(0.5)
            for db, worker_class in enumerate(() if args.rate_only else ("gevent", "gthread")):
                store = f"redis://127.0.0.1:{port}/{db}"
                print(json.dumps(measure_idle(store, worker_class, args.connections)))
            for db, batch in enumerate((1, 100), start=2):
                store = f"redis://127.0.0.1:{port}/{db}"
                print(json.dumps(measure_rate(store, args.events, batch)))
        finally:
            redis.kill()
            redis.wait()


if __name__ == "__main__":
    main()
