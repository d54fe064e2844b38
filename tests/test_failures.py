"""FailureLog: a failure that repeats is one line, with a count, and its end another."""

from __future__ import annotations

import logging

import pytest

from livedash.errors import StoreUnavailable
from livedash.failures import FailureLog

log = logging.getLogger("tests.failures")


def _messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == log.name]


def test_repeats_of_a_kind_are_counted_not_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    failures = FailureLog(log, "producer for stream 'clock'")
    for _ in range(100):
        failures.failed(StoreUnavailable("cannot append: Redis is unreachable"))
    failures.failed(ValueError("bad value"))  # another kind: its own line
    assert failures.failing
    lines = _messages(caplog)
    assert lines == [
        "livedash: producer for stream 'clock' failed: StoreUnavailable: cannot append: "
        "Redis is unreachable (repeats are counted, not logged, until it recovers)",
        "livedash: producer for stream 'clock' failed: ValueError: bad value "
        "(repeats are counted, not logged, until it recovers)",
    ]
    # livedash's own errors say what to do in their message; another exception is a bug in
    # the code that was called, so its first line carries the traceback.
    store_record, bug_record = caplog.records
    assert store_record.levelno == logging.WARNING and store_record.exc_info is None
    assert bug_record.levelno == logging.ERROR and bug_record.exc_info is not None

    caplog.clear()
    failures.succeeded()
    failures.succeeded()  # nothing more: it was already said
    (line,) = _messages(caplog)
    assert line.startswith("livedash: producer for stream 'clock' recovered after ")
    assert line.endswith("(101 failures: 100 x StoreUnavailable, 1 x ValueError)")
    assert not failures.failing

    caplog.clear()
    failures.failed(StoreUnavailable("down again"))  # a new outage is said again
    assert len(_messages(caplog)) == 1


def test_a_failure_that_goes_on_is_recalled_with_its_count(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    failures = FailureLog(log, "source 'feed'", remind_every=0.0)  # every repeat is "late"
    for _ in range(3):
        failures.failed(StoreUnavailable("down"), kind="lease")
    lines = _messages(caplog)
    assert len(lines) == 3
    assert "still failing after" in lines[1] and lines[1].endswith("2 failures: 2 x lease")
    assert lines[2].endswith("3 failures: 3 x lease")


def test_nothing_is_logged_while_nothing_fails(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    failures = FailureLog(log, "store reader of open event streams")
    for _ in range(10):
        failures.succeeded()
    assert _messages(caplog) == []
