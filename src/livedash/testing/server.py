"""A Dash app served on a free port in a thread of this process, until stopped.

:class:`LiveServer` is the Flask dev server's way (Werkzeug, a thread per request);
:class:`UvicornServer` is ``livedash run``'s (uvicorn, one event loop, livedash's routes
native ASGI in front of the app); :func:`serve_app` picks one. Both stop on :meth:`stop` or at
the end of a ``with`` block.
"""

from __future__ import annotations

import threading
from typing import Any

from livedash.testing.wait import free_port, wait_until

#: Longest wait for a server to start or stop.
DEADLINE = 30.0
#: How often Werkzeug's accept loop looks for a stop request: what :meth:`LiveServer.stop`
#: waits at most (socketserver's default, 0.5 s, made every test with a server half a second
#: longer).
POLL_INTERVAL = 0.02


class LiveServer:
    """A Dash app's Flask server on a free port of 127.0.0.1, in a thread (threaded like the
    dev server): ``url``, ``port``, :meth:`stop`."""

    def __init__(self, app: Any) -> None:
        from werkzeug.serving import make_server

        self.app = app
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._server = make_server("127.0.0.1", self.port, app.server, threaded=True)
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(POLL_INTERVAL,), daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close the listening socket."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=DEADLINE)

    def __enter__(self) -> LiveServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class UvicornServer:
    """An ASGI app (``livedash.transport.serving.asgi_server(app)``, or a Dash fastapi app's
    ``app.server``) served by uvicorn on a free port of 127.0.0.1, in a thread."""

    def __init__(self, asgi: Any) -> None:
        import uvicorn

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            asgi,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            # uvicorn's records go to the root logger, where pytest's caplog sees them.
            log_config=None,
            lifespan="off",
            # Open event streams would hold a stop forever; clients reconnect anyway.
            timeout_graceful_shutdown=1,
        )
        self.server = uvicorn.Server(config)
        # uvicorn installs no signal handlers when it runs outside the main thread.
        self._thread = threading.Thread(target=self.server.run, daemon=True)
        self._thread.start()

        def started() -> bool:
            if not self._thread.is_alive():
                raise RuntimeError(f"uvicorn exited before serving on port {self.port}")
            return bool(self.server.started)

        wait_until(started, DEADLINE, f"uvicorn serves on port {self.port}", 0.01)

    def stop(self) -> None:
        """Ask uvicorn to exit (open streams get a second) and wait for it."""
        self.server.should_exit = True
        self._thread.join(timeout=DEADLINE)

    def __enter__(self) -> UvicornServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve_app(app: Any, *, asgi: bool | None = None) -> LiveServer | UvicornServer:
    """Serve a Dash app: on Werkzeug in threads (``asgi=False``, as ``app.run()`` does), or on
    uvicorn as ``livedash run`` serves it (``asgi=True``). By default a Flask app (Dash's
    default backend) goes to Werkzeug, an app on Dash's fastapi or quart backend to uvicorn."""
    from flask import Flask

    if asgi is None:
        asgi = not isinstance(app.server, Flask)
    if not asgi:
        return LiveServer(app)
    from livedash.transport.serving import asgi_server

    return UvicornServer(asgi_server(app))
