"""Resources per request do not accumulate: a server that runs a thread per request (the Dash
dev server, gunicorn's gthread) must not keep one store connection per request forever."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import psutil

from livedash import Hub

REQUESTS = 300


def _open_files_under(directory: Path) -> int:
    return sum(1 for f in psutil.Process().open_files() if f.path.startswith(str(directory)))


def test_sqlite_connections_of_finished_threads_are_closed(
    hub_factory: Callable[..., Hub], tmp_path: Path
) -> None:
    hub = hub_factory(f"sqlite:///{tmp_path / 'r.db'}")
    hub.publish("s", {"v": 0})
    before = _open_files_under(tmp_path)

    def request(i: int) -> None:  # what one request thread does with the store
        hub.publish("s", {"v": i})
        assert hub.read("s", i, 1)[0].seq == i + 1

    for i in range(1, REQUESTS + 1):
        thread = threading.Thread(target=request, args=(i,))
        thread.start()
        thread.join()
    assert hub.store.head("s") == REQUESTS + 1
    # Each connection holds the database, its WAL and its shared-memory file open; 300 threads
    # that each kept theirs would hold 600 more files.
    assert _open_files_under(tmp_path) <= before + 3
