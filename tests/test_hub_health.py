"""Hub.check_health: a store that does not answer, or never did, is unhealthy."""

from __future__ import annotations

import pytest

from livedash import Hub
from livedash import hub as hub_module
from livedash.stores import MemoryStore
from livedash.testing import free_port


class CountingStore(MemoryStore):
    """A memory store that counts the heads read (the health probe reads one)."""

    def __init__(self) -> None:
        super().__init__()
        self.heads = 0

    def head(self, stream: str) -> int:
        self.heads += 1
        return super().head(stream)


def test_a_store_that_was_never_reachable_is_unhealthy() -> None:
    hub = Hub(f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
    try:
        assert hub.fresh_health() is None  # not probed yet: the route must ask the store
        assert hub.check_health() is False
        assert hub.fresh_health() is False  # the answer is reused for a while
    finally:
        hub.close()


def test_a_flood_of_checks_reads_the_store_once_while_the_answer_is_fresh(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(hub_module, "HEALTH_TTL", 3600.0)  # fresh for the whole test
    store = CountingStore()
    hub = Hub(store)
    try:
        assert hub.check_health() is True
        for _ in range(100):
            assert hub.fresh_health() is True
            assert hub.check_health() is True
        assert store.heads == 1
        monkeypatch.setattr(hub_module, "HEALTH_TTL", 0.0)  # stale at once: asked again
        assert hub.fresh_health() is None
        assert hub.check_health() is True and store.heads == 2
    finally:
        hub.close()
