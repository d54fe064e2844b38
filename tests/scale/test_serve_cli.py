"""``livedash serve``: its options, its refusals, and the gunicorn it runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from livedash.errors import ConfigError
from livedash.serve import ServeOptions, gunicorn_argv, load_app
from tests.conftest import free_port
from tests.scale.conftest import TEST_APP, ServeFactory
from tests.sse_client import SSEClient


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "livedash.cli", *args], capture_output=True, text=True, timeout=60
    )


def test_help_explains_every_serve_option() -> None:
    out = _run("serve", "--help").stdout
    for option in ("--workers", "--store", "--host", "--port", "--worker-class", "gevent"):
        assert option in out


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("seed", "--store", "memory://", "--workers", "2"), "memory:// is private to each"),
        (("nope",), "unknown app 'nope'"),
        (("seed", "--workers", "0"), "--workers must be >= 1"),
    ],
)
def test_bad_serve_settings_are_one_line_errors(args: tuple[str, ...], expected: str) -> None:
    result = _run("serve", *args)
    assert result.returncode == 2
    # One error line (a warning about open ingest may come before it).
    errors = [line for line in result.stderr.splitlines() if "error" in line]
    assert len(errors) == 1 and expected in errors[0], result.stderr


def test_an_unreachable_cluster_is_a_one_line_error_before_any_worker_starts() -> None:
    dead = [free_port(), free_port()]
    nodes = ",".join(f"127.0.0.1:{p}" for p in dead)
    result = _run(
        "serve", "seed", "--store", f"redis+cluster://{nodes}", "--port", str(free_port())
    )
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if "error" in line]
    assert len(errors) == 1, result.stderr
    assert errors[0].startswith("livedash: error: cannot reach Redis Cluster " + nodes)
    assert "--cluster-enabled yes" in errors[0] and "uvicorn" not in result.stderr


def test_gunicorn_command_line_per_worker_class() -> None:
    gevent = gunicorn_argv(ServeOptions("seed", "redis://h:1/0", workers=4, connections=5000))
    assert gevent[1:3] == ["-m", "gunicorn"]
    assert gevent[3:5] == ["--workers", "4"]
    assert "--worker-connections" in gevent and "5000" in gevent
    assert gevent[-1] == "livedash.serve:wsgi_app('seed', 'redis://h:1/0')"
    gthread = gunicorn_argv(ServeOptions("seed", worker_class="gthread", threads=64))
    assert gthread[gthread.index("--threads") + 1] == "64"
    assert "--worker-connections" in gthread


def test_load_app_takes_factories_and_says_what_is_wrong() -> None:
    app = load_app(TEST_APP, "memory://")
    assert app.title == "livedash scale test"
    with pytest.raises(ConfigError, match=r"cannot load app 'tests\.scale\.apps:missing'"):
        load_app("tests.scale.apps:missing", "memory://")


@pytest.mark.parametrize("worker_class", ["gevent", "gthread"])
def test_both_worker_classes_serve_pages_and_streams(
    serve: ServeFactory, tmp_path: Path, worker_class: str
) -> None:
    server = serve(
        TEST_APP, f"sqlite:///{tmp_path}/w.db", workers=2, extra=("--worker-class", worker_class)
    )
    client = SSEClient(server.port, "/livedash/events?stream=feed")
    try:
        messages = iter(client)
        assert next(messages).id == "feed:0"
        assert server.publish("feed", {"v": 1}) == [1]
        assert next(messages).json()[0][1] == 1
    finally:
        client.close()
