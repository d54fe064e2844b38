"""livedash: push-based real-time dashboards for Plotly Dash.

Publish to named streams on a :class:`Hub`; :func:`LiveText` and :func:`LiveGraph` in any Dash
layout show them live in every open tab, over one shared event stream per browser.
"""

from __future__ import annotations

from livedash.components import (
    LiveAlerts,
    LiveCandles,
    LiveChatLog,
    LiveGraph,
    LiveIndicator,
    LiveTable,
    LiveText,
)
from livedash.errors import (
    ConfigError,
    LivedashError,
    PublishError,
    StoreError,
    StoreUnavailable,
)
from livedash.events import Cursor, Event
from livedash.hub import Hub
from livedash.stores import Retention, Store, open_store
from livedash.transport import TransportConfig

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "Cursor",
    "Event",
    "Hub",
    "LiveAlerts",
    "LiveCandles",
    "LiveChatLog",
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
    "open_store",
]
