"""HTTP transport: SSE, polling and ingest routes mounted on a Dash app's server."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from livedash.errors import ConfigError

if TYPE_CHECKING:
    from livedash.hub import Hub


def _env_token() -> str | None:
    return os.environ.get("LIVEDASH_TOKEN") or None


@dataclass
class TransportConfig:
    """Settings of the mounted routes.

    ``token``: bearer token required by ``POST /livedash/publish`` (default: the
    ``LIVEDASH_TOKEN`` environment variable; no token means open ingest).
    ``can_read``: predicate on a stream name; streams it refuses answer 403.
    """

    prefix: str = "/livedash"
    token: str | None = field(default_factory=_env_token)
    heartbeat: float = 15.0
    can_read: Callable[[str], bool] | None = None
    compress: bool = True


def mount(app: Any, hub: Hub, config: TransportConfig | None = None) -> None:
    """Add the livedash routes and browser client to ``app`` (a ``dash.Dash``)."""
    config = config or TransportConfig()
    server = getattr(app, "server", None)
    try:
        from flask import Flask
    except ImportError:  # pragma: no cover - flask is a dependency of dash
        Flask = None  # type: ignore[assignment,misc]
    if Flask is not None and isinstance(server, Flask):
        from livedash.transport.flask_routes import mount_flask

        mount_flask(app, server, hub, config)
        return
    raise ConfigError(
        f"livedash can mount on Dash's Flask backend only for now, got server "
        f"{type(server).__name__!r}; create the app with dash.Dash(__name__) (backend='flask')"
    )
