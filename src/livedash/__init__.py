"""livedash: push-based real-time dashboards for Plotly Dash.

Publish to named streams on a :class:`Hub`; :func:`LiveText` and :func:`LiveGraph` in any Dash
layout show them live in every open tab, over one shared event stream per browser.

The core (:mod:`livedash.hub`, :mod:`livedash.events`, :mod:`livedash.stores`) imports no web
framework: the components (Dash) and the transport (its routes) load on first use, so a
producer process needs neither Dash nor Flask installed.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from livedash.dash_hub import Hub
from livedash.errors import (
    ConfigError,
    LivedashError,
    PublishError,
    StoreError,
    StoreUnavailable,
)
from livedash.events import Cursor, Event
from livedash.stores import Retention, Store, open_store

if TYPE_CHECKING:
    from livedash.components import (
        LiveAlerts,
        LiveCandles,
        LiveChatLog,
        LiveData,
        LiveGraph,
        LiveIndicator,
        LiveTable,
        LiveText,
        widget_attrs,
    )
    from livedash.transport import TransportConfig, mount

__version__ = "0.1.0"

#: Public names that live in modules needing Dash or a web framework, loaded on first use.
_LAZY = {
    "LiveAlerts": "livedash.components",
    "LiveCandles": "livedash.components",
    "LiveChatLog": "livedash.components",
    "LiveData": "livedash.components",
    "LiveGraph": "livedash.components",
    "LiveIndicator": "livedash.components",
    "LiveTable": "livedash.components",
    "LiveText": "livedash.components",
    "TransportConfig": "livedash.transport",
    "mount": "livedash.transport",
    "widget_attrs": "livedash.components",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'livedash' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


__all__ = [
    "ConfigError",
    "Cursor",
    "Event",
    "Hub",
    "LiveAlerts",
    "LiveCandles",
    "LiveChatLog",
    "LiveData",
    "LiveGraph",
    "LiveIndicator",
    "LiveTable",
    "LiveText",
    "LivedashError",
    "PublishError",
    "Retention",
    "Store",
    "StoreError",
    "StoreUnavailable",
    "TransportConfig",
    "__version__",
    "mount",
    "open_store",
    "widget_attrs",
]
