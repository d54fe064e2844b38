"""SQLiteStore answers reads near a stream's head from the events it keeps in memory; those
answers must equal the file's, also while another process appends and retention trims."""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

from livedash.events import Event
from livedash.stores.base import Retention
from livedash.stores.sqlite import SQLiteStore

STREAM = "s"


def _append(store: SQLiteStore, n: int, ts: float | None = None) -> None:
    now = time.time() if ts is None else ts
    store.append_many([(STREAM, json.dumps({"k": i}), now) for i in range(n)])


def _seqs(events: list[Event]) -> list[int]:
    return [e.seq for e in events]


def test_reads_from_memory_equal_the_files_with_two_writers_and_retention(tmp_path: Path) -> None:
    path = str(tmp_path / "r.db")
    retention = Retention(max_events=300)
    reader, writer, reference = (SQLiteStore(path, retention) for _ in range(3))
    rng = random.Random(7)
    served_from_memory = 0
    try:
        for _ in range(400):
            # Both "processes" append: the reader's memory only learns from its own reads.
            _append(rng.choice([writer, writer, reader]), rng.randint(1, 40))
            head = reference.head(STREAM)
            for _ in range(3):
                after = rng.randint(max(0, head - 500), head)
                limit = rng.randint(1, 200)
                kept = reader._recent.get(STREAM)
                if kept and kept[0].seq <= after + 1 <= kept[-1].seq:
                    served_from_memory += 1
                got = reader.read(STREAM, after, limit)
                want = reference._read_file(STREAM, after, limit)
                assert _seqs(got) == _seqs(want), (after, limit, head)
                assert [e.data for e in got] == [e.data for e in want]
        assert served_from_memory > 100, "the test never exercised the in-memory path"
    finally:
        for store in (reader, writer, reference):
            store.close()


def test_reads_from_memory_leave_out_events_past_max_age(tmp_path: Path) -> None:
    path = str(tmp_path / "a.db")
    store = SQLiteStore(path, Retention(max_events=None, max_age=20))
    reference = SQLiteStore(path, Retention(max_events=None, max_age=20))
    try:
        old = time.time() - 17  # past max_age 3 s from now
        _append(store, 20, ts=old)
        _append(store, 20)
        assert len(store.read(STREAM, 0, 1000)) == 40, "took over 3 s: read and kept all"
        time.sleep(max(0.0, old + 20.2 - time.time()))  # time passes: the first 20 age out
        kept = store._recent[STREAM]
        assert kept[0].seq == 1  # the next read is answered from memory ...
        got = store.read(STREAM, 0, 1000)
        assert _seqs(got) == list(range(21, 41))  # ... as the file would
        assert _seqs(got) == _seqs(reference._read_file(STREAM, 0, 1000))
        assert _seqs(store.read(STREAM, 5, 10)) == list(range(21, 31))
    finally:
        store.close()
        reference.close()
