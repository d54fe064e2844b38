"""Run the ``livedash`` command as a real process, bounded in time, and time it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

#: Longest a command that should refuse its settings may run: far beyond the seconds it
#: takes, so that only a command that serves (or restarts workers in a loop) reaches it.
TIMEOUT = 60.0


@dataclass(frozen=True)
class Finished:
    """What a finished ``livedash`` process left behind."""

    returncode: int
    stdout: str
    stderr: str
    #: wall-clock seconds from start to exit (printed, not asserted: machines differ)
    seconds: float


def run_cli(
    *args: str,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = TIMEOUT,
) -> Finished:
    """Run ``livedash ARGS`` to its end. One still running after ``timeout`` seconds is
    killed with all its children (uvicorn workers) and fails the test."""
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "livedash.cli", *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # so that its whole process group can be ended
    )
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        stdout, stderr = proc.communicate()
        pytest.fail(f"livedash {' '.join(args)} still ran after {timeout:g} s:\n{stderr[-3000:]}")
    seconds = time.monotonic() - started
    print(f"livedash {' '.join(args)}: exit {proc.returncode} after {seconds:.2f} s")
    return Finished(proc.returncode, stdout, stderr, seconds)


def one_line_error(result: Finished) -> str:
    """The one line a refused command printed (exit status 2, nothing else on stderr)."""
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("livedash: error: "), lines[0]
    return lines[0]
