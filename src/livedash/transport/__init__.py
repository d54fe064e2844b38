"""HTTP transport: SSE, polling and ingest routes mounted on a Dash app's server."""

from __future__ import annotations

import hashlib
import ipaddress
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import TYPE_CHECKING, Any

from livedash import __version__
from livedash.errors import ConfigError
from livedash.transport.params import BadRequest

if TYPE_CHECKING:
    from livedash.hub import Hub

#: Largest accepted ``POST /livedash/publish`` body, in bytes (default of ``max_body``).
MAX_BODY = 1024 * 1024
#: Where :func:`mount` records each mounted config on the server (``server.extensions`` on
#: Flask and Quart, ``server.state`` on FastAPI).
EXTENSION_KEY = "livedash"
#: The browser client's scripts and styles, served under ``{prefix}/static/``.
ASSETS = Path(__file__).resolve().parent.parent / "assets"
#: Dash backends whose server is an ASGI app; livedash mounts there as ASGI middleware.
ASGI_BACKENDS = ("fastapi", "quart")


def _env_token() -> str | None:
    return os.environ.get("LIVEDASH_TOKEN") or None


@dataclass
class TransportConfig:
    """Settings of the mounted routes.

    ``token``: bearer token required by ``POST /livedash/publish`` (default: the
    ``LIVEDASH_TOKEN`` environment variable; no token means open ingest, which the command
    line allows on a loopback address only).

    Read access (which streams a tab may follow on ``/events``, ``/poll`` and ``/range``;
    others answer 403): ``readable`` is a list of glob patterns (``["seed", "ticker.*"]``,
    ``*`` matches any run of characters, dots included), ``can_read`` a predicate on the
    stream name, called inside the request, so on Dash's Flask backend it may look at
    ``flask.request`` (a session cookie, a header), also when ``livedash run`` / ``serve``
    serve it on uvicorn; on the fastapi and quart backends it sees the stream name only.
    With both, a stream must pass both. With neither (the default), every stream is
    readable by anyone who can reach the server. ``readable`` is folded into
    ``can_read`` when the config is created, so ``can_read`` is the one rule to check.

    ``heartbeat``: seconds between keep-alive comments on an idle event stream; a client
    that closed or reset its connection is noticed at the first heartbeat that cannot be
    written. ``stall_timeout``: seconds an event stream's client may leave sent data
    unacknowledged (it stopped reading, or its host vanished from the network) before the
    server cuts the connection (``TCP_USER_TIMEOUT``, Linux); the client reconnects and
    resumes if it is still there. ``None`` leaves it to the OS (about 15 minutes for a
    vanished host, never for a connected client that stopped reading).
    ``max_body``: largest publish request body in bytes (413 above it).

    ``reauth``: seconds an event stream lives before the server ends it. The browser
    reconnects at once and resumes from its cursor (nothing lost, nothing twice), and the
    reconnect passes the app's own guards again (its ``before_request`` hooks, middleware,
    dependencies), so a user who signed out or lost access stops receiving within this
    time. ``None``: only at the reconnects the network causes.

    ``allowed_origins``: web origins (``"https://feeds.example.com"``, or ``"*"``) whose pages
    may ``POST /livedash/publish`` from the browser. A publish carrying any other foreign
    ``Origin`` is refused (403), and every publish must be ``application/json`` (415), so a
    page on another site cannot write into the dashboard. Requests without ``Origin`` (curl,
    feeds, servers) and from the dashboard's own pages are not affected.
    """

    prefix: str = "/livedash"
    token: str | None = field(default_factory=_env_token)
    heartbeat: float = 15.0
    stall_timeout: float | None = 60.0
    can_read: Callable[[str], bool] | None = None
    readable: Sequence[str] | None = None
    compress: bool = True
    max_body: int = MAX_BODY
    allowed_origins: Sequence[str] = ()
    reauth: float | None = 300.0

    def __post_init__(self) -> None:
        if self.token is not None and (
            not self.token
            or not self.token.isascii()
            or not self.token.isprintable()
            or any(c.isspace() for c in self.token)
        ):
            raise ConfigError(
                "token must be a non-empty string of printable ASCII without spaces "
                "(for example the output of `python -c 'import secrets; "
                "print(secrets.token_urlsafe(32))'`)"
            )
        if not self.heartbeat > 0:
            raise ConfigError(f"heartbeat must be > 0 seconds, got {self.heartbeat!r}")
        if self.stall_timeout is not None and not self.stall_timeout > 0:
            raise ConfigError(
                f"stall_timeout must be > 0 seconds or None, got {self.stall_timeout!r}"
            )
        if self.reauth is not None and not self.reauth > 0:
            raise ConfigError(f"reauth must be > 0 seconds or None, got {self.reauth!r}")
        if self.max_body < 1:
            raise ConfigError(f"max_body must be >= 1 byte, got {self.max_body!r}")
        if isinstance(self.allowed_origins, str) or not all(
            isinstance(o, str) and (o == "*" or "://" in o) for o in self.allowed_origins
        ):
            raise ConfigError(
                "allowed_origins must be a list of origins such as ['https://feeds.example.com'] "
                f"(scheme://host[:port], no path) or ['*'], got {self.allowed_origins!r}"
            )
        self.allowed_origins = tuple(o.rstrip("/") for o in self.allowed_origins)
        if self.readable is not None:
            if isinstance(self.readable, str) or not all(
                isinstance(p, str) and p for p in self.readable
            ):
                raise ConfigError(
                    f"readable must be a list of stream-name patterns such as "
                    f"['seed', 'ticker.*'], got {self.readable!r}"
                )
            self.readable = tuple(self.readable)
            self.can_read = _readable_rule(self.readable, self.can_read)

    def allows_read(self, stream: str) -> bool:
        """True when a tab may follow ``stream``."""
        return self.can_read is None or bool(self.can_read(stream))

    def check_read(self, streams: Iterable[str]) -> None:
        """Refuse a request for streams a tab may not follow (403, the same on every backend)."""
        refused = [s for s in streams if not self.allows_read(s)]
        if refused:
            raise BadRequest(
                f"not allowed to read streams {refused}: the app does not list them as "
                "readable (TransportConfig readable / can_read)",
                403,
                reason="forbidden",
            )


def _readable_rule(
    patterns: tuple[str, ...], also: Callable[[str], bool] | None
) -> Callable[[str], bool]:
    def can_read(stream: str) -> bool:
        return any(fnmatchcase(stream, p) for p in patterns) and (also is None or also(stream))

    return can_read


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach (``127.0.0.1``, ``::1``,
    ``localhost``)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_binding(host: str, token: str | None) -> None:
    """Refuse to serve open ingest on an address other machines can reach.

    Raises :class:`~livedash.ConfigError` when ``host`` is not a loopback address and no
    token is set."""
    if token is None and not is_loopback(host):
        raise ConfigError(
            f"refusing to bind {host} without a token: anyone who can reach it could publish; "
            "pass --token TOKEN or set LIVEDASH_TOKEN (or bind 127.0.0.1)"
        )


def mounted_configs(app: Any) -> list[TransportConfig]:
    """The transport configs mounted on a Dash app (empty when livedash is not mounted)."""
    server = getattr(app, "server", None)
    return [] if server is None else list(configs_of(server).values())


def configs_of(server: Any) -> dict[str, TransportConfig]:
    """Where the configs mounted on a Dash app's server are recorded, by prefix
    (``server.extensions`` on Flask and Quart, ``server.state`` on FastAPI)."""
    extensions = getattr(server, "extensions", None)
    if isinstance(extensions, dict):
        found: dict[str, TransportConfig] = extensions.setdefault(EXTENSION_KEY, {})
        return found
    state = server.state
    if not hasattr(state, EXTENSION_KEY):
        setattr(state, EXTENSION_KEY, {})
    found = getattr(state, EXTENSION_KEY)
    return found


def backend_of(app: Any) -> str:
    """The name of a Dash app's server backend: ``flask``, ``fastapi`` or ``quart``."""
    backend = getattr(app, "backend", None)
    kind = getattr(backend, "server_type", None)
    if isinstance(kind, str):
        return kind
    return "flask"  # Dash before backends existed serves on Flask only


def mount(app: Any, hub: Hub, config: TransportConfig | None = None) -> None:
    """Add the livedash routes and browser client to ``app`` (a ``dash.Dash``), on any of
    Dash's backends (Flask routes on ``flask``, ASGI middleware on ``fastapi`` and ``quart``),
    and start the hub's producers and sources."""
    config = config or TransportConfig()
    server = getattr(app, "server", None)
    try:
        from flask import Flask
    except ImportError:  # pragma: no cover - flask is a dependency of dash
        Flask = None  # type: ignore[assignment,misc]
    if Flask is not None and isinstance(server, Flask):
        from livedash.transport.flask_routes import mount_flask

        mount_flask(app, server, hub, config)
        hub.start()
        return
    if backend_of(app) in ASGI_BACKENDS and server is not None:
        from livedash.transport.asgi import mount_asgi

        mount_asgi(app, server, hub, config)
        hub.start()
        return
    raise ConfigError(
        f"livedash mounts on Dash's flask, fastapi and quart backends, got server "
        f"{type(server).__name__!r}; create the app with dash.Dash(__name__) or "
        "dash.Dash(__name__, backend='fastapi')"
    )


def assets_version(folder: Path = ASSETS) -> str:
    """The ``?v=`` of the client's URLs: the package version and a digest of the assets in
    ``folder``.

    Browsers cache these files for :data:`~livedash.transport.routes.STATIC_MAX_AGE`; with the
    digest in the URL, a changed client is fetched at once even when the version number did
    not change (a development checkout, a patched install). Every tab still gets the same
    SharedWorker URL from the same server files, so they keep sharing one connection."""
    digest = hashlib.sha256()
    for path in sorted(folder.iterdir()):
        if path.is_file():
            digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return f"{__version__}-{digest.hexdigest()[:10]}"


def add_client(app: Any, config: TransportConfig) -> None:
    """Add the browser client's scripts and styles to ``app``'s pages (every backend)."""
    version = assets_version()
    script = app.get_relative_path(f"{config.prefix}/static/livedash.js")
    base = app.get_relative_path(config.prefix)
    app.config.external_scripts.append(f"{script}?v={version}&base={base}")
    # Extra widget kinds live in assets/widget-*.js and register themselves with the client.
    for extra in sorted(ASSETS.glob("widget-*.js")):
        url = app.get_relative_path(f"{config.prefix}/static/{extra.name}")
        app.config.external_scripts.append(f"{url}?v={version}")
    app.config.external_stylesheets.append(
        app.get_relative_path(f"{config.prefix}/static/livedash.css") + f"?v={version}"
    )
