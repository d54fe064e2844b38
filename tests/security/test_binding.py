"""The command line: a token from --token or LIVEDASH_TOKEN; open ingest on loopback only."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from livedash import ConfigError, TransportConfig
from livedash.testing import ServedProcess, free_port
from livedash.transport import check_binding, is_loopback

LIVEDASH = [sys.executable, "-m", "livedash.cli"]


def _env(token: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "LIVEDASH_TOKEN"}
    if token is not None:
        env["LIVEDASH_TOKEN"] = token
    return env


def _run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "livedash.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


def _one_line(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10"])
@pytest.mark.parametrize("command", ["run", "serve"])
def test_binding_a_reachable_address_without_a_token_refuses_to_start(
    host: str, command: str
) -> None:
    result = _run(command, "seed", "--host", host, "--port", str(free_port()), env=_env())
    line = _one_line(result)
    assert f"refusing to bind {host} without a token" in line
    assert "--token" in line and "LIVEDASH_TOKEN" in line


def test_a_token_that_cannot_be_sent_in_a_header_is_refused() -> None:
    result = _run("run", "seed", "--token", "two words", "--store", "memory://", env=_env())
    assert "token must be a non-empty string of printable ASCII" in _one_line(result)


class Server(ServedProcess):
    """``livedash run seed`` in a subprocess, on a free port, started once its health route
    says 200; :attr:`log` is what it printed."""

    def __init__(self, *args: str, env: dict[str, str], tmp_path: Path) -> None:
        self.port = free_port()
        argv = [*LIVEDASH, "run", "seed", "--store", "memory://", "--port", str(self.port)]
        super().__init__(
            [*argv, *args],
            f"http://127.0.0.1:{self.port}",
            tmp_path / f"seed-{self.port}.log",
            # The environment as given: LIVEDASH_TOKEN is set only if it holds one.
            env={"LIVEDASH_TOKEN": None, **env},
            ready_path="/livedash/health",
            ready_status=200,
        )
        self.start()

    @property
    def log(self) -> str:
        """What the server printed so far."""
        return self.output()

    def publish(self, token: str | None) -> int:
        body = json.dumps({"stream": "cli", "data": {"v": 1}}).encode()
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        req = urllib.request.Request(f"{self.url}/livedash/publish", body, headers)
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return int(r.status)
        except urllib.error.HTTPError as exc:
            return exc.code


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    started: list[Server] = []
    yield started
    for server in started:
        server.stop()


def test_loopback_without_a_token_runs_open_and_says_so(
    servers: list[Server], tmp_path: Path
) -> None:
    server = Server(env=_env(), tmp_path=tmp_path)
    servers.append(server)
    assert "ingest is OPEN" in server.log and "--token" in server.log
    assert server.publish(None) == 200


@pytest.mark.parametrize("source", ["--token", "LIVEDASH_TOKEN"])
def test_a_token_from_the_flag_or_the_environment_is_required(
    servers: list[Server], source: str, tmp_path: Path
) -> None:
    token = "cli-token-42"
    if source == "--token":
        server = Server("--token", token, env=_env(), tmp_path=tmp_path)
    else:
        server = Server(env=_env(token), tmp_path=tmp_path)
    servers.append(server)
    assert "OPEN" not in server.log
    assert server.publish(None) == 401
    assert server.publish("wrong") == 401
    assert server.publish(token) == 200


def test_the_flag_wins_over_the_environment(servers: list[Server], tmp_path: Path) -> None:
    server = Server("--token", "from-flag", env=_env("from-env"), tmp_path=tmp_path)
    servers.append(server)
    assert server.publish("from-env") == 401
    assert server.publish("from-flag") == 200


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("localhost", True),
        ("::1", True),
        ("[::1]", True),
        ("0.0.0.0", False),
        ("::", False),
        ("10.0.0.5", False),
        ("example.com", False),
    ],
)
def test_only_loopback_addresses_may_run_open(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback
    check_binding(host, "a-token")  # with a token, any address is fine
    if loopback:
        check_binding(host, None)
    else:
        with pytest.raises(ConfigError, match="refusing to bind"):
            check_binding(host, None)


@pytest.mark.parametrize("token", ["", "has space", "tab\there", "naïve", "new\nline"])
def test_tokens_must_be_header_safe(token: str) -> None:
    with pytest.raises(ConfigError, match="token must be"):
        TransportConfig(token=token)


def test_the_environment_token_is_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIVEDASH_TOKEN", "env-token")
    assert TransportConfig().token == "env-token"
    monkeypatch.setenv("LIVEDASH_TOKEN", "")
    assert TransportConfig().token is None
