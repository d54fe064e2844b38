"""Several hosts behind a real load balancer, each in its own network namespace
(``livedash.testing.cluster``, serving the documented nginx site): a host SIGKILLed
mid-stream, a Redis Cluster master SIGKILLed and restarted mid-traffic, and every viewer ends
with every event exactly once, in order.

Viewers are headless (livedash.testing's ``StreamClient``: an event stream through nginx that
resumes with ``Last-Event-ID``), plus one real Chromium tab in the host-failure test. Needs
root (network namespaces), nginx, iproute2 and redis-server, which ``make test`` installs."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from livedash import Hub
from livedash.errors import StoreError
from livedash.events import Event
from livedash.testing import StreamClient, wait_until
from livedash.testing.cluster import BROWSER_AGENT, DEADLINE, UPSTREAM_HEADER, Deployment, Host
from tests.exactly_once import assert_acked_stored_once
from tests.scale.conftest import ROOT, TEST_APP

# netns: the deployment's bridge and veths change the host's network, and Chromium fails every
# page request in flight on such a change, in any browser beside (`make test` runs these alone).
pytestmark = [pytest.mark.redis, pytest.mark.netns]

#: The producer's period, and its lease (the hub's rule: max(3 periods, 3 s)).
TICK = 0.25
LEASE = max(3 * TICK, 3.0)
TICK_SHOWN = "() => /^tick \\d+/.test(document.querySelector('#tick-text').textContent)"
X = "() => document.querySelector('#feed-graph .js-plotly-plot')?.data?.[0]?.x || []"


def _deployment(directory: Path, **kwargs: Any) -> Deployment:
    """The scale tests' app on every host, behind the site docs/snippets/nginx.conf gives."""
    site = (ROOT / "docs" / "snippets" / "nginx.conf").read_text()
    return Deployment(directory, app=TEST_APP, site=site, cwd=ROOT, **kwargs)


def _viewer(dep: Deployment) -> StreamClient:
    """A headless viewer of ``feed`` through nginx, resuming with ``Last-Event-ID``."""
    return StreamClient(dep.url, "feed", timeout=20, retry=0.1)


def _hosts(viewer: StreamClient) -> list[str]:
    """The host that served each of ``viewer``'s connections (nginx's header)."""
    return [
        c.headers.get(UPSTREAM_HEADER.lower(), "?") for c in viewer.connections if c.status == 200
    ]


def _got(viewer: StreamClient) -> list[tuple[int, Any]]:
    return [(e.seq, e.data) for e in viewer.received]


def _wait(condition: Any, what: str) -> None:
    wait_until(condition, DEADLINE, what)


def _publish(hub: Hub, first: int, last: int) -> None:
    for n in range(first, last + 1):
        hub.publish("feed", {"n": n})


def _ticks(hub: Hub) -> list[Event]:
    return hub.store.read("tick", 0, limit=100_000)


def _lease_owner(dep: Deployment) -> bytes | None:
    """The instance id of the hub holding the tick producer's lease."""
    assert dep.redis is not None
    with dep.redis.client() as client:
        owner: bytes | None = client.get("livedash:lease:source:every.tick")
    return owner


def _host_of_tick(dep: Deployment, event: Event) -> Host | None:
    return dep.host_of_pid(int(event.data["pid"]))


@pytest.fixture
def viewers() -> Iterator[list[StreamClient]]:
    started: list[StreamClient] = []
    yield started
    for viewer in started:
        viewer.close()


@pytest.mark.browser
@pytest.mark.timeout(300)
def test_a_killed_host_s_viewers_resume_on_others_and_its_producer_lease_moves(
    tmp_path: Path, browser: Any, viewers: list[StreamClient]
) -> None:
    total, half = 300, 150
    # Host h1 starts alone, so it takes the producer's lease; the browser prefers h1 too.
    with _deployment(
        tmp_path, hosts=3, env={"LIVEDASH_TEST_TICK": str(TICK)}, browser_first=0
    ) as dep:
        victim, survivors = dep.hosts[0], dep.hosts[1:]
        hub = Hub(dep.store_url)
        context = browser.new_context()
        try:
            page = context.new_page()
            page.goto(dep.url)
            page.wait_for_selector("#feed-graph .js-plotly-plot", timeout=60_000)
            page.wait_for_function(TICK_SHOWN, timeout=60_000)
            viewers += [_viewer(dep) for _ in range(9)]
            for viewer in viewers:
                viewer.start()
            _wait(lambda: all(v.subscribed.is_set() for v in viewers), "every viewer connected")
            on_victim = [v for v in viewers if dep.host_of(_hosts(v)[0]) is victim]
            assert {dep.host_of(_hosts(v)[0]) for v in viewers} == set(dep.hosts)  # spread

            _publish(hub, 1, half)
            _wait(lambda: all(len(v.received) >= half for v in viewers), "the first half delivered")
            page.wait_for_function(f"() => ({X})().length >= {half}", timeout=60_000)
            holder = _ticks(hub)[-1]
            assert _host_of_tick(dep, holder) is victim, "h1 should hold the producer's lease"
            owner = _lease_owner(dep)
            victim_pids = set(victim.pids())  # a dead process is in no namespace: ask now

            victim.kill()  # SIGKILL of every process of the host
            _publish(hub, half + 1, total)  # while its viewers reconnect
            _wait(lambda: all(len(v.received) >= total for v in viewers), "every event delivered")
            page.wait_for_function(f"() => ({X})().length >= {total}", timeout=60_000)
            browser_x = page.evaluate(X)
            # nginx logs a request when it ends: the tab's stream, on h1, was cut by the kill.
            cut = [
                line
                for line in dep.lb.requests()
                if line.startswith(victim.upstream) and BROWSER_AGENT in line
                and "/livedash/events" in line
            ]  # fmt: skip

            def moved() -> bool:
                last = _ticks(hub)[-1]
                return last.seq > holder.seq and _host_of_tick(dep, last) in survivors

            _wait(moved, "a survivor producing")
            ticks = _ticks(hub)
            new_host = _host_of_tick(dep, ticks[-1])
            assert _lease_owner(dep) not in (owner, None)  # another hub's instance id now
        finally:
            context.close()
            hub.close()

    expected = [(n, {"n": n}) for n in range(1, total + 1)]
    for viewer in viewers:
        assert _got(viewer) == expected, f"viewer via {_hosts(viewer)}: {viewer.errors[-3:]}"
        viewer.check()
    assert on_victim, "no viewer was on the killed host"
    for viewer in on_victim:  # they came back through nginx, on another host
        assert len(_hosts(viewer)) > 1 and dep.host_of(_hosts(viewer)[-1]) in survivors
    assert cut, "the tab's event stream was not on the killed host"
    assert browser_x == list(range(1, total + 1))  # and it got each event once, in order

    # The lease moved once, from the killed host to one survivor, within 3 lease periods.
    pids = [int(t.data["pid"]) for t in ticks]
    switch = next(i for i, pid in enumerate(pids) if pid not in victim_pids)
    assert switch > 0 and len(set(pids[:switch])) == 1, "another producer ran before the kill"
    assert len(set(pids[switch:])) == 1, f"several producers after the move: {set(pids)}"
    assert new_host in survivors
    missed = (ticks[switch].ts - ticks[switch - 1].ts) / TICK - 1
    print(f"lease moved after {missed:.1f} missed ticks ({LEASE / TICK:.0f} ticks per lease)")
    assert missed <= 3 * LEASE / TICK, f"{missed:.0f} ticks missed: more than 3 lease periods"


class _Publisher(threading.Thread):
    """Publishes ``feed`` values 1, 2, ... until stopped; records what was acknowledged."""

    def __init__(self, hub: Hub) -> None:
        super().__init__(daemon=True)
        self.hub = hub
        self.acked: dict[int, int] = {}  # value -> seq
        self.failed: list[str] = []  # raised: stored or not, unknown (never resent)
        self.halt = threading.Event()

    def run(self) -> None:
        n = 0
        while not self.halt.is_set():
            n += 1
            try:
                self.acked[n] = self.hub.publish("feed", {"n": n}).seq
            except StoreError as exc:
                self.failed.append(str(exc))
            self.halt.wait(0.005)

    def until_acked(self, more: int) -> None:
        target = len(self.acked) + more
        _wait(lambda: len(self.acked) >= target, f"{more} more acknowledged appends")


@pytest.mark.timeout(300)
def test_a_cluster_master_killed_and_restarted_mid_traffic_loses_and_duplicates_nothing(
    tmp_path: Path, viewers: list[StreamClient]
) -> None:
    with _deployment(tmp_path, hosts=3, store="cluster") as dep:
        cluster = dep.cluster
        assert cluster is not None
        hub = Hub(dep.store_url)
        publisher = _Publisher(hub)
        try:
            viewers += [_viewer(dep) for _ in range(6)]
            for viewer in viewers:
                viewer.start()
            _wait(lambda: all(v.subscribed.is_set() for v in viewers), "every viewer connected")
            assert {dep.host_of(_hosts(v)[0]) for v in viewers} == set(dep.hosts)
            publisher.start()
            publisher.until_acked(100)

            master = cluster.master_of("livedash:stream:{feed}")
            replica = cluster.replica_of(master)
            master.kill()  # SIGKILL: the replica takes over after cluster-node-timeout
            cluster.wait_for("the replica's promotion", lambda: cluster.role(replica) == "master")
            publisher.until_acked(100)
            master.start()  # back as a replica of the new master
            cluster.wait_for("the old master's rejoin", lambda: cluster.role(master) == "slave")
            cluster.wait_healthy()
            publisher.until_acked(100)
            publisher.halt.set()
            publisher.join(timeout=60)

            head = hub.store.head("feed")
            _wait(
                lambda: all(v.received and v.received[-1].seq >= head for v in viewers),
                "every viewer at the head",
            )
            stored = hub.store.read("feed", 0, limit=1_000_000)
        finally:
            publisher.halt.set()
            hub.close()

    assert len(stored) == head
    assert_acked_stored_once(stored, publisher.acked, "n")
    expected = [(e.seq, e.data) for e in stored]
    for viewer in viewers:
        assert _got(viewer) == expected, f"viewer via {_hosts(viewer)}: {viewer.errors[-3:]}"
        viewer.check()
