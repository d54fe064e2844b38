"""The :class:`Hub` users create: the core hub, and ``init_app`` to mount it on Dash apps.

It lives above both the core (:mod:`livedash.hub`) and the transport, which it loads only
when an app is mounted: a producer process never imports Dash or Flask, and the core hub
never imports the transport that serves it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from livedash import hub

if TYPE_CHECKING:
    from livedash.transport import TransportConfig


class Hub(hub.Hub):
    """Publishes events into a store, fans them out to subscribers and serves them to the
    Dash apps it is mounted on.

    ``store`` is a :class:`~livedash.stores.Store` or a URL (``memory://``,
    ``sqlite:///livedash.db``, ``redis://localhost:6379/0``)."""

    def init_app(self, app: Any, config: TransportConfig | None = None) -> None:
        """Mount the transport routes and the browser client on a Dash app (any of Dash's
        flask, fastapi and quart backends), and start the producers and sources. The one
        way to mount livedash; ``config`` holds the routes' settings."""
        from livedash.transport import mount

        mount(app, self, config)
