"""The livedash command: help text and one-line errors."""

from __future__ import annotations

import subprocess
import sys

import pytest

from livedash.cli import main


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "livedash.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
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


def test_bad_transport_is_refused_by_argparse(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["run", "seed", "--transport", "carrier-pigeon"])
    assert info.value.code == 2
    assert "invalid choice" in capsys.readouterr().err
