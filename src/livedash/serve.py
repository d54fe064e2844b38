"""Production serving: ``livedash serve APP --workers N --store URL``.

Dash's default backend is Flask (WSGI), so the app runs under gunicorn. Each open event stream
is a long-lived response; the worker class decides what one costs:

- ``gevent`` (default): one greenlet per connection, thousands per worker for a few KiB each.
  gunicorn's gevent worker monkey-patches the standard library before it imports the app, so
  livedash's threads (fan-out, producers) and redis-py's sockets become cooperative.
- ``gthread``: one OS thread per open connection, so a worker holds at most ``--threads``
  streams; kept for environments where gevent cannot be installed.

The ``livedash`` process execs gunicorn, so the master has imported nothing of the app (gevent
must patch before ``threading``/``socket`` users are imported) and signals reach gunicorn
directly. Every worker builds its own app and :class:`~livedash.Hub`; producers run once per
deployment thanks to the store's leases, and every worker fans events out to its own clients.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from dataclasses import dataclass
from typing import Any, NoReturn
from urllib.parse import urlparse

from livedash.errors import ConfigError

WORKER_CLASSES = ("gevent", "gthread")
#: Most simultaneous connections (open event streams included) per worker.
DEFAULT_CONNECTIONS = 10_000
#: Threads per gthread worker: each open event stream holds one.
DEFAULT_THREADS = 100
#: Seconds a stopping worker lets open streams run; clients reconnect and resume anyway.
GRACEFUL_TIMEOUT = 5


@dataclass(frozen=True)
class ServeOptions:
    """What ``livedash serve`` was asked to do."""

    app: str
    store: str = "sqlite:///livedash.db"
    host: str = "127.0.0.1"
    port: int = 8050
    workers: int = 2
    worker_class: str = "gevent"
    threads: int = DEFAULT_THREADS
    connections: int = DEFAULT_CONNECTIONS


def check(options: ServeOptions) -> None:
    """Refuse settings that cannot work, with a message saying what to use instead."""
    from livedash.apps import APPS

    if options.workers < 1:
        raise ConfigError(f"--workers must be >= 1, got {options.workers}")
    if options.worker_class not in WORKER_CLASSES:
        raise ConfigError(
            f"unknown worker class {options.worker_class!r}; use one of {', '.join(WORKER_CLASSES)}"
        )
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
    missing = [
        name
        for name in ("gunicorn", "gevent" if options.worker_class == "gevent" else "")
        if name and importlib.util.find_spec(name) is None
    ]
    if missing:
        raise ConfigError(
            f"livedash serve needs {' and '.join(missing)}: pip install 'livedash[serve]'"
        )


def gunicorn_argv(options: ServeOptions) -> list[str]:
    """The gunicorn command line for ``options`` (run with this Python)."""
    argv = [
        sys.executable,
        "-m",
        "gunicorn",
        "--workers",
        str(options.workers),
        "--worker-class",
        options.worker_class,
        "--bind",
        f"{options.host}:{options.port}",
        "--graceful-timeout",
        str(GRACEFUL_TIMEOUT),
        "--no-control-socket",
        "--error-logfile",
        "-",
    ]
    # Both classes cap simultaneous connections per worker with this (gthread too).
    argv += ["--worker-connections", str(options.connections)]
    if options.worker_class == "gthread":
        argv += ["--threads", str(options.threads)]
    # gunicorn calls this factory in each worker, after gevent has patched the stdlib.
    argv.append(f"livedash.serve:wsgi_app({options.app!r}, {options.store!r})")
    return argv


def serve(options: ServeOptions) -> NoReturn:
    """Check ``options`` and replace this process with gunicorn."""
    check(options)
    argv = gunicorn_argv(options)
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
    module_name, _, attr = spec.partition(":")
    try:
        target = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"cannot load app {spec!r}: {exc}") from exc
    app = target if hasattr(target, "server") else target(options)
    if not hasattr(app, "server"):
        raise ConfigError(f"{spec!r} gave {type(app).__name__}, not a dash.Dash app")
    return app


def _is_import_spec(spec: str) -> bool:
    module, sep, attr = spec.partition(":")
    return bool(sep and module and attr.isidentifier())


def wsgi_app(spec: str, store: str) -> Any:
    """gunicorn's app factory: build the app in this worker and return its WSGI server."""
    return load_app(spec, store).server
