"""Start a command that serves a Dash app, wait until it answers, stop it afterwards."""

from __future__ import annotations

import os
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def serving(
    argv: Sequence[str] | str,
    port: int,
    cwd: Path,
    env: Mapping[str, str] | None = None,
    timeout: float = 60.0,
) -> Iterator[str]:
    """Run ``argv`` (a list, or a shell command line) in ``cwd`` and yield its base URL once
    ``http://127.0.0.1:PORT/`` answers. The process (and its children) are ended afterwards;
    its output is shown in the failure message when it exits early."""
    log_path = cwd / f".serving-{port}.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            argv,
            cwd=cwd,
            env={**os.environ, **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
            shell=isinstance(argv, str),
            start_new_session=True,  # so the whole process group can be ended
        )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + timeout
        while True:  # a process we do not own: poll its port with a deadline
            try:
                urllib.request.urlopen(url + "/", timeout=5).close()
                break
            except urllib.error.HTTPError:
                break  # any answer (a guarded app's 401 or redirect) means it serves
            except OSError:
                if proc.poll() is not None:
                    raise AssertionError(
                        f"{argv!r} exited with {proc.returncode} before serving:\n"
                        + log_path.read_text(errors="replace")
                    ) from None
                if time.monotonic() > deadline:
                    raise AssertionError(f"{argv!r} never served {url}") from None
                time.sleep(0.1)
        yield url
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, 15)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, 9)
                proc.wait(timeout=30)
        log_path.unlink(missing_ok=True)
