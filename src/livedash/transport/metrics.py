"""``GET /metrics``: a hub's counters in the Prometheus text format (prometheus-client).

Each mounted hub gets its own :class:`~prometheus_client.CollectorRegistry` holding one
collector that reads :class:`~livedash.stats.HubStats` at scrape time; nothing is registered
in prometheus-client's global registry, so two apps in one process keep their figures apart.
With several worker processes each one reports its own; Prometheus sums them.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from livedash.hub import Hub
from livedash.stats import LATENCY_BUCKETS

#: The Content-Type of the text exposition format.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class HubCollector(Collector):
    """Turns one hub's counters into metric families on every scrape."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    def collect(self) -> Iterator[Metric]:
        """Yield every livedash metric (called by the registry at scrape time)."""
        snap = self.hub.stats.snapshot()
        connections = GaugeMetricFamily(
            "livedash_open_connections", "Event streams (SSE responses) open in this process."
        )
        connections.add_metric([], snap.connections)
        yield connections
        subs = GaugeMetricFamily(
            "livedash_subscriptions",
            "Open subscriptions in this process (event streams, long polls, sources).",
        )
        subs.add_metric([], self.hub.subscriber_count())
        yield subs
        healthy = GaugeMetricFamily(
            "livedash_store_healthy", "1 while the store answers reads, 0 while it does not."
        )
        healthy.add_metric([], 1 if self.hub.healthy else 0)
        yield healthy
        yield _per_stream(
            "livedash_events_published", "Events stored by publish, per stream.", snap.published
        )
        yield _per_stream(
            "livedash_events_delivered",
            "Events sent to clients (event streams and polls), per stream; one event sent to "
            "ten clients counts ten.",
            snap.delivered,
        )
        rejected = CounterMetricFamily(
            "livedash_publish_rejected", "Publish calls refused, per reason.", labels=["reason"]
        )
        for reason, n in sorted(snap.rejected.items()):
            rejected.add_metric([reason], n)
        yield rejected
        resyncs = CounterMetricFamily(
            "livedash_resyncs",
            "Client readers that re-read the store: after a queue overflow, or after retention "
            "removed events the client had not seen (gap).",
            labels=["reason"],
        )
        for reason in ("overflow", "gap"):
            resyncs.add_metric([reason], snap.resyncs.get(reason, 0))
        yield resyncs
        overflows = CounterMetricFamily(
            "livedash_queue_overflows",
            "Subscriber queues that filled up and were dropped (the reader resyncs).",
        )
        overflows.add_metric([], snap.overflows)
        yield overflows
        errors = CounterMetricFamily(
            "livedash_producer_errors",
            "Exceptions raised by @hub.every producers, per stream.",
            labels=["stream"],
        )
        for producer in self.hub.producers:
            errors.add_metric([producer.stream], producer.errors)
        yield errors
        latency = HistogramMetricFamily(
            "livedash_publish_latency_seconds",
            "Time to store one publish call (validated events to stored events).",
        )
        bounds = [*(repr(b) for b in LATENCY_BUCKETS), "+Inf"]
        latency.add_metric(
            [], list(zip(bounds, snap.latency_buckets, strict=True)), snap.latency_sum
        )
        yield latency


def _per_stream(name: str, doc: str, counts: dict[str, int]) -> CounterMetricFamily:
    family = CounterMetricFamily(name, doc, labels=["stream"])
    for stream, n in sorted(counts.items()):
        family.add_metric([stream], n)
    return family


def hub_registry(hub: Hub) -> CollectorRegistry:
    """A new registry holding only ``hub``'s collector."""
    registry = CollectorRegistry(auto_describe=True)
    registry.register(HubCollector(hub))
    return registry


def render(registry: CollectorRegistry) -> bytes:
    """The registry's metrics in the text exposition format."""
    return generate_latest(registry)
