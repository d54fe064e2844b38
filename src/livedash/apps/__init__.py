"""The apps shipped with livedash, runnable with ``livedash run NAME``."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from livedash.apps.userfile import is_app_file, load_app_file
from livedash.errors import ConfigError

#: name -> module; each module has ``create_app(options: AppOptions) -> dash.Dash``.
APPS = {
    "gallery": "livedash.apps.gallery",
    "seed": "livedash.apps.seed",
    "monitor": "livedash.apps.monitor",
    "ticker": "livedash.apps.ticker",
    "chat": "livedash.apps.chat",
}


@dataclass(frozen=True)
class AppOptions:
    """What the CLI passes to an app factory."""

    store: str = "sqlite:///livedash.db"
    transport: str = "push"
    #: MQTT topic filter that feeds the monitor instead of this host's psutil (``--mqtt``)
    mqtt: str | None = None
    #: ``host:port`` of the MQTT broker (``--mqtt-broker``)
    mqtt_broker: str = "127.0.0.1:1883"


def create(name: str, options: AppOptions) -> Any:
    """Build the Dash app called ``name``, or load the user's Dash file when ``name`` is a
    path (``livedash run path/to/app.py``)."""
    if is_app_file(name):
        return load_app_file(name)
    module = APPS.get(name)
    if module is None:
        raise ConfigError(f"unknown app {name!r}; choose one of: {', '.join(sorted(APPS))}")
    if options.mqtt is not None and name != "monitor":
        raise ConfigError(f"--mqtt feeds the monitor app only, not {name!r}; run: monitor --mqtt")
    return importlib.import_module(module).create_app(options)
