"""The app's own guards over livedash's routes: ask the app before serving natively.

Under ``livedash run`` / ``serve`` the routes are answered in front of the app, on the event
loop, where the app's ``before_request`` hooks (dash-auth, Flask-Login, its own), its WSGI
or ASGI middleware and a fastapi app's dependencies never run. So before serving a guarded
request the front passes a copy of it, with the same method, path, query, headers and
cookies but no body, through the app's whole stack to a livedash view that only says yes
(:func:`is_question` / :func:`yes_headers`). If that view answered, nothing in front of it
refused the request and it is served natively; otherwise the app's own answer (a 401 with
its ``WWW-Authenticate``, a 302 to the login page, a 403) goes back to the client as it is.

The question carries a secret made per server (:func:`secret_of`), and the view's yes carries it
back, so neither a client nor another route of the app can answer in the view's name.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import secrets
from typing import Any

from livedash.transport.asgi_types import ASGIApp, Message, Scope
from livedash.transport.steps import Response

#: The request header that marks a question, and the response header of the view's yes.
ASK_HEADER = "x-livedash-ask"
ALLOW_HEADER = "x-livedash-allow"
#: Most bytes of an app's refusal passed on to the client (a login page, a JSON error).
MAX_REFUSAL = 256 * 1024
#: Request headers not copied into a question: it has no body, and it carries its own
#: ask header (whatever a client sent as one is dropped).
_NOT_ASKED = {
    b"content-length",
    b"transfer-encoding",
    b"content-encoding",
    b"expect",
    ASK_HEADER.encode(),
}
#: Response headers of a refusal that the native response writes itself.
_FRAMING_HEADERS = {"content-length", "content-type", "transfer-encoding"}

log = logging.getLogger("livedash")


#: Where a server keeps the secret of its questions (one per server, whatever the number of
#: mounted route tables, so that one yes-view answers for all of them).
SECRET_KEY = "livedash.secret"


def new_secret() -> str:
    """A fresh secret for questions (a route table mounted on no server of its own)."""
    return secrets.token_urlsafe(24)


def secret_of(server: Any) -> str:
    """The secret of ``server``'s questions, made on first use (``server.extensions`` on
    Flask and Quart, ``server.state`` on FastAPI)."""
    extensions = getattr(server, "extensions", None)
    if isinstance(extensions, dict):
        secret: str = extensions.setdefault(SECRET_KEY, new_secret())
        return secret
    state = server.state
    if not hasattr(state, "livedash_secret"):
        state.livedash_secret = new_secret()
    secret = state.livedash_secret
    return secret


def is_question(ask_header: str | None, secret: str) -> bool:
    """True when a request reaching the yes-view is the front's question: its
    :data:`ASK_HEADER` (``ask_header``) carries the server's secret. A client's request
    cannot, as it does not know the secret."""
    given = (ask_header or "").encode("latin-1", "replace")
    return hmac.compare_digest(given, secret.encode())


def yes_headers(secret: str) -> dict[str, str]:
    """The headers of the yes-view's answer (status 204)."""
    return {ALLOW_HEADER: secret}


async def ask(app: ASGIApp, scope: Scope, secret: str) -> Response | None:
    """Pass a bodiless copy of the request ``scope`` through ``app`` (the app's own ASGI
    stack, with its middleware and hooks); None when the yes-view answered, else the app's
    own refusal, to be sent to the client as it is. An app that fails counts as a refusal
    (500): a guard that cannot decide must not let the request through."""
    headers = [(k, v) for k, v in scope.get("headers", []) if k.lower() not in _NOT_ASKED]
    headers += [(ASK_HEADER.encode(), secret.encode()), (b"content-length", b"0")]
    question = dict(scope, headers=headers)
    answered = asyncio.Event()
    body_sent = False

    async def receive() -> Message:
        nonlocal body_sent
        if not body_sent:
            body_sent = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await answered.wait()  # the question never disconnects while it is being answered
        return {"type": "http.disconnect"}

    status = 500
    response_headers: list[tuple[bytes, bytes]] = []
    chunks: list[bytes] = []
    size = 0

    async def send(message: Message) -> None:
        nonlocal status, response_headers, size
        if message["type"] == "http.response.start":
            status = int(message["status"])
            response_headers = list(message.get("headers", []))
        elif message["type"] == "http.response.body" and size < MAX_REFUSAL:
            chunk = bytes(message.get("body", b""))[: MAX_REFUSAL - size]
            chunks.append(chunk)
            size += len(chunk)

    try:
        await app(question, receive, send)
    except Exception:
        log.exception("livedash: the app failed while deciding access to %s", scope.get("path"))
        return Response(500, b"", "text/plain")
    finally:
        answered.set()
    named = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in response_headers}
    if status == 204 and is_question(named.get(ALLOW_HEADER), secret):  # the view's yes
        return None
    return refusal(status, response_headers, b"".join(chunks))


def refusal(status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> Response:
    """The app's answer to a question, as the response the client gets instead of the
    route's. A 2xx from anything but the yes-view (a login page served at every path) is
    passed on as it is: the request was not let through."""
    content_type = "text/plain"
    extra: dict[str, str] = {}
    for raw_name, raw_value in headers:
        lower, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
        if lower == "content-type":
            content_type = value
        elif lower == ALLOW_HEADER or lower in _FRAMING_HEADERS or lower in extra:
            # A repeated header (Set-Cookie) must stay separate lines; the route's Response
            # holds one value per name, so the first of each is kept (the session cookie).
            continue
        else:
            extra[lower] = value
    return Response(status, body, content_type, extra)
