"""The check that ends every failover test: what was acknowledged is stored, once."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from livedash.events import Event


def assert_acked_stored_once(stored: Sequence[Event], acked: Mapping[Any, int], key: str) -> None:
    """``stored`` (a whole stream, read from the store) is numbered 1..head without a gap,
    holds each published value (``event.data[key]``) once, and every value a publisher was
    told was stored (``acked``: value -> seq) is there under that seq."""
    assert [e.seq for e in stored] == list(range(1, len(stored) + 1))
    values = [e.data[key] for e in stored]
    assert len(values) == len(set(values)), "an event was stored twice"
    by_value = {e.data[key]: e.seq for e in stored}
    lost = {v: s for v, s in acked.items() if by_value.get(v) != s}
    assert not lost, f"acknowledged events lost or renumbered: {sorted(lost.items())[:5]}"
