"""``livedash serve``: its options, its refusals, and the uvicorn it runs."""

from __future__ import annotations

import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from livedash.errors import ConfigError
from livedash.serve import ServeOptions, load_app, uvicorn_argv
from livedash.testing import SSEClient, free_port
from tests.cli_process import one_line_error, run_cli
from tests.scale.conftest import TEST_APP, ServeFactory


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "livedash.cli", *args], capture_output=True, text=True, timeout=60
    )


def test_help_explains_every_serve_option() -> None:
    out = _run("serve", "--help").stdout
    for option in ("--workers", "--store", "--host", "--port", "--connections", "--heartbeat"):
        assert option in out
    # The removed gunicorn serving is not offered any more.
    assert "gevent" not in out and "--threads" not in out


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("seed", "--store", "memory://", "--workers", "2"), "memory:// is private to each"),
        (("nope",), "unknown app 'nope'"),
        (("seed", "--workers", "0"), "--workers must be >= 1"),
        # The gunicorn worker classes were removed: an old command line says what to do.
        (("seed", "--worker-class", "gevent"), "--worker-class gevent was removed"),
        (("seed", "--worker-class", "gthread"), "--worker-class gthread was removed"),
        (("seed", "--worker-class", "sync"), "unknown worker class 'sync'"),
        (("seed", "--threads", "64"), "--threads was an option of the removed gthread"),
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


@pytest.mark.parametrize(
    ("store", "token", "expected"),
    [
        ("postgres://x", None, "unknown scheme 'postgres'"),
        ("sqlite:///no/such/dir/x.db", None, "the folder 'no/such/dir' does not exist"),
        ("redis://localhost:port/0", None, "bad Redis URL"),
        ("sqlite:///live.db", "two words", "token must be a non-empty string"),
    ],
)
def test_settings_a_worker_would_refuse_stop_serve_before_any_worker_starts(
    store: str, token: str | None, expected: str, tmp_path: Path
) -> None:
    # Each of these started uvicorn, whose workers then failed to build the app and were
    # restarted in a loop, answering nothing. The master refuses them, with the line `run`
    # gives for the same mistake.
    env = {"LIVEDASH_TOKEN": token or ""}
    port = str(free_port())
    served = run_cli("serve", "seed", "--store", store, "--port", port, cwd=tmp_path, env=env)
    line = one_line_error(served)
    assert expected in line and "uvicorn" not in served.stdout + served.stderr
    ran = run_cli("run", "seed", "--store", store, "--port", port, cwd=tmp_path, env=env)
    assert one_line_error(ran) == line


def test_uvicorn_command_line() -> None:
    argv = uvicorn_argv(ServeOptions("seed", "redis://h:1/0", workers=4, connections=5000))
    assert argv[1:4] == ["-m", "uvicorn", "livedash.serve:asgi_app"]
    assert argv[argv.index("--workers") + 1] == "4"
    assert argv[argv.index("--limit-concurrency") + 1] == "5000"
    assert "--factory" in argv and "--no-access-log" in argv


def test_load_app_takes_factories_and_says_what_is_wrong() -> None:
    app = load_app(TEST_APP, "memory://")
    assert app.title == "livedash scale test"
    with pytest.raises(ConfigError, match=r"cannot load app 'tests\.scale\.apps:missing'"):
        load_app("tests.scale.apps:missing", "memory://")


def test_an_explicit_uvicorn_worker_class_serves_pages_and_streams(
    serve: ServeFactory, tmp_path: Path
) -> None:
    server = serve(
        TEST_APP, f"sqlite:///{tmp_path}/w.db", workers=2, extra=("--worker-class", "uvicorn")
    )
    with urllib.request.urlopen(server.url, timeout=30) as page:
        assert b"livedash scale test" in page.read()
    client = SSEClient(server.port, "/livedash/events?stream=feed")
    try:
        messages = iter(client)
        assert next(messages).id == "feed:0"
        assert server.publish("feed", {"v": 1}) == [1]
        assert next(messages).json()[0][1] == 1
    finally:
        client.close()
