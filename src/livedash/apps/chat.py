"""Multi-user chat: rooms, a name chosen on entry, history on join, messages pushed.

Each room is a stream ``chat.ROOM`` in the hub's store, so the conversation survives a
restart with the SQLite or Redis store. Sending is an ordinary Dash callback that calls
``hub.publish``; receiving is push (``LiveChatLog``). Text is always shown as text.
"""

from __future__ import annotations

import re
import threading
import time
import unicodedata
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dash import Dash, Input, Output, State, ctx, dcc, html, no_update

from livedash import Hub, LiveChatLog, LiveText
from livedash.apps import AppOptions, frame
from livedash.errors import ConfigError

#: Messages shown on joining a room, and kept per room in the store.
HISTORY = 200
KEEP = 10_000
#: Longest message, in characters.
MAX_CHARS = 2000
#: At most this many messages per user within RATE_WINDOW seconds.
RATE_LIMIT = 5
RATE_WINDOW = 1.0
MAX_NAME = 32
ROOM_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
ROOMS = ("general", "random", "support")


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

    A refused send is not counted, so a user who waits as told gets through."""

    def __init__(
        self,
        limit: int = RATE_LIMIT,
        window: float = RATE_WINDOW,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit = limit
        self.window = window
        self.clock = clock
        self._sent: dict[str, deque[float]] = {}
        self._lock = threading.Lock()  # callbacks run on many server threads

    def reason(self, wait: float) -> str:
        """What to tell a sender who must wait ``wait`` seconds."""
        per = "second" if self.window == 1 else f"{self.window:g} seconds"
        return (
            f"Slow down: at most {self.limit} messages per {per}. Not sent yet: it is still "
            f"in the box, press Enter again in {max(wait, 0.1):.1f} s."
        )

    def check(self, key: str) -> float:
        """Count a send for ``key`` and return 0, or return the seconds to wait first."""
        now = self.clock()
        with self._lock:
            # Forget idle senders, so the table stays as small as the active users.
            if len(self._sent) > 1000:
                self._sent = {
                    k: q for k, q in self._sent.items() if q and q[-1] > now - self.window
                }
            sent = self._sent.setdefault(key, deque())
            while sent and sent[0] <= now - self.window:
                sent.popleft()
            if len(sent) >= self.limit:
                return sent[0] + self.window - now
            sent.append(now)
            return 0.0


def check_name(name: object) -> str:
    """The trimmed user name, or raise ``ValueError`` saying what to change."""
    text = str(name or "").strip()
    if not text:
        raise ValueError("Choose a name first: it is shown next to your messages.")
    if len(text) > MAX_NAME:
        raise ValueError(f"That name is {len(text)} characters; use at most {MAX_NAME}.")
    if any(unicodedata.category(c).startswith("C") for c in text):
        raise ValueError("Names cannot contain control characters.")
    return text


def check_room(room: object) -> str:
    """The normalised room name, or raise ``ValueError`` saying what to change."""
    text = str(room or "").strip().lower()
    if not ROOM_RE.match(text):
        raise ValueError(
            "Room names are 1-32 characters: lower-case letters, digits, - and _, "
            "starting with a letter or digit."
        )
    return text


def check_message(text: object) -> Verdict:
    """Refuse empty and over-long messages, with the reason."""
    body = str(text or "")
    if not body.strip():
        return Verdict(False, "Nothing to send: type a message first.")
    if len(body) > MAX_CHARS:
        return Verdict(
            False,
            f"Not sent: the message is {len(body):,} characters, over the {MAX_CHARS:,} limit. "
            "Shorten it and send again.",
        )
    return Verdict(True)


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


def register(app: Dash, hub: Hub, limiter: RateLimiter | None = None) -> None:
    """Wire joining, sending and leaving on ``app``; messages go to ``hub``."""
    limiter = limiter or RateLimiter()
    for r in ROOMS:  # the entry page follows these from the start (latest)
        hub.stream(room_stream(r), max_events=KEEP)

    @app.callback(
        Output("chat-room-name", "value"),
        [Input(f"chat-pick-{r}", "n_clicks") for r in ROOMS],
        prevent_initial_call=True,
    )
    def pick_room(*_clicks: int) -> str:
        return str(ctx.triggered_id).removeprefix("chat-pick-")

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
    def join(_c: int, _s: int, _r: int, name: str | None, room: str | None) -> Any:
        try:
            user, where = check_name(name), check_room(room)
        except ValueError as exc:
            return no_update, str(exc)
        hub.stream(room_stream(where), max_events=KEEP)
        return {"user": user, "room": where}, ""

    @app.callback(
        Output("chat-session", "data", allow_duplicate=True),
        Input("chat-leave", "n_clicks"),
        prevent_initial_call=True,
    )
    def leave(_n: int) -> Any:
        return None

    @app.callback(
        Output("chat-entry", "hidden"),
        Output("chat-room", "hidden"),
        Output("chat-title", "children"),
        Output("chat-log-host", "children"),
        Input("chat-session", "data"),
    )
    def show(session: dict[str, str] | None) -> Any:
        if not session:
            return False, True, "", []
        room, user = session["room"], session["user"]
        # A new id per room makes a new log, which loads that room's history.
        log = LiveChatLog(room_stream(room), history=HISTORY, id=f"chat-log-{room}")
        return True, False, f"#{room} · you are {user}", log

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
    def send(_c: int, _s: int, text: str | None, session: dict[str, str] | None, n: int) -> Any:
        if not session:
            return no_update, "Join a room first.", "chat-status refused", no_update
        verdict = check_message(text)
        if verdict.ok:
            wait = limiter.check(session["user"])
            if wait > 0:
                verdict = Verdict(False, limiter.reason(wait))
        if not verdict.ok:
            # The text stays in the box: nothing the user wrote is lost.
            return no_update, verdict.reason, "chat-status refused", (n or 0) + 1
        hub.publish(room_stream(session["room"]), {"user": session["user"], "text": str(text)})
        return "", "", "chat-status", (n or 0) + 1

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


def create_push_app(hub: Hub, limiter: RateLimiter | None = None) -> Dash:
    """The chat on its own, storing messages in ``hub``."""
    app = Dash(__name__, title="livedash · chat")
    app.layout = frame.standalone("Chat", layout())
    register(app, hub, limiter)
    hub.init_app(app)
    return app


def create_app(options: AppOptions) -> Dash:
    """Factory used by ``livedash run chat``."""
    if options.transport != "push":
        raise ConfigError("the chat app only runs on push; drop --transport poll")
    return create_push_app(Hub(options.store))
