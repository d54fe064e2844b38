"""MQTT topics as a source (paho-mqtt; ``pip install livedash[mqtt]``).

Each message on a subscribed topic becomes one event::

    hub.add_source(MQTTSource({"sensors/+/temperature": "temps"}, host="127.0.0.1"))

A JSON object payload is published as it is; a JSON number, string, boolean or array as
``{"value": ...}``; any other UTF-8 text as ``{"value": "the text"}``. With
``with_topic=True`` the event also carries ``"topic"`` (the concrete topic, useful with
wildcards). Payloads that are not UTF-8 are dropped and counted in ``errors``.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from livedash.errors import ConfigError
from livedash.events import validate_stream_name
from livedash.producers import Emit, Source

try:
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion
except ImportError as exc:  # pragma: no cover - depends on the install
    raise ImportError(
        "livedash.sources.mqtt needs paho-mqtt: pip install 'livedash[mqtt]'"
    ) from exc

log = logging.getLogger(__name__)


def topic_stream(topic_filter: str) -> str:
    """A stream name for a topic filter: ``sensors/+/temp`` -> ``sensors.temp``."""
    parts = [p for p in topic_filter.split("/") if p and p not in ("+", "#")]
    name = ".".join(parts)[:64] or "mqtt"
    return validate_stream_name("".join(c if c.isalnum() or c in "_.-" else "_" for c in name))


def decode_payload(payload: bytes | bytearray) -> dict[str, Any] | None:
    """Event data for an MQTT payload, or None when it is not UTF-8 text."""
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return {"value": text}
    if isinstance(value, dict):
        return value
    return {"value": value}


class MQTTSource(Source):
    """Subscribes to MQTT topic filters and publishes every message.

    ``topics`` maps topic filters (``+`` and ``#`` wildcards allowed) to stream names, or
    lists filters, each published to ``stream`` when given, else to a stream named after
    the filter (:func:`topic_stream`). paho reconnects on its own after a broker restart;
    ``connected`` is set while the connection is up and subscribed.
    """

    def __init__(
        self,
        topics: Mapping[str, str] | Sequence[str],
        *,
        host: str = "127.0.0.1",
        port: int = 1883,
        stream: str | None = None,
        qos: int = 0,
        with_topic: bool = False,
        username: str | None = None,
        password: str | None = None,
        keepalive: int = 30,
        name: str | None = None,
        single: bool = True,
    ) -> None:
        if isinstance(topics, str):
            raise ConfigError(f"topics must be a list or a dict of topic filters, got {topics!r}")
        if isinstance(topics, Mapping):
            routes = {f: validate_stream_name(s) for f, s in topics.items()}
        else:
            routes = {f: validate_stream_name(stream or topic_stream(f)) for f in topics}
        if not routes:
            raise ConfigError("MQTTSource needs at least one topic filter")
        if qos not in (0, 1, 2):
            raise ConfigError(f"qos must be 0, 1 or 2, got {qos!r}")
        super().__init__(name or f"mqtt.{topic_stream(next(iter(routes)))}"[:64], single=single)
        self.routes = routes
        self.host = host
        self.port = port
        self.qos = qos
        self.with_topic = with_topic
        self.username = username
        self.password = password
        self.keepalive = keepalive
        #: set while connected to the broker and subscribed
        self.connected = threading.Event()

    def streams_for(self, topic: str) -> list[str]:
        """The streams a message on ``topic`` goes to (one per matching filter)."""
        out = []
        for topic_filter, stream in self.routes.items():
            if mqtt.topic_matches_sub(topic_filter, topic) and stream not in out:
                out.append(stream)
        return out

    def run(self, emit: Emit, stopping: threading.Event) -> None:
        """Connect, subscribe, publish each message; disconnect when stopped."""
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="", reconnect_on_failure=True)
        if self.username is not None:
            client.username_pw_set(self.username, self.password)
        client.reconnect_delay_set(min_delay=1, max_delay=10)

        def on_connect(
            client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any
        ) -> None:
            if reason.is_failure:
                log.warning(
                    "livedash: MQTT broker %s:%s refused us: %s", self.host, self.port, reason
                )
                return
            # Subscribing on every (re)connect: a clean session forgets subscriptions.
            client.subscribe([(f, self.qos) for f in self.routes])

        def on_subscribe(
            client: mqtt.Client, userdata: Any, mid: int, reasons: Any, properties: Any
        ) -> None:
            self.connected.set()

        def on_disconnect(
            client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any
        ) -> None:
            self.connected.clear()

        def on_message(client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
            data = decode_payload(msg.payload)
            if data is None:
                self.errors += 1
                log.warning("livedash: MQTT message on %r is not UTF-8; dropped", msg.topic)
                return
            if self.with_topic:
                data = {**data, "topic": msg.topic}
            for stream in self.streams_for(msg.topic):
                emit(stream, data)

        client.on_connect = on_connect
        client.on_subscribe = on_subscribe
        client.on_disconnect = on_disconnect
        client.on_message = on_message
        client.connect_async(self.host, self.port, keepalive=self.keepalive)
        client.loop_start()  # paho's own thread: connects, retries and dispatches
        try:
            stopping.wait()
        finally:
            client.disconnect()
            client.loop_stop()
            self.connected.clear()
