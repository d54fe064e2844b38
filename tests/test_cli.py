"""The livedash command: help text, one-line errors, the heartbeat option."""

from __future__ import annotations

import http.client
import itertools
import os
import signal
import subprocess
import sys
import time
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest

from livedash.cli import main
from livedash.testing import ServedProcess, free_port, serving
from tests.cli_process import one_line_error, run_cli


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "livedash.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


def test_help_explains_every_run_option() -> None:
    out = _run("run", "--help").stdout
    for option in ("--host", "--port", "--store", "--transport", "push", "poll"):
        assert option in out


def test_unknown_app_is_a_one_line_error() -> None:
    result = _run("run", "nope")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "unknown app 'nope'" in lines[0] and "seed" in lines[0]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("ftp://x", "unknown scheme 'ftp'"),
        ("sqlite://", "no file path"),
        ("sqlite:////nonexistent-dir/x.db", "cannot open SQLite store"),
    ],
)
def test_bad_store_url_is_a_one_line_error(url: str, expected: str) -> None:
    result = _run("run", "seed", "--store", url)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0]


@pytest.mark.parametrize("command", ["run", "serve"])
@pytest.mark.parametrize("port", ["99999", "65536", "0", "-1"])
def test_a_port_out_of_range_is_refused_before_anything_starts(command: str, port: str) -> None:
    # uvicorn took 99999 modulo 65536 under `run` and raised OverflowError under `serve`.
    line = one_line_error(run_cli(command, "seed", "--store", "memory://", "--port", port))
    assert line == f"livedash: error: --port must be 1-65535, got {port}"


def test_bad_transport_is_refused_by_argparse(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["run", "seed", "--transport", "carrier-pigeon"])
    assert info.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def _without_heartbeat_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "LIVEDASH_HEARTBEAT"}


@pytest.mark.parametrize("command", ["run", "serve"])
@pytest.mark.parametrize("value", ["abc", "0", "-1", "nan", "inf", "86400"])
def test_bad_heartbeat_is_a_one_line_error(command: str, value: str) -> None:
    result = _run(command, "seed", "--heartbeat", value, env=_without_heartbeat_env())
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "--heartbeat must be a number of seconds above 0 and at most 3600" in lines[0]
    assert repr(value) in lines[0]


def test_bad_heartbeat_from_the_environment_names_the_variable() -> None:
    env = {**_without_heartbeat_env(), "LIVEDASH_HEARTBEAT": "soon"}
    result = _run("run", "seed", "--store", "memory://", env=env)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "LIVEDASH_HEARTBEAT must be a number" in lines[0], lines


def _comments(port: int, stream: str, count: int, read_timeout: float) -> list[bytes]:
    """Open ``stream``'s event stream (nobody publishes to it) and read until ``count``
    comment lines arrived; a read that waits longer than ``read_timeout`` fails the test."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=read_timeout)
    try:
        conn.request("GET", f"/livedash/events?stream={stream}")
        response = conn.getresponse()
        assert response.status == 200
        assert response.getheader("Content-Type", "").startswith("text/event-stream")
        lines: list[bytes] = []
        comments = 0
        while comments < count:
            line = response.readline()
            assert line, f"the stream ended after {lines!r}"
            lines.append(line)
            if line.startswith(b":"):
                comments += 1
        return lines
    finally:
        conn.close()


def _dates_follow_the_clock(port: int) -> None:
    """Responses' Date headers, asked one after another until three different seconds were
    seen, step one second at a time (two under load), not at a housekeeping tick (10 s)."""
    seen: list[float] = []
    for _ in range(600):  # 0.05 s apart: 30 s at most, ~3 s here
        if len(seen) == 3:
            break
        time.sleep(0.05)  # paced: the clock is what is awaited
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            conn.request("HEAD", "/livedash/health")
            date = conn.getresponse().getheader("Date")
        finally:
            conn.close()
        assert date is not None
        stamp = parsedate_to_datetime(date).timestamp()
        if not seen or stamp != seen[-1]:
            seen.append(stamp)
    assert len(seen) == 3, seen
    assert all(0 < b - a <= 3 for a, b in itertools.pairwise(seen)), seen


@pytest.mark.parametrize("command", ["run", "serve"])
def test_idle_event_stream_gets_keepalive_comments_at_the_heartbeat(
    command: str, tmp_path: Path
) -> None:
    port = free_port()
    argv = [
        str(Path(sys.executable).parent / "livedash"),
        command,
        "seed",
        "--port",
        str(port),
        "--heartbeat",
        "0.5",
        "--store",
        f"sqlite:///{tmp_path / 'live.db'}",
    ]
    if command == "serve":
        argv += ["--workers", "1"]
    with serving(argv, port, cwd=tmp_path, env=_without_heartbeat_env()):
        # Three comments, each awaited for at most 10 s: 20 times the asked interval, and
        # less than the 15 s default, so a heartbeat that was not applied fails here.
        lines = _comments(port, "quiet", 3, read_timeout=10)
        _dates_follow_the_clock(port)
    assert lines[0] == b"retry: 1000\n"
    assert sum(line.startswith(b":") for line in lines) == 3
    assert not any(line.startswith(b"data: [[") for line in lines)  # idle: no event


@pytest.mark.parametrize("command", ["run", "serve"])
def test_ctrl_c_ends_the_server_and_its_open_streams_at_once_without_a_traceback(
    command: str, tmp_path: Path
) -> None:
    port = free_port()
    argv = [str(Path(sys.executable).parent / "livedash"), command, "seed", "--port", str(port)]
    argv += ["--store", f"sqlite:///{tmp_path / 'live.db'}"]
    if command == "serve":
        argv += ["--workers", "2"]
    with ServedProcess(
        argv, f"http://127.0.0.1:{port}", tmp_path / "out.log", cwd=tmp_path
    ) as served:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("GET", "/livedash/events?stream=seed")
        stream = conn.getresponse()
        assert stream.readline() == b"retry: 1000\n"
        served.kill(signal.SIGINT)  # as a terminal's Ctrl-C: to the whole process group
        # The open stream's body ends, complete (chunked: its last chunk came; an
        # IncompleteRead otherwise), and the client resumes from its last event elsewhere.
        stream.read()
        conn.close()
    assert served.proc is not None
    output = served.output()
    assert "Traceback" not in output, output
    # Not held until uvicorn's graceful timeout cancels it.
    assert "timeout graceful shutdown exceeded" not in output, output
    assert served.proc.returncode in (0, 130), (served.proc.returncode, output)
