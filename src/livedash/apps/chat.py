"""Multi-user chat: rooms, a name chosen on entry, history on join, messages pushed.

Each room is a stream ``chat.ROOM`` in the hub's store, so the conversation survives a
restart with the SQLite or Redis store. Sending is an ordinary Dash callback that calls
``hub.publish``; receiving is push (``LiveChatLog``). Text is always shown as text.

Nothing the page sends is trusted: joining signs the tab's name and room into its session
(:class:`Sessions`), and every send reads them back from that signature, so a page cannot
post under another name or into a room it did not join. Sends are limited per session and
per client address, rooms are made only by joining and only up to :data:`MAX_ROOMS`, and any
state a page makes up gets a shown error, never a server error. docs/limits.md lists the
bounds.
"""

from __future__ import annotations

import logging
import math
import os
import re
import secrets
import threading
import time
import unicodedata
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from dash import Dash, Input, Output, State, ctx, dcc, html, no_update
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from livedash import Hub, LiveChatLog, LiveText
from livedash.apps import AppOptions, frame
from livedash.errors import ConfigError, LivedashError, PublishError
from livedash.serve import APP_ENV

log = logging.getLogger("livedash.chat")

#: Messages shown on joining a room, and kept per room in the store.
HISTORY = 200
KEEP = 10_000
#: Longest message, in characters.
MAX_CHARS = 2000
#: At most RATE_LIMIT messages per session, and ADDRESS_RATE_LIMIT per client address (all
#: its sessions together: several people may share one address), within RATE_WINDOW seconds.
RATE_LIMIT = 5
ADDRESS_RATE_LIMIT = 10
RATE_WINDOW = 1.0
#: Longest user name, in characters.
MAX_NAME = 32
#: What a room name is (matched whole: ``$`` would let a trailing newline through).
ROOM_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
#: The rooms that always exist.
ROOMS = ("general", "random", "support")
#: Most rooms in all, the built-in ones included; a join makes a new one while there are fewer.
MAX_ROOMS = 100
#: Most new rooms one client address may make per ROOM_CREATE_WINDOW seconds.
ROOM_CREATE_LIMIT = 5
ROOM_CREATE_WINDOW = 3600.0
#: The stream that records each room a join made, in order (not a room: no ``chat.`` prefix).
ROOMS_STREAM = "chat-rooms"
#: Seconds a join's session stays valid (then the tab is asked to join again).
SESSION_MAX_AGE = 7 * 86400
#: Longest session token read (a real one is ~150 characters).
MAX_TOKEN = 1024
#: The environment variable holding the key sessions are signed with. Every process serving
#: the app (``livedash serve --workers N``, several hosts) needs the same one.
SECRET_ENV = "LIVEDASH_SECRET"


def room_stream(room: str) -> str:
    """The stream holding ``room``'s messages."""
    return f"chat.{room}"


@dataclass(frozen=True)
class Verdict:
    """Whether a message may be sent; ``reason`` tells the sender why not."""

    ok: bool
    reason: str = ""


class RateLimiter:
    """At most ``limit`` sends per ``window`` seconds per key (a sliding window).

    A refused send is not counted, so a user who waits as told gets through. ``scope`` ends
    the reason given (" from one network address")."""

    def __init__(
        self,
        limit: int = RATE_LIMIT,
        window: float = RATE_WINDOW,
        clock: Callable[[], float] = time.monotonic,
        scope: str = "",
    ) -> None:
        self.limit = limit
        self.window = window
        self.clock = clock
        self.scope = scope
        self._sent: dict[str, deque[float]] = {}
        self.lock = threading.Lock()  # callbacks run on many server threads

    def reason(self, wait: float) -> str:
        """What to tell a sender who must wait ``wait`` seconds."""
        per = "second" if self.window == 1 else f"{self.window:g} seconds"
        return (
            f"Slow down: at most {self.limit} messages per {per}{self.scope}. Not sent yet: it "
            f"is still in the box, press Enter again in {max(wait, 0.1):.1f} s."
        )

    def check(self, key: str) -> float:
        """Count a send for ``key`` and return 0, or return the seconds to wait first."""
        now = self.clock()
        with self.lock:
            wait = self.wait(key, now)
            if wait == 0:
                self.count(key, now)
            return wait

    def wait(self, key: str, now: float) -> float:
        """The seconds ``key`` must wait at ``now`` before its next send (0: none); counts
        nothing. Call with :attr:`lock` held."""
        # Forget idle senders, so the table stays as small as the active users.
        if len(self._sent) > 1000:
            self._sent = {k: q for k, q in self._sent.items() if q and q[-1] > now - self.window}
        sent = self._sent.get(key)
        if sent is None:
            return 0.0
        while sent and sent[0] <= now - self.window:
            sent.popleft()
        return sent[0] + self.window - now if len(sent) >= self.limit else 0.0

    def count(self, key: str, now: float) -> None:
        """Count a send of ``key`` at ``now``. Call with :attr:`lock` held."""
        self._sent.setdefault(key, deque()).append(now)


class SendLimit:
    """The limits every send passes: per session and per client address. A send refused by
    either is counted by neither."""

    def __init__(self, per_session: RateLimiter, per_address: RateLimiter) -> None:
        self.per_session = per_session
        self.per_address = per_address

    def check(self, session: str, address: str) -> str:
        """Count a send and return "", or return why it must wait."""
        by_session, by_address = self.per_session, self.per_address
        # Always in this order, so two sends never hold one lock each and wait for the other.
        with by_session.lock, by_address.lock:
            at_s, at_a = by_session.clock(), by_address.clock()
            waits = [(by_session.wait(session, at_s), 0), (by_address.wait(address, at_a), 1)]
            wait, which = max(waits)
            if wait > 0:
                return (by_session, by_address)[which].reason(wait)
            by_session.count(session, at_s)
            by_address.count(address, at_a)
            return ""


def check_name(name: object) -> str:
    """The trimmed user name, or raise ``ValueError`` saying what to change."""
    if name is None or (isinstance(name, str) and not name.strip()):
        raise ValueError("Choose a name first: it is shown next to your messages.")
    if not isinstance(name, str):
        raise ValueError("A name is text: type one in the box.")
    text = name.strip()
    if len(text) > MAX_NAME:
        raise ValueError(f"That name is {len(text):,} characters; use at most {MAX_NAME}.")
    # Control and format characters (NUL, escape codes, right-to-left overrides, zero-width
    # marks) and line breaks would make one name show as another, or break the page's lines.
    if any(unicodedata.category(c)[0] == "C" or c in "\u2028\u2029" for c in text):
        raise ValueError("Names cannot contain control characters or line breaks.")
    return text


def check_room(room: object) -> str:
    """The normalised room name, or raise ``ValueError`` saying what to change."""
    text = room.strip().lower() if isinstance(room, str) else ""
    if not ROOM_RE.fullmatch(text):
        raise ValueError(
            "Room names are 1-32 characters: lower-case letters, digits, - and _, "
            "starting with a letter or digit."
        )
    return text


def check_message(text: object) -> Verdict:
    """Refuse empty, over-long and non-text messages, with the reason."""
    if not isinstance(text, str) or not text.strip():
        return Verdict(False, "Nothing to send: type a message first.")
    if len(text) > MAX_CHARS:
        return Verdict(
            False,
            f"Not sent: the message is {len(text):,} characters, over the {MAX_CHARS:,} limit. "
            "Shorten it and send again.",
        )
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: JSON can carry one, a store cannot
        return Verdict(False, "Not sent: the message holds text that is not valid Unicode.")
    return Verdict(True)


@dataclass(frozen=True)
class Session:
    """Who a tab joined as, and where: read from its signed session, never from the page."""

    user: str
    room: str
    #: a random id per join, which the per-session rate limit counts by
    sid: str


class SessionError(ValueError):
    """A tab's session cannot be used; the message tells the user what to do."""


def session_secret(server: Any) -> str | bytes | None:
    """The key to sign sessions with: :data:`SECRET_ENV` from the environment, else the
    Flask server's ``SECRET_KEY``; None when neither is set."""
    return os.environ.get(SECRET_ENV) or getattr(server, "secret_key", None) or None


class Sessions:
    """Signs a tab's name and room at join (itsdangerous, with a key of the server) and reads
    them back at each send, so what the page keeps cannot be changed into another name or
    room. The key is :func:`session_secret` of ``server``, looked up at first use; without
    one, a key made for this process, which other processes do not share."""

    def __init__(
        self, server: Any, secret: str | bytes | None = None, max_age: int = SESSION_MAX_AGE
    ) -> None:
        self.server = server
        self.secret = secret
        self.max_age = max_age
        self._serializer: URLSafeTimedSerializer | None = None

    @property
    def serializer(self) -> URLSafeTimedSerializer:
        """The signer, made with the key on first use (the app is configured by then)."""
        if self._serializer is None:
            key = self.secret or session_secret(self.server)
            if key is None:
                key = secrets.token_urlsafe(32)
                if os.environ.get(APP_ENV):  # a worker of `livedash serve`
                    log.warning(
                        "chat: no %s and no SECRET_KEY, so each worker signs chat sessions "
                        "with a key of its own and a tab whose message reaches another worker "
                        "is asked to join again; set %s to the same random value for every "
                        "worker and host",
                        SECRET_ENV,
                        SECRET_ENV,
                    )
            # The salt keeps these signatures apart from Flask's session cookies, which the
            # same SECRET_KEY may sign.
            self._serializer = URLSafeTimedSerializer(key, salt="livedash.chat.session")
        return self._serializer

    def issue(self, user: str, room: str) -> str:
        """The signed session of a tab that joined ``room`` as ``user``."""
        token: str = self.serializer.dumps({"u": user, "r": room, "s": secrets.token_hex(8)})
        return token

    def read(self, token: object) -> Session:
        """The session ``token`` carries; raise :class:`SessionError` saying what to do when it
        is missing, changed, made with another key or expired."""
        if token is None:
            raise SessionError("Join a room first.")
        invalid = SessionError(
            "This tab's chat session is not valid (it was changed, or the server now signs "
            "with another key): join again."
        )
        if not isinstance(token, str) or len(token) > MAX_TOKEN:
            raise invalid
        try:
            data = self.serializer.loads(token, max_age=self.max_age)
        except SignatureExpired:
            raise SessionError("Your chat session has expired: join again.") from None
        except BadSignature:
            raise invalid from None
        # Signed by this server, so well formed; checked anyway, as a key may be shared.
        if not isinstance(data, dict):
            raise invalid
        try:
            session = Session(check_name(data.get("u")), check_room(data.get("r")), data["s"])
        except (ValueError, KeyError):
            raise invalid from None
        if not isinstance(session.sid, str):
            raise invalid
        return session


class Rooms:
    """The rooms: the built-in ones, then those made by joining, recorded in the hub's store
    (stream :data:`ROOMS_STREAM`) so that every worker and a restart see the same list. The
    first ``cap`` distinct names are the rooms: workers racing to make the last one agree
    which of them got it. ``per_address`` limits how many one client address makes."""

    def __init__(
        self,
        hub: Hub,
        builtin: Iterable[str] = ROOMS,
        cap: int = MAX_ROOMS,
        per_address: RateLimiter | None = None,
    ) -> None:
        self.hub = hub
        self.builtin = tuple(builtin)
        self.cap = cap
        self.per_address = per_address or RateLimiter(
            ROOM_CREATE_LIMIT, ROOM_CREATE_WINDOW, scope=" from one network address"
        )
        # Only appended to while there are fewer than cap rooms, so only a race of workers at
        # the cap ever makes it longer than cap names.
        hub.stream(ROOMS_STREAM, max_events=4 * cap)

    def names(self) -> list[str]:
        """Every room, oldest first (at most ``cap``)."""
        names = dict.fromkeys(self.builtin)
        for event in self.hub.read(ROOMS_STREAM, 0, 4 * self.cap):
            room = event.data.get("room")
            if len(names) >= self.cap:
                break
            if isinstance(room, str) and ROOM_RE.fullmatch(room):
                names[room] = None
        return list(names)

    def open(self, room: str, address: str) -> None:
        """Make sure ``room`` (checked by :func:`check_room`) exists, making it if there is
        room for one more; raise ``ValueError`` saying what to do when there is not."""
        names = self.names()
        if room in names:
            return
        full = ValueError(
            f"There are {self.cap} rooms already, the most this chat holds: join one of "
            f"them ({', '.join(names[:8])}{', ...' if len(names) > 8 else ''})."
        )
        if len(names) >= self.cap:
            raise full
        with self.per_address.lock:
            now = self.per_address.clock()
            wait = self.per_address.wait(address, now)
            if wait > 0:
                raise ValueError(
                    f"At most {self.per_address.limit} new rooms per "
                    f"{self.per_address.window / 60:g} minutes from one network address: "
                    f"join an existing room, or make this one in {math.ceil(wait / 60)} minutes."
                )
            self.per_address.count(address, now)
        self.hub.publish(ROOMS_STREAM, {"room": room})
        if room not in self.names():  # another worker made the last room first
            raise full


def latest() -> html.Section:
    """The newest message of each room, live, on the entry page: what is being said before
    you join. It also makes the page follow streams from the start, so the connection badge
    says live at once rather than "connecting..." until a room is joined."""
    return html.Section(
        [
            html.H3("Latest in the rooms", className="ld-card-title"),
            *[
                html.Div(
                    [
                        html.Span(f"#{r}", className="chat-latest-room"),
                        LiveText(
                            room_stream(r),
                            "{user}: {text}",
                            id=f"chat-latest-{r}",
                            initial="no messages yet",
                            className="chat-latest-text",
                        ),
                    ],
                    className="chat-latest-row",
                )
                for r in ROOMS
            ],
        ],
        className="chat-latest",
    )


def layout() -> html.Div:
    """The chat page (also a page of the gallery)."""
    entry = html.Div(
        [
            html.H2("Join the chat"),
            html.Label("Your name", htmlFor="chat-name"),
            dcc.Input(id="chat-name", placeholder="e.g. Ada", maxLength=64, autoFocus=True),
            html.Label("Room", htmlFor="chat-room-name"),
            dcc.Input(id="chat-room-name", value=ROOMS[0], maxLength=64),
            html.Div(
                [
                    html.Button(
                        f"#{r}",
                        id=f"chat-pick-{r}",
                        className="ld-button ld-button--quiet",
                        n_clicks=0,
                    )
                    for r in ROOMS
                ],
                className="chat-rooms",
            ),
            html.Button("Join", id="chat-join", className="ld-button", n_clicks=0),
            html.Div(id="chat-entry-error", className="ld-error", role="alert"),
            latest(),
        ],
        id="chat-entry",
        className="chat-entry ld-card",
    )
    room = html.Div(
        [
            html.Div(
                [
                    html.H3(id="chat-title"),
                    html.Button(
                        "Leave", id="chat-leave", className="ld-button ld-button--quiet", n_clicks=0
                    ),
                ],
                className="chat-room-header",
            ),
            html.Div(id="chat-log-host", style={"display": "contents"}),
            html.Div(
                [
                    dcc.Input(
                        id="chat-input",
                        placeholder="Write a message and press Enter",
                        autoComplete="off",
                        debounce=False,
                    ),
                    html.Button("Send", id="chat-send", className="ld-button", n_clicks=0),
                ],
                className="chat-compose",
            ),
            html.Div(id="chat-status", className="chat-status", role="status"),
        ],
        id="chat-room",
        className="chat-room",
        hidden=True,
    )
    return html.Div(
        [
            dcc.Store(id="chat-session", storage_type="session"),
            dcc.Store(id="chat-sent", data=0),
            dcc.Store(id="chat-focus"),
            entry,
            room,
        ],
        className="ld-page chat",
    )


def client_address() -> str:
    """The address of the client whose callback is running, as the server saw it: behind a
    proxy, the ``X-Forwarded-For`` address when uvicorn trusts the proxy (on the same host,
    or listed in ``FORWARDED_ALLOW_IPS``), else the proxy's own."""
    return str(ctx.remote or "unknown")


def register(
    app: Dash,
    hub: Hub,
    limiter: RateLimiter | None = None,
    *,
    address_limiter: RateLimiter | None = None,
    rooms: Rooms | None = None,
    secret: str | bytes | None = None,
) -> None:
    """Wire joining, sending and leaving on ``app``; messages go to ``hub``.

    ``limiter`` limits sends per session (default :data:`RATE_LIMIT` per second),
    ``address_limiter`` per client address (:data:`ADDRESS_RATE_LIMIT`), ``rooms`` which
    rooms exist (:class:`Rooms`); ``secret`` signs sessions (default: :func:`session_secret`)."""
    limits = SendLimit(
        limiter or RateLimiter(),
        address_limiter
        or RateLimiter(ADDRESS_RATE_LIMIT, RATE_WINDOW, scope=" from one network address"),
    )
    rooms = rooms or Rooms(hub)
    sessions = Sessions(app.server, secret)
    for r in ROOMS:  # the entry page follows these from the start (latest)
        hub.stream(room_stream(r), max_events=KEEP)

    @app.callback(
        Output("chat-room-name", "value"),
        [Input(f"chat-pick-{r}", "n_clicks") for r in ROOMS],
        prevent_initial_call=True,
    )
    def pick_room(*_clicks: object) -> Any:
        picked = str(ctx.triggered_id).removeprefix("chat-pick-")
        return picked if picked in ROOMS else no_update

    @app.callback(
        Output("chat-session", "data"),
        Output("chat-entry-error", "children"),
        Input("chat-join", "n_clicks"),
        Input("chat-name", "n_submit"),
        Input("chat-room-name", "n_submit"),
        State("chat-name", "value"),
        State("chat-room-name", "value"),
        prevent_initial_call=True,
    )
    def join(_c: object, _s: object, _r: object, name: object, room: object) -> Any:
        # The only callback that makes a room, and the only one that reads a name the page
        # sends: from here on the name and room come from the signed session.
        try:
            user, where = check_name(name), check_room(room)
            rooms.open(where, client_address())
        except LivedashError as exc:  # the store is down (checked first: some are ValueErrors)
            return no_update, f"The chat cannot reach its store right now; try again. ({exc})"
        except ValueError as exc:
            return no_update, str(exc)
        hub.stream(room_stream(where), max_events=KEEP)
        return sessions.issue(user, where), ""

    @app.callback(
        Output("chat-session", "data", allow_duplicate=True),
        Input("chat-leave", "n_clicks"),
        prevent_initial_call=True,
    )
    def leave(_n: object) -> Any:
        return None

    @app.callback(
        Output("chat-entry", "hidden"),
        Output("chat-room", "hidden"),
        Output("chat-title", "children"),
        Output("chat-log-host", "children"),
        Output("chat-entry-error", "children", allow_duplicate=True),
        Input("chat-session", "data"),
        # Also on page load: a tab keeps its session (sessionStorage) across a reload.
        prevent_initial_call="initial_duplicate",
    )
    def show(token: object) -> Any:
        if token is None:
            return False, True, "", [], no_update
        try:
            session = sessions.read(token)
        except SessionError as exc:
            return False, True, "", [], str(exc)
        # A new id per room makes a new log, which loads that room's history.
        log_ = LiveChatLog(
            room_stream(session.room), history=HISTORY, id=f"chat-log-{session.room}"
        )
        return True, False, f"#{session.room} · you are {session.user}", log_, ""

    @app.callback(
        Output("chat-input", "value"),
        Output("chat-status", "children"),
        Output("chat-status", "className"),
        Output("chat-sent", "data"),
        Input("chat-send", "n_clicks"),
        Input("chat-input", "n_submit"),
        State("chat-input", "value"),
        State("chat-session", "data"),
        State("chat-sent", "data"),
        # While a send is in flight the box is read-only: no double sends, and every
        # reply (sent or refused) reaches the page.
        running=[
            (Output("chat-input", "disabled"), True, False),
            (Output("chat-send", "disabled"), True, False),
        ],
        prevent_initial_call=True,
    )
    def send(_c: object, _s: object, text: object, token: object, n: object) -> Any:
        # A counter the page keeps; anything but a number starts it again.
        sent = n + 1 if type(n) is int else 1
        try:
            session = sessions.read(token)
        except SessionError as exc:
            return no_update, str(exc), "chat-status refused", sent
        verdict = check_message(text)
        if verdict.ok:
            too_fast = limits.check(session.sid, client_address())
            if too_fast:
                verdict = Verdict(False, too_fast)
        if not verdict.ok:
            # The text stays in the box: nothing the user wrote is lost.
            return no_update, verdict.reason, "chat-status refused", sent
        # Another worker may have made the room: keep as much of it here as there.
        hub.stream(room_stream(session.room), max_events=KEEP)
        try:
            hub.publish(room_stream(session.room), {"user": session.user, "text": text})
        except PublishError as exc:  # not expected (all of it was checked), but say so
            return no_update, f"Not sent: {exc}", "chat-status refused", sent
        except LivedashError as exc:  # the store is down: the text stays in the box
            reason = f"Not sent: the chat cannot reach its store right now; try again. ({exc})"
            return no_update, reason, "chat-status refused", sent
        return "", "", "chat-status", sent

    # Give the box its focus back after each send (it was read-only meanwhile).
    app.clientside_callback(  # type: ignore[no-untyped-call]
        """function (n) {
            setTimeout(function () {
                var el = document.getElementById('chat-input');
                if (el) el.focus();
            }, 0);
            return window.dash_clientside.no_update;
        }""",
        Output("chat-focus", "data"),
        Input("chat-sent", "data"),
        prevent_initial_call=True,
    )


def create_push_app(hub: Hub, limiter: RateLimiter | None = None, **options: Any) -> Dash:
    """The chat on its own, storing messages in ``hub``; ``limiter`` and ``options`` as
    :func:`register` takes them."""
    app = Dash(__name__, title="livedash · chat")
    app.layout = frame.standalone("Chat", layout())
    register(app, hub, limiter, **options)
    hub.init_app(app)
    return app


def create_app(options: AppOptions) -> Dash:
    """Factory used by ``livedash run chat``."""
    if options.transport != "push":
        raise ConfigError("the chat app only runs on push; drop --transport poll")
    return create_push_app(Hub(options.store))
