"""Fan-out across worker processes: what one worker ingests, every worker's clients see, in
the same order."""

from __future__ import annotations

from typing import Any

import pytest

from livedash.testing import SSEClient
from tests.scale.conftest import TEST_APP, ServeFactory

pytestmark = pytest.mark.redis

EVENTS = 200


def test_events_published_through_one_worker_reach_clients_of_every_worker_in_order(
    serve: ServeFactory, redis_url: str
) -> None:
    a = serve(TEST_APP, redis_url)
    b = serve(TEST_APP, redis_url)
    clients = [SSEClient(server.port, "/livedash/events?stream=feed") for server in (a, b)]
    try:
        for client in clients:  # the position message: each client follows from here
            assert next(iter(client)).id == "feed:0"
        published: list[tuple[int, Any]] = []
        # Interleave two ingest points, in batches, as independent producers would.
        for i in range(0, EVENTS, 4):
            for server in (b, a):
                datas = [{"v": i + k, "via": server.port} for k in range(2)]
                published += zip(server.publish("feed", *datas), datas, strict=True)
        published.sort(key=lambda p: p[0])
        assert [seq for seq, _ in published] == list(range(1, EVENTS + 1))
        seen_a, seen_b = (c.collect("feed", EVENTS, others=True) for c in clients)
        assert seen_a == published
        assert seen_b == published  # same events, same order, in both workers
    finally:
        for client in clients:
            client.close()


@pytest.mark.browser
def test_a_tab_on_worker_a_shows_what_worker_b_ingests(
    serve: ServeFactory, redis_url: str, context: Any
) -> None:
    a = serve(TEST_APP, redis_url)
    b = serve(TEST_APP, redis_url)
    page = context.new_page()
    page.goto(a.url)
    page.wait_for_function("() => window.livedash && window.livedash.state === 'live'")
    for v in range(5):
        b.publish("feed", {"v": f"from-b-{v}"})
    page.wait_for_function(
        "() => document.querySelector('#feed-text').textContent === 'feed 5: from-b-4'",
        timeout=30_000,
    )
    page.wait_for_function(
        "() => JSON.stringify(document.querySelector('#feed-graph .js-plotly-plot')"
        "?.data?.[0]?.y) === '[1,2,3,4,5]'",
        timeout=30_000,
    )
