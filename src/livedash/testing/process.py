"""Servers in processes of their own: started, waited for until they answer, stopped with
every process they started.

:class:`ServedProcess` runs any command that serves HTTP, in a process group of its own so
that one signal reaches it and its workers (as a crash, ``kill -9`` or a service manager
would). :class:`ServeProcess` is ``livedash serve APP`` on a free port; :func:`serving` runs a
command for the length of a ``with`` block.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Self

from livedash.testing.wait import free_port, wait_until

#: Longest wait for a freshly started server to answer.
READY_DEADLINE = 60.0
#: Longest wait for a stopped server's processes to exit.
STOP_DEADLINE = 30.0


class ServedProcess:
    """``argv`` (a list, or a shell command line) serving HTTP at ``url``.

    What it prints goes to ``output_path`` (appended: a restart adds to it). It counts as started
    once ``url`` + ``ready_path`` answers: with ``ready_status`` if given, else with any HTTP
    status (a guarded page's 401 or a redirect means it serves); subclasses may ask more in
    :meth:`answers`. ``env`` is added to this process's environment (a None value removes
    a variable); ``nice`` lowers its priority."""

    def __init__(
        self,
        argv: Sequence[str] | str,
        url: str,
        output_path: Path,
        *,
        cwd: Path | None = None,
        env: Mapping[str, str | None] | None = None,
        ready_path: str = "/",
        ready_status: int | None = None,
        deadline: float = READY_DEADLINE,
        nice: int = 0,
    ) -> None:
        self.argv = argv
        self.url = url
        self.output_path = output_path
        self.cwd = cwd
        merged = {**os.environ, **(env or {})}
        self.env = {name: value for name, value in merged.items() if value is not None}
        self.ready_path = ready_path
        self.ready_status = ready_status
        self.deadline = deadline
        self.nice = nice
        self.proc: subprocess.Popen[bytes] | None = None

    def launch(self) -> Self:
        """Start the process (again, after a stop or a kill); :meth:`wait_ready` waits."""
        assert not self.running, "already running"
        nice = self.nice
        with open(self.output_path, "ab") as out:
            self.proc = subprocess.Popen(
                self.argv,
                cwd=self.cwd,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                shell=isinstance(self.argv, str),
                start_new_session=True,  # its own process group: one signal stops it all
                preexec_fn=(lambda: os.nice(nice)) if nice else None,
            )
        return self

    def answers(self) -> bool:
        """True once the server answers; raises :class:`RuntimeError` if it has exited."""
        assert self.proc is not None, "not launched"
        if self.proc.poll() is not None:
            raise RuntimeError(
                f"{self.argv!r} exited with {self.proc.returncode} before serving:\n{self.output()}"
            )
        try:
            with urllib.request.urlopen(self.url.rstrip("/") + self.ready_path, timeout=5) as r:
                status = int(r.status)
        except urllib.error.HTTPError as exc:
            status = exc.code
        except OSError:
            return False
        return self.ready_status is None or status == self.ready_status

    def wait_ready(self) -> Self:
        """Wait until :meth:`answers`; if it never does, stop it and raise
        :class:`RuntimeError` with what it printed."""
        try:
            wait_until(self.answers, self.deadline, f"{self.url} answers", 0.1)
        except TimeoutError:
            self.stop()
            raise RuntimeError(
                f"{self.argv!r} did not answer at {self.url} in {self.deadline:g} s:\n"
                + self.output()
            ) from None
        except RuntimeError:
            self.stop()
            raise
        return self

    def start(self) -> Self:
        """:meth:`launch`, then :meth:`wait_ready`."""
        return self.launch().wait_ready()

    @property
    def running(self) -> bool:
        """True while the process started last lives."""
        return self.proc is not None and self.proc.poll() is None

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` to the whole process group (workers too, even with their parent
        gone) and reap the process."""
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, sig)
        self.proc.wait(timeout=STOP_DEADLINE)

    def stop(self) -> None:
        """SIGTERM to the group; SIGKILL if it is still running after
        :data:`STOP_DEADLINE` seconds."""
        if self.proc is None:
            return
        try:
            self.kill(signal.SIGTERM)
        except subprocess.TimeoutExpired:
            self.kill(signal.SIGKILL)

    def output(self, tail: int = 5000) -> str:
        """The last ``tail`` characters the process printed."""
        try:
            return self.output_path.read_text(errors="replace")[-tail:]
        except FileNotFoundError:
            return ""

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class ServeProcess(ServedProcess):
    """``livedash serve APP --workers N --store STORE`` on ``port`` (a free one by default),
    started ready when ``/livedash/health`` answers (503 while the store is down counts).
    ``extra`` are more command-line arguments; ``cwd`` is where ``APP`` is imported from."""

    def __init__(
        self,
        app: str,
        store: str,
        output_path: Path,
        *,
        workers: int = 1,
        port: int | None = None,
        cwd: Path | None = None,
        env: Mapping[str, str | None] | None = None,
        extra: Sequence[str] = (),
    ) -> None:
        self.app, self.store, self.workers = app, store, workers
        self.port = port or free_port()
        self.extra = tuple(extra)
        argv = [sys.executable, "-m", "livedash.cli", "serve", app, "--workers", str(workers)]
        argv += ["--store", store, "--port", str(self.port), *self.extra]
        super().__init__(
            argv,
            f"http://127.0.0.1:{self.port}",
            output_path,
            cwd=cwd,
            env=env,
            ready_path="/livedash/health",
        )

    def worker_pids(self) -> list[int]:
        """The pids of the processes that serve: the master's children (uvicorn
        workers), or the master itself when it serves alone (one worker)."""
        import psutil

        assert self.proc is not None
        try:
            children = psutil.Process(self.proc.pid).children()
        except psutil.NoSuchProcess:
            return [self.proc.pid]
        pids = []
        for child in children:
            # multiprocessing's resource tracker is a child too, but serves nothing. Read the
            # whole command line: `ps` cuts it at $COLUMNS, which CI sets.
            with contextlib.suppress(psutil.Error):
                if not any("resource_tracker" in arg for arg in child.cmdline()):
                    pids.append(child.pid)
        return pids or [self.proc.pid]

    def publish(self, stream: str, *datas: dict[str, Any], timeout: float = 30) -> list[int]:
        """POST events to this server's ingest (open on loopback); their seqs."""
        body = json.dumps({"events": [{"stream": stream, "data": d} for d in datas]}).encode()
        req = urllib.request.Request(
            f"{self.url}/livedash/publish",
            data=body,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return [e["seq"] for e in json.load(resp)["published"]]


@contextlib.contextmanager
def serving(
    argv: Sequence[str] | str,
    port: int,
    cwd: Path,
    env: Mapping[str, str | None] | None = None,
    timeout: float = READY_DEADLINE,
) -> Iterator[str]:
    """Run ``argv`` (a list, or a shell command line) in ``cwd`` and yield its base URL once
    ``http://127.0.0.1:PORT/`` answers; the process and its children are ended afterwards.
    What it printed is in the error when it exits early or never answers."""
    output_path = cwd / f".serving-{port}.log"
    served = ServedProcess(
        argv, f"http://127.0.0.1:{port}", output_path, cwd=cwd, env=env, deadline=timeout
    )
    try:
        with served:
            yield served.url
    finally:
        output_path.unlink(missing_ok=True)
