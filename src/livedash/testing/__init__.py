"""livedash.testing: test a live app as its users see it.

Serve the app on a free port (:func:`serve_app`, or a process of its own with
:class:`ServeProcess`), follow its streams with a :class:`StreamClient` that speaks both wire
formats, resumes as the browser client does and checks that every event arrives exactly once
(:class:`ExactlyOnce`), and wait with deadlines (:func:`wait_until`). The pytest plugin
(:mod:`livedash.testing.plugin`, installed with livedash) gives the same as fixtures:
``livedash_hub``, ``livedash_server``, ``stream_client``, ``livedash_browser``,
``livedash_page``.

Nothing here imports pytest; :mod:`livedash.testing.redis` (a ``redis-server`` of one's own,
a Redis Cluster) and :mod:`livedash.testing.cluster` (several hosts behind nginx) are
imported by name.
"""

from __future__ import annotations

from livedash.testing.browser import CHROMIUM_FLAGS, chromium_path, launch_chromium, set_hidden
from livedash.testing.client import Connection, ExactlyOnce, Received, StreamClient
from livedash.testing.process import ServedProcess, ServeProcess, serving
from livedash.testing.reader import WireReader, decode_stream
from livedash.testing.server import LiveServer, UvicornServer, serve_app
from livedash.testing.sse import (
    Chunk,
    EventStreamDecoder,
    Message,
    RawStream,
    SSEClient,
    parse_message,
)
from livedash.testing.wait import free_port, wait_until

__all__ = [
    "CHROMIUM_FLAGS",
    "Chunk",
    "Connection",
    "EventStreamDecoder",
    "ExactlyOnce",
    "LiveServer",
    "Message",
    "RawStream",
    "Received",
    "SSEClient",
    "ServeProcess",
    "ServedProcess",
    "StreamClient",
    "UvicornServer",
    "WireReader",
    "chromium_path",
    "decode_stream",
    "free_port",
    "launch_chromium",
    "parse_message",
    "serve_app",
    "serving",
    "set_hidden",
    "wait_until",
]
