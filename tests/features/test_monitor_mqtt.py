"""`livedash run monitor --mqtt TOPIC`: the monitor fed from a real MQTT broker."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from livedash import ConfigError, Hub
from livedash.apps import AppOptions, create, monitor
from livedash.cli import build_parser
from livedash.sources.mqtt import MQTTSource
from livedash.sources.system import SystemSampler
from livedash.testing import LiveServer


def test_the_flag_reaches_the_app_options_and_other_apps_refuse_it() -> None:
    args = build_parser().parse_args(["run", "monitor", "--mqtt", "hosts/+/metrics"])
    assert (args.mqtt, args.mqtt_broker) == ("hosts/+/metrics", "127.0.0.1:1883")
    with pytest.raises(ConfigError, match="monitor app only"):
        create("seed", AppOptions(store="memory://", mqtt="x"))
    with pytest.raises(ConfigError, match="HOST:PORT"):
        create("monitor", AppOptions(store="memory://", mqtt="x", mqtt_broker="nowhere"))


@pytest.mark.browser
def test_monitor_shows_samples_published_on_mqtt(
    context: Any,
    hub_factory: Callable[..., Hub],
    live_server: Callable[[Any], LiveServer],
    mqtt_broker: tuple[str, int],
) -> None:
    topic = f"livedash-test/{uuid.uuid4().hex}/metrics"
    host, port = mqtt_broker
    hub = hub_factory()
    app = monitor.create_push_app(hub, mqtt=topic, broker=f"{host}:{port}")
    assert hub.producers == []  # no local psutil sampling
    (source,) = [s for s in hub.sources if isinstance(s, MQTTSource)]
    server = live_server(app)
    assert source.connected.wait(30), "the monitor never subscribed to the broker"
    page = context.new_page()
    page.goto(server.url)
    page.wait_for_selector("#kpi-cpu-value")
    publisher = mqtt.Client(CallbackAPIVersion.VERSION2)
    publisher.connect(host, port)
    publisher.loop_start()
    try:
        sample = SystemSampler().sample()  # a real sample, as a remote agent would send
        for cpu in (12.5, 93.5):
            sample["cpu"] = cpu
            publisher.publish(topic, json.dumps(sample), qos=1).wait_for_publish(timeout=10)
            page.wait_for_function(
                "t => document.querySelector('#kpi-cpu-value').textContent === t",
                arg=f"{cpu:.1f}%",
                timeout=30_000,
            )
    finally:
        publisher.disconnect()
        publisher.loop_stop()
    assert page.evaluate(
        "document.querySelector('#kpi-cpu').classList.contains('livedash-kpi--danger')"
    )
    assert source.published == 2
    # The CPU graph drew both samples.
    page.wait_for_function(
        "() => JSON.stringify(document.querySelector('#monitor-cpu .js-plotly-plot')?"
        ".data?.[0]?.y?.slice(-2)) === '[12.5,93.5]'",
        timeout=30_000,
    )
