"""HTTP transport: SSE, polling and ingest routes mounted on a Dash app's server."""

from __future__ import annotations

import hashlib
import ipaddress
import math
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
    from livedash.transport.routes import Routes

#: Largest accepted ``POST /livedash/publish`` body, in bytes (default of ``max_body``).
MAX_BODY = 1024 * 1024
#: Where :func:`mount` records what it mounted on the server (:func:`mounts_of`).
EXTENSION_KEY = "livedash"
#: The browser client's scripts and styles, served under ``{prefix}/static/``.
ASSETS = Path(__file__).resolve().parent.parent / "assets"
#: Dash backends whose server is an ASGI app; livedash mounts there as ASGI middleware.
ASGI_BACKENDS = ("fastapi", "quart")


#: The environment variables the defaults of :class:`TransportConfig` come from: how
#: ``livedash run`` / ``serve`` options (``--token``, ``--heartbeat``) reach an app's configs
#: as they are made, so that nothing is changed once it is mounted.
TOKEN_ENV, HEARTBEAT_ENV = "LIVEDASH_TOKEN", "LIVEDASH_HEARTBEAT"
#: Seconds between keep-alive comments on an idle event stream, by default.
HEARTBEAT = 15.0
#: Longest accepted heartbeat: past a few minutes, proxies would have closed the stream.
MAX_HEARTBEAT = 3600.0


def _env_token() -> str | None:
    return os.environ.get(TOKEN_ENV) or None


def parse_heartbeat(text: str, source: str = "--heartbeat") -> float:
    """Seconds between keep-alive comments, from ``text`` (``--heartbeat`` or
    :data:`HEARTBEAT_ENV`); raise :class:`~livedash.ConfigError` saying what is accepted."""
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not (math.isfinite(seconds) and 0 < seconds <= MAX_HEARTBEAT):
        raise ConfigError(
            f"{source} must be a number of seconds above 0 and at most {MAX_HEARTBEAT:g} "
            f"(how often an idle event stream sends a keep-alive comment; default 15), "
            f"got {text!r}"
        )
    return seconds


def heartbeat_from_env() -> float | None:
    """The heartbeat :data:`HEARTBEAT_ENV` asks for, or None when it is unset or empty."""
    text = os.environ.get(HEARTBEAT_ENV, "").strip()
    return parse_heartbeat(text, HEARTBEAT_ENV) if text else None


def _env_heartbeat() -> float:
    return heartbeat_from_env() or HEARTBEAT


@dataclass(frozen=True)
class TransportConfig:
    """Settings of the mounted routes.

    A config is immutable once made. ``token``: bearer token required by
    ``POST /livedash/publish`` (default: the ``LIVEDASH_TOKEN`` environment variable, which
    ``--token`` sets; no token means open ingest, which the command
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

    ``heartbeat``: seconds between keep-alive comments on an idle event stream (default:
    ``LIVEDASH_HEARTBEAT``, which ``--heartbeat`` sets, else 15); a client
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
    heartbeat: float = field(default_factory=_env_heartbeat)
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
        object.__setattr__(
            self, "allowed_origins", tuple(o.rstrip("/") for o in self.allowed_origins)
        )
        if self.readable is not None:
            if isinstance(self.readable, str) or not all(
                isinstance(p, str) and p for p in self.readable
            ):
                raise ConfigError(
                    f"readable must be a list of stream-name patterns such as "
                    f"['seed', 'ticker.*'], got {self.readable!r}"
                )
            patterns = tuple(self.readable)
            object.__setattr__(self, "readable", patterns)
            object.__setattr__(self, "can_read", _readable_rule(patterns, self.can_read))

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


@dataclass(frozen=True)
class Mount:
    """What :func:`mount` put on a server: the hub, its config and the route table that
    answers for them (its secret is the one the app's yes-view checks)."""

    hub: Hub
    config: TransportConfig
    routes: Routes


def mounts_of(server: Any) -> tuple[Mount, ...]:
    """The record of what is mounted on a Dash app's server, in mounting order (empty when
    livedash is not mounted): ``server.extensions`` on Flask and Quart, ``server.state`` on
    FastAPI. The record is a tuple, replaced whole by each mount, never changed."""
    extensions = getattr(server, "extensions", None)
    if isinstance(extensions, dict):
        found: tuple[Mount, ...] = extensions.get(EXTENSION_KEY, ())
        return found
    state = getattr(server, "state", None)
    return tuple(getattr(state, EXTENSION_KEY, ())) if state is not None else ()


def record_mount(server: Any, mount: Mount) -> None:
    """Add ``mount`` to ``server``'s record (:func:`mounts_of`). One prefix, one mount."""
    if any(m.config.prefix == mount.config.prefix for m in mounts_of(server)):
        raise ConfigError(
            f"livedash is mounted on this app under {mount.config.prefix!r} already; mount "
            "each hub once, or give the second a TransportConfig(prefix=...) of its own"
        )
    record = (*mounts_of(server), mount)
    extensions = getattr(server, "extensions", None)
    if isinstance(extensions, dict):
        extensions[EXTENSION_KEY] = record
    else:
        setattr(server.state, EXTENSION_KEY, record)


def mounted_configs(app: Any) -> list[TransportConfig]:
    """The transport configs mounted on a Dash app (empty when livedash is not mounted)."""
    server = getattr(app, "server", None)
    return [] if server is None else [m.config for m in mounts_of(server)]


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
