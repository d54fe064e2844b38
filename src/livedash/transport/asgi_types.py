"""The ASGI interface in a few aliases, shared by every ASGI module of the transport."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: A server's ASGI scope extension (``scope["extensions"][DISCONNECT_WATCH]``) through which a
#: response registers ``callback()`` to run on the loop when its client disconnects, and gets
#: back a function that unregisters it. ``livedash run`` / ``serve`` provide it
#: (:class:`livedash.serve.HttpProtocol`); an open event stream then needs no task of its own
#: awaiting ``receive()`` to hear it. Elsewhere a stream keeps such a task.
DISCONNECT_WATCH = "livedash.disconnect_watch"
DisconnectWatch = Callable[[Callable[[], None]], Callable[[], None]]

#: The same for the server's shutdown (``scope["extensions"][SHUTDOWN_WATCH]``, a
#: :data:`DisconnectWatch`): ``callback()`` runs once the server has stopped accepting
#: connections. An event stream then ends its body at once rather than holding the shutdown
#: for its graceful timeout; its client resumes from its last event wherever it reconnects.
SHUTDOWN_WATCH = "livedash.shutdown_watch"
