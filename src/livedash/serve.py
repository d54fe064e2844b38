"""Production serving: ``livedash serve APP --workers N --store URL``.

Every app runs on uvicorn with ``--workers N``, whatever its Dash backend: an open event
stream is a coroutine awaiting its subscription on the worker's event loop, no thread or
greenlet each (:mod:`livedash.transport.asgi`). Apps on Dash's default Flask backend have
their pages and callbacks run by a2wsgi's WSGI-to-ASGI adapter, with livedash's routes native
ASGI in front of it (:func:`~livedash.transport.serving.asgi_server`); fastapi and quart apps are
ASGI already.

The older WSGI serving of Flask apps under gunicorn (``--worker-class gevent|gthread``, a
greenlet or an OS thread per open stream) was removed once it won nowhere measured: one
uvicorn worker holds 2,000 streams at p99 97 ms and 7% CPU, a gevent worker 2,000 at 144 ms
and 10% (``bench/results/clients-ticker-f0dfe7f.md``).

The ``livedash`` process execs the server, so the master has imported nothing of the app and
signals reach it directly. Every worker builds its own app and :class:`~livedash.Hub`;
producers run once per deployment thanks to the store's leases, and every worker fans events
out to its own clients.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import importlib
import math
import os
import resource
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import formatdate
from functools import partial
from typing import Any, NoReturn
from urllib.parse import urlparse

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import HANDLED_SIGNALS

from livedash.errors import ConfigError
from livedash.transport.asgi_types import DISCONNECT_WATCH, SHUTDOWN_WATCH

#: The one worker class; ``--worker-class`` stays only to explain what replaced the others.
WORKER_CLASS = "uvicorn"
#: Worker classes of earlier releases, and what to do instead.
REMOVED_WORKER_CLASSES = ("gevent", "gthread")
#: Most simultaneous requests (open event streams included) per worker; connections that
#: have not sent a request yet do not count (:class:`HttpProtocol`).
DEFAULT_CONNECTIONS = 10_000
#: Seconds a connection has to send a complete request head: from when it opens, and from
#: the end of each response while it is kept alive. Then it is closed, so connections that
#: send nothing (or a byte now and then) cannot pile up (:data:`HEADER_TIMEOUT_ENV`).
HEADER_TIMEOUT = 5.0
#: Seconds a request's body may take to arrive once its head has (:data:`BODY_TIMEOUT_ENV`).
BODY_TIMEOUT = 30.0
HEADER_TIMEOUT_ENV, BODY_TIMEOUT_ENV = "LIVEDASH_HEADER_TIMEOUT", "LIVEDASH_BODY_TIMEOUT"
#: Seconds an idle kept-alive connection stays open after a response (uvicorn's default).
KEEP_ALIVE = 5
#: Seconds a stopping worker lets requests in progress finish (open event streams end at once:
#: their clients reconnect and resume anyway).
GRACEFUL_TIMEOUT = 5
#: The key apps sign sessions with (see livedash.apps.chat), shared by the workers.
SECRET_ENV = "LIVEDASH_SECRET"
#: How uvicorn's workers learn which app to build (they import :func:`asgi_app` by name),
#: and how many of them there are (for their log line).
APP_ENV, STORE_ENV = "LIVEDASH_SERVE_APP", "LIVEDASH_SERVE_STORE"
WORKERS_ENV = "LIVEDASH_SERVE_WORKERS"
#: Longest the app check may take to import the app's module (imports Dash).
PROBE_TIMEOUT = 120
#: Highest TCP port number.
MAX_PORT = 65535
#: Longest uvicorn's main loop sleeps under ``livedash run`` / ``serve``. It used to tick to
#: look at its exit flag and refresh the Date header: ten wake-ups a second in uvicorn (1.4 of
#: an idle server's 2.2 ms CPU a second, measured with ``bench.profile``), one a second here
#: later (still 0.2 of 1.6 ms with one client). Now an exit signal wakes it and
#: :class:`HttpProtocol` dates responses itself; this is a backstop for an exit flag set some
#: other way.
TICK = 10.0


@dataclass(frozen=True)
class ServeOptions:
    """What ``livedash serve`` was asked to do."""

    app: str
    store: str = "sqlite:///livedash.db"
    host: str = "127.0.0.1"
    port: int = 8050
    workers: int = 2
    connections: int = DEFAULT_CONNECTIONS


def check_port(port: int) -> None:
    """Refuse a TCP port number the OS cannot bind (uvicorn would fail deep inside, or
    listen somewhere else)."""
    if not 1 <= port <= MAX_PORT:
        raise ConfigError(f"--port must be 1-{MAX_PORT}, got {port}")


def check(options: ServeOptions) -> None:
    """Refuse settings that cannot work, with a message saying what to use instead. No
    I/O: the store is not opened (see :func:`check_store`)."""
    from livedash.apps import APPS
    from livedash.stores import check_store_url

    check_port(options.port)
    check_store_url(options.store)
    if options.workers < 1:
        raise ConfigError(f"--workers must be >= 1, got {options.workers}")
    if options.app not in APPS and not _is_import_spec(options.app):
        raise ConfigError(
            f"unknown app {options.app!r}: give one of {', '.join(sorted(APPS))}, "
            "or your own as module:factory (called with livedash.apps.AppOptions) or module:app"
        )
    scheme = urlparse(options.store).scheme
    if scheme == "memory" and options.workers > 1:
        raise ConfigError(
            f"memory:// is private to each process, so {options.workers} workers would each show "
            "their own data; use --store sqlite:///file.db (one host) or redis://host:port/db"
        )


def check_worker_class(name: str) -> None:
    """Accept ``--worker-class uvicorn``; refuse the removed gunicorn classes saying why."""
    if name == WORKER_CLASS:
        return
    if name in REMOVED_WORKER_CLASSES:
        raise ConfigError(
            f"--worker-class {name} was removed: livedash serve runs every app on uvicorn, "
            "which held more streams per worker at lower latency and CPU; drop the option "
            "(and --threads), or run `gunicorn yourmodule:server` yourself for WSGI serving"
        )
    raise ConfigError(f"unknown worker class {name!r}; livedash serve runs on {WORKER_CLASS}")


def check_store(url: str) -> None:
    """Refuse a Redis Cluster that no node of ``url`` answers for, before any worker starts.

    A cluster client cannot route a single command until one node has given it the slot map,
    so workers started without one would only log a failure per request; one Redis
    (``redis://``) is left to start while it is down, and the pages say the feed is degraded
    until it is back. Raises :class:`~livedash.errors.StoreUnavailable` naming the nodes."""
    if urlparse(url).scheme != "redis+cluster":
        return
    from livedash.stores import open_store

    store = open_store(url)
    try:
        store.head("livedash:serve-check")  # any read needs the slot map
    finally:
        store.close()


def uvicorn_argv(options: ServeOptions) -> list[str]:
    """The uvicorn command line for ``options`` (run with this Python; the app to build is
    in the environment, :data:`APP_ENV` and :data:`STORE_ENV`)."""
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "livedash.serve:asgi_app",
        "--factory",
        "--host",
        options.host,
        "--port",
        str(options.port),
        "--workers",
        str(options.workers),
        # Request deadlines, and --limit-concurrency counting requests, not idle connections.
        "--http",
        "livedash.serve:HttpProtocol",
        # Over this many requests in progress a worker answers 503; the client retries.
        "--limit-concurrency",
        str(options.connections),
        "--timeout-keep-alive",
        str(KEEP_ALIVE),
        "--timeout-graceful-shutdown",
        str(GRACEFUL_TIMEOUT),
        # An access line per request would log every reconnect of thousands of streams.
        "--no-access-log",
    ]


def serve(options: ServeOptions) -> NoReturn:
    """Check ``options`` and replace this process with the server."""
    check(options)
    argv = uvicorn_argv(options)
    raise_file_limit()  # inherited by the exec'd server and its workers
    os.environ[APP_ENV], os.environ[STORE_ENV] = options.app, options.store
    os.environ[WORKERS_ENV] = str(options.workers)
    # What the workers sign sessions with (the Chat's joins): the same key in every worker
    # of this host, unless the operator set one (several hosts must share theirs).
    os.environ.setdefault(SECRET_ENV, secrets.token_urlsafe(32))
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(argv[0], argv)


def load_app(spec: str, store: str) -> Any:
    """The Dash app named by ``spec``: a shipped app's name, ``module:factory`` (called with
    :class:`~livedash.apps.AppOptions`) or ``module:app`` (a ready ``dash.Dash``)."""
    from livedash.apps import APPS, AppOptions, create

    options = AppOptions(store=store)
    if spec in APPS or not _is_import_spec(spec):
        return create(spec, options)
    target = _import_target(spec)
    app = target if hasattr(target, "server") else target(options)
    if not hasattr(app, "server"):
        raise ConfigError(f"{spec!r} gave {type(app).__name__}, not a dash.Dash app")
    return app


def _import_target(spec: str) -> Any:
    """What ``module:attr`` names (a Dash app or a factory), imported; a
    :class:`~livedash.ConfigError` of one line when it cannot be."""
    module_name, _, attr = spec.partition(":")
    try:
        return getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"cannot load app {spec!r}: {exc}") from exc
    except SyntaxError as exc:
        from livedash.apps.userfile import syntax_error_message

        raise ConfigError(f"cannot load app {spec!r}: {syntax_error_message(exc)}") from None


def _is_import_spec(spec: str) -> bool:
    module, sep, attr = spec.partition(":")
    return bool(sep and module and attr.isidentifier())


def freeze_startup_objects() -> None:
    """Take what the process built so far (Dash, plotly, the app and its layout: ~75,000
    objects for the seed app) out of the garbage collector's sight. They live as long as the
    process, and every full collection walked them again: py-spy put the collector at 9% of
    the event loop's time at 2,000 open streams."""
    gc.collect()
    gc.freeze()


async def _main_loop(self: Any) -> None:
    """uvicorn's ``Server.main_loop``, asleep until an exit signal wakes it (:data:`TICK` at
    most) instead of waking ten times a second to look at its exit flag."""
    loop = asyncio.get_running_loop()
    wake = asyncio.Event()
    period = 1.0  # served from a thread: no signals here, the flag is set by another thread
    if threading.current_thread() is threading.main_thread():
        # uvicorn's handlers (restored to what was there before uvicorn when it exits) only
        # raise the flag; each is wrapped to wake this loop too. call_soon_threadsafe: a
        # handler runs between two bytecodes of any callback, and it also wakes the selector.
        for sig in HANDLED_SIGNALS:
            handler = signal.getsignal(sig)
            if callable(handler):
                signal.signal(sig, _waking(handler, partial(loop.call_soon_threadsafe, wake.set)))
        period = TICK
    should_exit = await self.on_tick(0)
    while not should_exit:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(period):
                await wake.wait()
        wake.clear()
        should_exit = await self.on_tick(0)  # 0: the Date header too


def _waking(handler: Callable[[int, Any], Any], wake: Callable[[], Any]) -> Callable[..., None]:
    def on_signal(sig: int, frame: Any) -> None:
        handler(sig, frame)
        wake()

    return on_signal


def asgi_app() -> Any:
    """uvicorn's app factory: build the app named in the environment in this worker and
    return it as an ASGI app (:func:`~livedash.transport.serving.asgi_server`)."""
    from livedash.transport import backend_of
    from livedash.transport.serving import asgi_server

    spec, store = os.environ.get(APP_ENV), os.environ.get(STORE_ENV)
    if not spec or not store:
        raise ConfigError(f"set {APP_ENV} and {STORE_ENV}, or start with `livedash serve`")
    # The options of `livedash serve` (--token, --heartbeat) reach the app's configs through
    # the environment, as it makes them.
    app = load_app(spec, store)
    server = asgi_server(app)
    # Said by each worker once its app is built: the backend is known without a probe.
    print(
        f"livedash: serving {spec} ({backend_of(app)} backend) with "
        f"{os.environ.get(WORKERS_ENV, '?')} uvicorn worker(s): worker {os.getpid()} ready",
        file=sys.stderr,
        flush=True,
    )
    freeze_startup_objects()
    # uvicorn's command line built this worker's Server and calls its main_loop once the app
    # is loaded: the same loop as `livedash run` from here on (the worker runs nothing else).
    import uvicorn

    uvicorn.Server.main_loop = _main_loop  # type: ignore[method-assign]
    return server


def run(app: Any, host: str, port: int) -> None:
    """Serve ``app`` in this process on uvicorn until interrupted (``livedash run``): one
    worker, its event streams coroutines on one event loop."""

    import uvicorn

    class Server(uvicorn.Server):
        """uvicorn's server, its main loop woken by exit signals instead of ticking."""

        main_loop = _main_loop

    from livedash.transport.serving import asgi_server

    config = uvicorn.Config(
        asgi_server(app),
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=GRACEFUL_TIMEOUT,
        http=HttpProtocol,
        limit_concurrency=DEFAULT_CONNECTIONS,
        timeout_keep_alive=KEEP_ALIVE,
    )
    raise_file_limit()
    freeze_startup_objects()
    try:
        Server(config).run()
    except KeyboardInterrupt:
        # uvicorn shuts down on Ctrl-C, then raises it again for the caller: the shutdown is
        # done, so end as `livedash serve` and Flask's server do, without a traceback (130:
        # the shell's status for a Ctrl-C).
        raise SystemExit(130) from None


def check_app(spec: str) -> None:
    """Refuse an app ``spec`` that cannot load, with one line, before any worker starts (a
    worker whose app fails is restarted by uvicorn, in a loop).

    A shipped app needs no check. For ``module:factory`` / ``module:app`` the module is
    imported in a throwaway process, with hubs held back from starting (a module-level app
    would otherwise run its producers and take their leases there); a factory is not called,
    so no app is built twice."""
    from livedash.apps import APPS

    if spec in APPS:
        return
    code = "import sys, livedash.serve as s; s.probe_app(sys.argv[1])"
    try:
        done = subprocess.run(
            [sys.executable, "-c", code, spec],
            capture_output=True,
            text=True,
            timeout=PROBE_TIMEOUT,
        )
    except subprocess.TimeoutExpired:
        raise ConfigError(f"importing {spec!r} took over {PROBE_TIMEOUT} s") from None
    if done.returncode != 0:
        detail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        prefix = f"cannot load app {spec!r}: "
        raise ConfigError(detail if detail.startswith(prefix) else prefix + detail)


def probe_app(spec: str) -> NoReturn:
    """Import the module ``spec`` names and check its attribute, without starting any hub or
    calling a factory; exit 0, or 2 with the reason on stderr (the body of
    :func:`check_app`'s throwaway process)."""
    from livedash.hub import Hub

    # This process only looks at the module: no producer may run here.
    Hub.start = lambda self: None  # type: ignore[method-assign]
    try:
        target = _import_target(spec)
    except ConfigError as exc:
        print(exc, file=sys.stderr, flush=True)
        os._exit(2)
    if not (hasattr(target, "server") or callable(target)):
        print(
            f"cannot load app {spec!r}: it is a {type(target).__name__}, neither a dash.Dash "
            "app nor a factory returning one",
            file=sys.stderr,
            flush=True,
        )
        os._exit(2)
    # Skip interpreter shutdown: a half-built hub's threads and store need no goodbye.
    os._exit(0)


def raise_file_limit() -> None:
    """Let this process (and what it execs) open as many files as the system allows it: each
    connection is one, and the usual soft limit of 1,024 would stop accepting at that many
    open connections, idle ones included, before any deadline could close them."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1_048_576)
        # A container may refuse; the soft limit then stays what it was.
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def _seconds(env: str, default: float) -> float:
    text = os.environ.get(env, "").strip()
    if not text:
        return default
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not (math.isfinite(seconds) and seconds > 0):
        raise ConfigError(f"{env} must be a number of seconds above 0, got {text!r}")
    return seconds


def _register(
    callbacks: list[Callable[[], None]], callback: Callable[[], None]
) -> Callable[[], None]:
    """Add ``callback`` to ``callbacks``; returns the function that takes it out again."""
    callbacks.append(callback)

    def forget() -> None:
        with contextlib.suppress(ValueError):
            callbacks.remove(callback)

    return forget


class HttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a deadline for each request to arrive, and
    ``--limit-concurrency`` counting connections from their first request on.

    uvicorn arms no timer on a new connection, and cancels its keep-alive timer as soon as a
    byte arrives, so a connection that sends nothing, or a request head a byte at a time,
    stayed open for ever; and every open connection counted toward the limit, so 10,000 of
    them sending nothing made every real request a 503 (issue 21). Here a connection has
    :data:`HEADER_TIMEOUT` seconds to send a request head (from its start, and again after
    each response) and :data:`BODY_TIMEOUT` for the body, or it is closed; and it counts
    toward the limit only once it has begun a request."""

    header_timeout = _seconds(HEADER_TIMEOUT_ENV, HEADER_TIMEOUT)
    body_timeout = _seconds(BODY_TIMEOUT_ENV, BODY_TIMEOUT)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None
        self._on_lost: list[Callable[[], None]] | None = None
        self._on_shutdown: list[Callable[[], None]] | None = None
        self._stopping = False

    def _arm(self, seconds: float) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._expired)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self) -> None:
        self._deadline = None
        transport = self.transport
        # Not a connection that became a WebSocket meanwhile, or one already closing.
        if transport.is_closing() or transport.get_protocol() is not self:
            return
        transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Start the clock for the first request head; not counted toward the limit yet."""
        super().connection_made(transport)
        self.connections.discard(self)
        self._arm(self.header_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        """Stop the clock; tell the responses that asked (:meth:`_watch_disconnect`)."""
        self._disarm()
        callbacks, self._on_lost = self._on_lost or [], None
        super().connection_lost(exc)
        for callback in callbacks:
            callback()

    def shutdown(self) -> None:
        """The server stops (it accepts no more connections): uvicorn's graceful shutdown,
        and the responses that asked (:meth:`_watch_shutdown`) are told. An open event
        stream would otherwise hold the shutdown for its whole graceful timeout (5 s: a
        Ctrl-C or a deploy waited that long whenever a tab was open)."""
        super().shutdown()
        self._stopping = True
        callbacks, self._on_shutdown = self._on_shutdown or [], None
        for callback in callbacks:
            callback()

    def _watch_disconnect(self, callback: Callable[[], None]) -> Callable[[], None]:
        """The :data:`~livedash.transport.asgi_types.DISCONNECT_WATCH` extension: run
        ``callback`` when this connection is lost; returns its unregistering."""
        if self._on_lost is None:
            self._on_lost = []
        return _register(self._on_lost, callback)

    def _watch_shutdown(self, callback: Callable[[], None]) -> Callable[[], None]:
        """The :data:`~livedash.transport.asgi_types.SHUTDOWN_WATCH` extension: run
        ``callback`` when the server shuts down; returns its unregistering."""
        if self._stopping:  # a stream that started while the server was stopping
            self.loop.call_soon(callback)
            return lambda: None
        if self._on_shutdown is None:
            self._on_shutdown = []
        return _register(self._on_shutdown, callback)

    def on_message_begin(self) -> None:
        """A request begins: from now on the connection counts toward the limit. Its scope
        offers the disconnect watch (an event stream then needs no task awaiting receive)."""
        super().on_message_begin()
        self.connections.add(self)
        extensions: dict[str, Any] = self.scope.setdefault("extensions", {})
        extensions[DISCONNECT_WATCH] = self._watch_disconnect
        extensions[SHUTDOWN_WATCH] = self._watch_shutdown

    def on_headers_complete(self) -> None:
        """The head is in: the body (if any) has :attr:`body_timeout` to follow. The response
        gets this second's Date header (uvicorn's main loop no longer ticks to refresh it)."""
        if self.parser.should_upgrade():
            self._disarm()
        else:
            self._arm(self.body_timeout)
        _date_headers(self.server_state, self.config)
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        """The whole request is in: the response takes as long as it takes."""
        self._disarm()
        super().on_message_complete()

    def on_response_complete(self) -> None:
        """Kept alive: the next request head has :attr:`header_timeout` to arrive."""
        waiting = bool(self.pipeline)  # a pipelined request already in starts now
        super().on_response_complete()
        if not waiting and not self.transport.is_closing():
            self._arm(self.header_timeout)


def _date_headers(state: Any, config: Any) -> None:
    """Refresh ``state.default_headers`` (what uvicorn's main loop did on its ticks) if the
    second changed since: a comparison per request, the formatting once a second at most."""
    now = time.time()
    second = int(now)
    if getattr(state, "livedash_date_second", None) == second:
        return
    state.livedash_date_second = second
    date = [(b"date", formatdate(now, usegmt=True).encode())] if config.date_header else []
    state.default_headers = date + config.encoded_headers
