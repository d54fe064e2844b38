"""System monitor: host CPU, memory, network, disk, load and the busiest processes.

One producer samples psutil once per second and publishes one ``monitor`` event; every
graph, tile and table on every open tab is fed from that stream, so the cost on the server
does not grow with the number of viewers. ``livedash run monitor --mqtt hosts/web1/metrics``
takes the samples from an MQTT topic instead (another host's agent publishing them).
"""

from __future__ import annotations

import socket
from typing import Any

import psutil
from dash import Dash, html

from livedash import Hub, LiveAlerts, LiveGraph, LiveIndicator, LiveTable
from livedash.alerts import AlertRule, Alerts
from livedash.apps import AppOptions, frame
from livedash.errors import ConfigError
from livedash.sources.system import SystemSampler

STREAM = "monitor"
#: Samples per second, and how many the graphs keep (5 minutes).
PERIOD = 1.0
WINDOW = 300

#: Evaluated on the server, once per deployment; shown by the LiveAlerts banner.
ALERT_RULES = [
    AlertRule.parse(STREAM, "cpu > 90 for 10 s", name="High CPU", severity="critical"),
    AlertRule.parse(STREAM, "mem > 90 for 30 s", name="Memory nearly full"),
]

_PERCENT_AXIS = {"yaxis": {"range": [0, 100], "ticksuffix": "%"}}
_RATE_AXIS = {"yaxis": {"tickformat": "~s", "ticksuffix": "B/s", "rangemode": "tozero"}}


def _card(title: str, *children: Any, wide: bool = False) -> html.Section:
    return html.Section(
        [html.H3(title, className="ld-card-title"), *children],
        className="ld-card ld-card--wide" if wide else "ld-card",
    )


def _graph(title: str, y: list[str], names: list[str], layout: dict[str, Any], gid: str) -> Any:
    return _card(
        title,
        LiveGraph(
            STREAM,
            y=y,
            names=names,
            window=WINDOW,
            id=gid,
            layout={"legend": {"orientation": "h", "y": -0.2}, **layout},
            style={"height": "240px"},
        ),
    )


def layout() -> html.Div:
    """The monitor page (also a page of the gallery)."""
    cores = psutil.cpu_count() or 1
    core_fields = [f"cores.{i}" for i in range(cores)]
    kpis = html.Div(
        [
            LiveIndicator(
                STREAM,
                "cpu",
                label="CPU",
                template="{cpu:.1f}%",
                thresholds={"warn": 70, "danger": 90},
                id="kpi-cpu",
            ),
            LiveIndicator(
                STREAM,
                "mem",
                label="Memory",
                template="{mem:.1f}%",
                thresholds={"warn": 80, "danger": 90},
                id="kpi-mem",
            ),
            LiveIndicator(
                STREAM,
                "load1",
                label="Load (1 min)",
                template="{load1:.2f}",
                # A run queue longer than the core count means work is waiting.
                thresholds={"warn": float(cores), "danger": 2.0 * cores},
                id="kpi-load",
            ),
            LiveIndicator(
                STREAM, "net_rx", label="Net in", template="{net_rx}B/s", si=True, id="kpi-rx"
            ),
            LiveIndicator(
                STREAM, "net_tx", label="Net out", template="{net_tx}B/s", si=True, id="kpi-tx"
            ),
            LiveIndicator(
                STREAM, "disk_r", label="Disk read", template="{disk_r}B/s", si=True, id="kpi-dr"
            ),
            LiveIndicator(
                STREAM, "disk_w", label="Disk write", template="{disk_w}B/s", si=True, id="kpi-dw"
            ),
        ],
        className="ld-kpis",
    )
    procs = LiveTable(
        STREAM,
        [
            {"field": "pid", "label": "PID", "align": "right"},
            {"field": "name", "label": "Process"},
            {"field": "cpu", "label": "CPU %", "format": ".1f", "align": "right"},
            {"field": "mem", "label": "Mem %", "format": ".1f", "align": "right"},
        ],
        rows="procs",
        mode="replace",
        id="monitor-procs",
    )
    return html.Div(
        [
            html.Header(
                [
                    html.H2("System monitor"),
                    html.P(
                        f"{socket.gethostname()} · {cores} cores · sampled every second, "
                        "graphs show the last 5 minutes",
                        className="ld-subtitle",
                    ),
                ],
                className="ld-page-header",
            ),
            LiveAlerts(id="monitor-alerts"),
            kpis,
            html.Div(
                [
                    _graph(
                        "CPU",
                        ["cpu", *core_fields],
                        ["total", *[f"core {i}" for i in range(cores)]],
                        _PERCENT_AXIS,
                        "monitor-cpu",
                    ),
                    _graph("Memory", ["mem"], ["used"], _PERCENT_AXIS, "monitor-mem"),
                    _graph(
                        "Network", ["net_rx", "net_tx"], ["in", "out"], _RATE_AXIS, "monitor-net"
                    ),
                    _graph(
                        "Disk", ["disk_r", "disk_w"], ["read", "write"], _RATE_AXIS, "monitor-disk"
                    ),
                    _graph(
                        "Load average",
                        ["load1", "load5", "load15"],
                        ["1 min", "5 min", "15 min"],
                        {"yaxis": {"rangemode": "tozero"}},
                        "monitor-load",
                    ),
                    _card("Top processes by CPU", procs),
                ],
                className="ld-grid",
            ),
        ],
        className="ld-page monitor",
    )


def register(app: Dash, hub: Hub, mqtt: str | None = None, broker: str = "127.0.0.1:1883") -> None:
    """Add the sampler to ``hub``: one psutil sample per second for every viewer, or, with
    ``mqtt`` (a topic filter), every sample published on that topic at ``broker``."""
    del app  # the monitor needs no callbacks; every update is pushed
    # A day of samples: the graphs' time windows go back 24 hours.
    hub.stream(STREAM, max_events=86_400)
    hub.add_source(Alerts(ALERT_RULES))
    if mqtt is not None:
        from livedash.sources.mqtt import MQTTSource

        host, _, port = broker.rpartition(":")
        if not host or not port.isdigit():
            raise ConfigError(f"--mqtt-broker must be HOST:PORT, got {broker!r}")
        hub.add_source(MQTTSource({mqtt: STREAM}, host=host, port=int(port), name="monitor.mqtt"))
        return
    sampler = SystemSampler()

    @hub.every(PERIOD, stream=STREAM)
    def monitor() -> dict[str, Any]:
        return sampler.sample()


def create_push_app(hub: Hub, mqtt: str | None = None, broker: str = "127.0.0.1:1883") -> Dash:
    """The monitor on its own, publishing through ``hub`` (fed from ``mqtt`` if given)."""
    app = Dash(__name__, title="livedash · monitor")
    app.layout = frame.standalone("Monitor", layout())
    register(app, hub, mqtt, broker)
    hub.init_app(app)
    return app


def create_app(options: AppOptions) -> Dash:
    """Factory used by ``livedash run monitor``."""
    if options.transport != "push":
        raise ConfigError("the monitor app only runs on push; drop --transport poll")
    return create_push_app(Hub(options.store), options.mqtt, options.mqtt_broker)
