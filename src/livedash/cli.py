"""The ``livedash`` command."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any

from livedash.apps import APPS, AppOptions, create
from livedash.errors import ConfigError, LivedashError
from livedash.serve import check_port
from livedash.stores import store_url

log = logging.getLogger("livedash")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="livedash",
        description="Push-based real-time dashboards for Plotly Dash.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = commands.add_parser(
        "run",
        help="serve an app in one process (uvicorn, producers in process)",
        description="Serve an app in one process on uvicorn: open event streams are "
        "coroutines on one event loop, pages and callbacks run in a small thread pool, "
        "producers run in process.",
    )
    run.add_argument(
        "app",
        nargs="?",
        default="gallery",
        help=f"the app to serve: {', '.join(sorted(APPS))} (default: gallery), or the path of "
        "your own Dash file (path/to/app.py, whose `app` is served; --store and --transport "
        "apply to the built-in apps only)",
    )
    run.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    # $PORT as the default, as Dash's own app.run() does; argparse converts and checks it.
    run.add_argument(
        "--port",
        type=int,
        default=os.environ.get("PORT", "8050"),
        help="port to bind (default: $PORT, else 8050)",
    )
    run.add_argument(
        "--store",
        default="sqlite:///livedash.db",
        help="where streams are kept: memory://, sqlite:///path.db (default: "
        "sqlite:///livedash.db, in the working directory) or redis://host:port/db",
    )
    run.add_argument(
        "--transport",
        choices=["push", "poll"],
        default="push",
        help="push: livedash event stream (default); poll: the classic dcc.Interval recipe",
    )
    _add_token_option(run)
    _add_heartbeat_option(run)
    run.add_argument(
        "--mqtt",
        metavar="TOPIC",
        default=None,
        help="monitor only: take the host samples from this MQTT topic (wildcards allowed; "
        "each message a JSON sample like the one psutil gives) instead of this machine",
    )
    run.add_argument(
        "--mqtt-broker",
        metavar="HOST:PORT",
        default="127.0.0.1:1883",
        help="the MQTT broker for --mqtt (default: 127.0.0.1:1883)",
    )
    add_serve_parser(commands)
    return parser


def _add_token_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--token",
        default=None,
        help="bearer token that POST /livedash/publish requires (default: $LIVEDASH_TOKEN, "
        "which keeps it out of the process list); without one, ingest is open, allowed on "
        "127.0.0.1 only",
    )


def _add_heartbeat_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--heartbeat",
        metavar="SECONDS",
        default=None,
        help="seconds between keep-alive comments on an idle event stream, so that proxies "
        "and load balancers do not close it and a vanished client is noticed (default: "
        "$LIVEDASH_HEARTBEAT, else the app's TransportConfig, 15)",
    )


def _heartbeat(args: argparse.Namespace) -> float | None:
    """``--heartbeat``, else ``$LIVEDASH_HEARTBEAT``, checked; None when neither is given."""
    from livedash.transport import heartbeat_from_env, parse_heartbeat

    if args.heartbeat is not None:
        return parse_heartbeat(args.heartbeat)
    return heartbeat_from_env()


def _apply_to_configs(token: str | None, heartbeat: float | None) -> None:
    """Make ``--token`` and ``--heartbeat`` the defaults of every config the app is about to
    make (:class:`~livedash.TransportConfig` reads them from the environment), so that
    nothing is changed once mounted. Checked here with the rules a config applies."""
    from livedash.transport import HEARTBEAT_ENV, TOKEN_ENV, TransportConfig

    if token is not None:
        TransportConfig(token=token)  # the same rules as in code: raises ConfigError
        os.environ[TOKEN_ENV] = token
    if heartbeat is not None:
        os.environ[HEARTBEAT_ENV] = repr(heartbeat)


def _secure(app: Any, host: str) -> None:
    """Refuse open ingest off loopback, and say when it is open on loopback."""
    from livedash.transport import check_binding, mounted_configs

    for config in mounted_configs(app):
        check_binding(host, config.token)
        if config.token is None:
            log.info(
                "livedash: ingest is OPEN: POST %s/publish accepts events from anyone who can "
                "reach %s (this machine only); set --token or LIVEDASH_TOKEN to require one",
                config.prefix,
                host,
            )


def _stores_of(app: Any) -> list[str]:
    """The URLs of the stores of the hubs mounted on ``app``, in mounting order (empty when
    none is found)."""
    from livedash.transport import mounts_of

    urls: list[str] = []
    for mount in mounts_of(getattr(app, "server", None)):
        url = store_url(mount.hub.store)
        if url not in urls:
            urls.append(url)
    return urls


def add_serve_parser(commands: Any) -> None:
    """``livedash serve``: uvicorn, several workers, a shared store."""
    from livedash.serve import DEFAULT_CONNECTIONS

    serve = commands.add_parser(
        "serve",
        help="serve an app in production: several workers, a shared store",
        description="Serve an app in N worker processes sharing one store (Redis for several "
        "hosts, SQLite for one host), on uvicorn whatever the app's Dash backend: each open "
        "event stream is a coroutine on the worker's event loop. Producers run once per "
        "deployment and every worker pushes every stream to its own clients.",
    )
    serve.add_argument(
        "app",
        help=f"the app to serve: {', '.join(sorted(APPS))}, or your own as module:factory "
        "(called with livedash.apps.AppOptions, so --store applies) or module:app",
    )
    serve.add_argument("--workers", type=int, default=2, help="worker processes (default: 2)")
    serve.add_argument(
        "--store",
        default="sqlite:///livedash.db",
        help="the store every worker shares: redis://host:port/db or redis+cluster://h:p,h:p "
        "(any number of hosts) or "
        "sqlite:///path.db (one host) (default: sqlite:///livedash.db)",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8050, help="port to bind (default: 8050)")
    serve.add_argument(
        "--connections",
        type=int,
        default=DEFAULT_CONNECTIONS,
        help=f"most open connections per worker (default: {DEFAULT_CONNECTIONS})",
    )
    # Options of the removed gunicorn serving: hidden, kept so that an old command line gets
    # a sentence saying what to do instead of argparse's "unrecognized arguments".
    serve.add_argument("--worker-class", default="uvicorn", help=argparse.SUPPRESS)
    serve.add_argument("--threads", type=int, default=None, help=argparse.SUPPRESS)
    _add_token_option(serve)
    _add_heartbeat_option(serve)


def _serve(args: argparse.Namespace) -> int:
    from livedash.serve import (
        ServeOptions,
        check,
        check_app,
        check_store,
        check_worker_class,
        serve,
    )
    from livedash.transport import TOKEN_ENV, TransportConfig, check_binding

    check_worker_class(args.worker_class)
    if args.threads is not None:
        raise ConfigError(
            "--threads was an option of the removed gthread worker class: every open event "
            "stream is now a coroutine on the worker's event loop; drop it (--connections caps "
            "open connections per worker)"
        )
    heartbeat = _heartbeat(args)
    # Every setting a worker would refuse is refused here, before any worker starts: a
    # worker that fails while building its app is restarted by uvicorn, in a loop.
    token = args.token or os.environ.get(TOKEN_ENV) or None
    if token is not None:
        TransportConfig(token=token)  # the rules each worker's app applies
    check_binding(args.host, token)
    options = ServeOptions(
        app=args.app,
        store=args.store,
        host=args.host,
        port=args.port,
        workers=args.workers,
        connections=args.connections,
    )
    check(options)
    check_store(args.store)
    check_app(args.app)  # an app that cannot load: one line here, not a restart loop there
    # Workers build their apps after the exec; the environment is how the options reach the
    # configs they make.
    _apply_to_configs(args.token, heartbeat)
    if token is None:
        log.info(
            "livedash: ingest is OPEN: POST /livedash/publish accepts events from anyone who "
            "can reach %s (this machine only) unless the app sets a token; set --token or "
            "LIVEDASH_TOKEN to require one",
            args.host,
        )
    log.info(
        "livedash: serving %s with %d uvicorn worker(s), store %s, on http://%s:%d/",
        args.app,
        args.workers,
        args.store,
        args.host,
        args.port,
    )
    serve(options)  # checks again with the backend, then replaces this process with the server


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``livedash`` console script."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        if args.command == "serve":
            return _serve(args)
        options = AppOptions(
            store=args.store,
            transport=args.transport,
            mqtt=args.mqtt,
            mqtt_broker=args.mqtt_broker,
        )
        check_port(args.port)  # these are checked before the app is built
        _apply_to_configs(args.token, _heartbeat(args))
        app = create(args.app, options)
        _secure(app, args.host)
    except LivedashError as exc:
        print(f"livedash: error: {exc}", file=sys.stderr)
        return 2
    where = f"http://{args.host}:{args.port}/"
    # A user's file opens its own hub's store; --store builds the shipped apps only.
    stores = _stores_of(app) or [args.store]
    log.info(
        "livedash: serving %s (%s, store %s) on %s",
        args.app,
        args.transport,
        ", ".join(stores),
        where,
    )
    from livedash.serve import run

    run(app, args.host, args.port)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
