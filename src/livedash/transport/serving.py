"""Serving a Dash app on an ASGI server (uvicorn), whatever its backend.

fastapi and quart servers are ASGI already, with the routes mounted as middleware
(:func:`~livedash.transport.asgi.mount_asgi`). A Flask server is wrapped by a2wsgi's
WSGI-to-ASGI adapter for its pages and callbacks, with the route tables recorded by
:func:`~livedash.transport.flask_routes.mount_flask` put in front of it as native ASGI
(:class:`~livedash.transport.asgi.LivedashASGI`), so an open event stream is a coroutine,
not a thread.
"""

from __future__ import annotations

import logging
from contextlib import AbstractContextManager
from typing import Any
from urllib.parse import urlencode

from livedash.transport import mounts_of
from livedash.transport.asgi import LivedashASGI
from livedash.transport.asgi_types import ASGIApp
from livedash.transport.routes import Request, Routes

#: Threads that run a Flask app's pages and callbacks under an ASGI server (a2wsgi's pool);
#: event streams and every other livedash route never take one.
WSGI_THREADS = 16


def asgi_server(app: Any) -> ASGIApp:
    """The ASGI app that serves a Dash app on an ASGI server (uvicorn), whatever its backend.

    fastapi and quart servers are ASGI already, with the routes mounted as middleware. A
    Flask server is wrapped by a2wsgi's WSGI-to-ASGI adapter for pages and callbacks, with
    every route table :func:`~livedash.transport.flask_routes.mount_flask` recorded put in
    front of it as native ASGI, so an open event stream is a coroutine, not a thread."""
    from flask import Flask

    server = app.server
    if not isinstance(server, Flask):
        asgi: ASGIApp = server
        return asgi
    from a2wsgi import WSGIMiddleware

    # Dash sets itself up in a before_request hook (registering the script paths it serves)
    # and marks that done before it is: with a2wsgi's threads, the first requests of a page
    # arrive together and those beside the first find no path registered (500, "dash is not
    # a registered library"). Run the hooks once now, before any request can; a hook of the
    # app's own that fails outside a real request leaves Dash to set up on the first one.
    try:
        with server.test_request_context("/"):
            server.preprocess_request()
    except Exception:
        logging.getLogger("livedash").warning(
            "livedash: the app's before_request hooks failed outside a request; Dash sets up "
            "on the first one instead, and concurrent first requests may fail",
            exc_info=True,
        )

    wrapped: ASGIApp = WSGIMiddleware(server, workers=WSGI_THREADS)  # type: ignore[arg-type,assignment]

    def read_context(request: Request) -> AbstractContextManager[object]:
        # A read rule written for Flask looks at flask.request (a cookie, a header).
        return server.test_request_context(
            request.path,
            method=request.method,
            query_string=urlencode(request.args, doseq=True),
            headers=list(request.headers.items()),
        )

    for mounted in mounts_of(server):
        # The secret of the table Flask's own view answers with: the one its yes-view checks.
        routes = Routes(mounted.hub, mounted.config, read_context, secret=mounted.routes.secret)
        wrapped = LivedashASGI(wrapped, mounted.hub, mounted.config, routes)
    return wrapped
