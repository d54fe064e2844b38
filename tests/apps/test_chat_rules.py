"""The chat's rules, without a browser: names, rooms, message limits, the rate limits,
signed sessions; then the callbacks through the app's real Dash endpoint, with every state a
page can send (hypothesis): never a server error, never a name or room the join did not sign."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from dash import Dash
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from livedash import Hub
from livedash.apps import chat
from livedash.apps.chat import (
    ADDRESS_RATE_LIMIT,
    MAX_CHARS,
    RATE_LIMIT,
    ROOMS,
    SECRET_ENV,
    RateLimiter,
    Rooms,
    SendLimit,
    SessionError,
    Sessions,
    Verdict,
    check_message,
    check_name,
    check_room,
    room_stream,
    session_secret,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_rate_limiter_allows_five_per_second_then_says_how_long_to_wait() -> None:
    clock = FakeClock()
    limiter = RateLimiter(limit=5, window=1.0, clock=clock)
    for i in range(5):
        clock.now = 100.0 + i * 0.1
        assert limiter.check("ada") == 0.0
    clock.now = 100.45
    assert limiter.check("ada") == pytest.approx(0.55)  # the first send leaves at 101.0
    assert limiter.check("bob") == 0.0  # per user
    clock.now = 101.0
    assert limiter.check("ada") == 0.0  # a refused send was not counted
    assert limiter.check("ada") == pytest.approx(0.1)
    assert "at most 5 messages per second" in limiter.reason(0.55)
    assert "press Enter again in 0.6 s" in limiter.reason(0.55)


def test_rate_limiter_forgets_idle_users() -> None:
    clock = FakeClock()
    limiter = RateLimiter(limit=1, window=1.0, clock=clock)
    for i in range(1500):
        limiter.check(f"user{i}")
    clock.now += 5
    limiter.check("late")
    assert len(limiter._sent) <= 2


@pytest.mark.parametrize(
    ("text", "ok", "reason"),
    [
        ("hello", True, ""),
        ("", False, "type a message first"),
        ("   \n\t", False, "type a message first"),
        (None, False, "type a message first"),
        ("x" * MAX_CHARS, True, ""),
        ("x" * (MAX_CHARS + 1), False, "2,001 characters, over the 2,000 limit"),
        ("<script>alert(1)</script>", True, ""),
    ],
)
def test_messages_refused_with_a_reason(text: str | None, ok: bool, reason: str) -> None:
    verdict = check_message(text)
    assert verdict.ok is ok
    assert reason in verdict.reason


def test_names_and_rooms() -> None:
    assert check_name("  Ada ") == "Ada"
    assert check_room(" General ") == "general"
    assert room_stream("general") == "chat.general"
    for bad in ["", "   ", "x" * 33, "a\x00b"]:
        with pytest.raises(ValueError):
            check_name(bad)
    for bad in ["", "has space", "-x", "x" * 33, "dots.no"]:
        with pytest.raises(ValueError, match="Room names"):
            check_room(bad)


# -- names, rooms and messages of any shape ---------------------------------------------------


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        (None, "Choose a name first"),
        (["Ada"], "A name is text"),
        ({"user": "Ada"}, "A name is text"),
        (7, "A name is text"),
        ("x" * 61_440, "61,440 characters; use at most 32"),
        ("Ada\x1b[31m", "control characters"),
        ("Ada\u202eadA", "control characters"),  # a right-to-left override
        ("A\u200bda", "control characters"),  # a zero-width space
        ("Ada\u2028Bob", "line breaks"),
    ],
)
def test_names_of_any_shape_are_refused_with_a_reason(name: object, reason: str) -> None:
    with pytest.raises(ValueError, match=re.escape(reason)):
        check_name(name)


@pytest.mark.parametrize("room", [None, ["general"], 3, "gen\neral", "no such/room", "chat.x"])
def test_rooms_of_any_shape_are_refused_with_a_reason(room: object) -> None:
    with pytest.raises(ValueError, match="Room names are 1-32 characters"):
        check_room(room)


@pytest.mark.parametrize("text", [["hi"], {"text": "hi"}, 5, True])
def test_a_message_that_is_not_text_is_refused(text: object) -> None:
    assert check_message(text) == Verdict(False, "Nothing to send: type a message first.")


def test_a_message_that_is_not_valid_unicode_is_refused() -> None:
    # JSON carries a lone surrogate ("\ud800"); publishing it was a 500.
    verdict = check_message("a\ud800b")
    assert not verdict.ok and "not valid Unicode" in verdict.reason


# -- the send limits -------------------------------------------------------------------------


def test_sends_are_limited_per_session_and_per_address_and_a_refusal_counts_nowhere() -> None:
    clock = FakeClock()
    limit = SendLimit(
        RateLimiter(limit=2, window=1.0, clock=clock),
        RateLimiter(limit=3, window=1.0, clock=clock, scope=" from one network address"),
    )
    assert limit.check("s1", "10.0.0.1") == ""
    assert limit.check("s1", "10.0.0.1") == ""
    assert "at most 2 messages per second." in limit.check("s1", "10.0.0.1")
    # Another session from the same address: its own two, but the address allows 3 in all.
    assert limit.check("s2", "10.0.0.1") == ""
    assert "3 messages per second from one network address" in limit.check("s2", "10.0.0.1")
    # The refused sends were counted by neither limit: another address is not slowed.
    assert limit.check("s2", "10.0.0.2") == ""
    clock.now += 1.0
    assert limit.check("s1", "10.0.0.1") == ""


# -- sessions --------------------------------------------------------------------------------


def test_a_session_carries_what_the_join_signed_and_nothing_else_passes() -> None:
    sessions = Sessions(None, secret="k1")
    token = sessions.issue("Ada", "general")
    session = sessions.read(token)
    assert (session.user, session.room) == ("Ada", "general") and len(session.sid) == 16
    assert sessions.read(sessions.issue("Ada", "general")).sid != session.sid  # per join
    _, stamp, signature = token.split(".")
    bob = sessions.serializer.dumps({"u": "Bob", "r": "general", "s": session.sid})
    forged = [
        None,
        {"user": "Ada", "room": "general"},
        ["x"],
        "garbage",
        token + "x",
        "x" * 5000,
        # Bob's payload under Ada's signature.
        ".".join([bob.split(".")[0], stamp, signature]),
        Sessions(None, secret="another key").issue("Ada", "general"),
        # Signed with the right key but not what a join makes (a key shared with other code).
        Sessions(None, secret="k1").serializer.dumps({"u": "x" * 100, "r": "general", "s": "1"}),
        Sessions(None, secret="k1").serializer.dumps({"u": "Ada", "r": "no such/room", "s": "1"}),
        Sessions(None, secret="k1").serializer.dumps(["Ada", "general"]),
    ]
    for token_ in forged:
        with pytest.raises(SessionError, match=r"join again|Join a room first"):
            sessions.read(token_)


def test_an_expired_session_is_refused_with_a_reason() -> None:
    sessions = Sessions(None, secret="k1", max_age=-1)  # expired as soon as it is made
    with pytest.raises(SessionError, match="expired: join again"):
        sessions.read(sessions.issue("Ada", "general"))


def test_the_signing_key_comes_from_the_environment_then_flask(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = Flask(__name__)
    monkeypatch.delenv(SECRET_ENV, raising=False)
    assert session_secret(server) is None
    server.secret_key = "flask key"
    assert session_secret(server) == "flask key"
    monkeypatch.setenv(SECRET_ENV, "env key")
    assert session_secret(server) == "env key"


# -- the callbacks, through the app's real Dash endpoint --------------------------------------


#: The address the test client's requests come from, unless a test says another.
ADDRESS = "198.51.100.7"


class ChatClient:
    """Fires the chat's callbacks as its page does: POST /_dash-update-component to the app's
    own Flask server (the real app, without a socket), from a chosen client address."""

    def __init__(self, app: Dash) -> None:
        self.client = app.server.test_client()
        self.client.get("/")  # Dash sets itself up on the first request
        self.deps = {d["output"]: d for d in self.client.get("/_dash-dependencies").get_json()}

    def fire(
        self, output: str, inputs: list[Any], state: list[Any], address: str = ADDRESS
    ) -> tuple[int, dict[str, Any]]:
        """Run the callback whose output names ``output`` (a part of its id); the status and
        the outputs it set (``{}`` when it set none: Dash answers 204)."""
        key = next(k for k in self.deps if output in k)
        dep = self.deps[key]
        outputs = [
            {"id": i, "property": p}
            for i, _, p in (part.rpartition(".") for part in key.strip(".").split("..."))
        ]
        body = {
            "output": key,
            "outputs": outputs if key.startswith("..") else outputs[0],
            "inputs": [{**i, "value": v} for i, v in zip(dep["inputs"], inputs, strict=True)],
            "state": [{**s, "value": v} for s, v in zip(dep["state"], state, strict=True)],
            "changedPropIds": [f"{dep['inputs'][0]['id']}.{dep['inputs'][0]['property']}"],
        }
        resp = self.client.post(
            "/_dash-update-component", json=body, environ_base={"REMOTE_ADDR": address}
        )
        set_props = resp.get_json()["response"] if resp.status_code == 200 else {}
        return resp.status_code, set_props

    def join(self, name: Any, room: Any, address: str = ADDRESS) -> tuple[Any, str]:
        """The session a join stores (None if it stored none) and the error it shows."""
        status, out = self.fire("chat-session.data...", [1, None, None], [name, room], address)
        assert status == 200, status
        return out.get("chat-session", {}).get("data"), out["chat-entry-error"]["children"]

    def send(self, text: Any, token: Any, n: Any = 0, address: str = ADDRESS) -> tuple[bool, str]:
        """Whether the message was published (the box cleared) and the status shown."""
        status, out = self.fire("chat-input.value", [1, None], [text, token, n], address)
        assert status == 200, status
        return out.get("chat-input", {}).get("value") == "", out["chat-status"]["children"]

    def show(self, token: Any) -> tuple[bool, str]:
        """Whether the room is shown, and the error on the entry page."""
        status, out = self.fire("chat-entry.hidden", [token], [])
        assert status == 200, status
        return not out["chat-room"]["hidden"], out.get("chat-entry-error", {}).get("children", "")


@pytest.fixture
def chat_app(hub_factory: Callable[..., Hub]) -> tuple[Hub, ChatClient]:
    """The chat with its default limits over a minute instead of a second: what a test
    counts never depends on how fast the machine runs it."""
    hub = hub_factory()
    app = chat.create_push_app(
        hub,
        RateLimiter(RATE_LIMIT, 60.0),
        address_limiter=RateLimiter(ADDRESS_RATE_LIMIT, 60.0, scope=" from one address"),
        secret="test key",
    )
    return hub, ChatClient(app)


def test_one_client_cannot_post_faster_by_changing_names_or_sessions(
    chat_app: tuple[Hub, ChatClient],
) -> None:
    hub, client = chat_app
    ada, error = client.join("Ada", "general")
    assert error == "" and isinstance(ada, str)
    # Before: the limit was keyed on the name in the page's state, so a name per send
    # posted ~1,400 times a second. Now that state is not a session at all.
    for i in range(20):
        sent, shown = client.send(f"m{i}", {"user": f"u{i}", "room": "general"})
        assert not sent and "not valid" in shown
    # One session: RATE_LIMIT per window (a minute here, however slow the machine).
    results = [client.send(f"a{i}", ada) for i in range(RATE_LIMIT + 3)]
    assert [sent for sent, _ in results] == [True] * RATE_LIMIT + [False] * 3
    assert "at most 5 messages per 60 seconds." in results[-1][1]
    # More sessions from the same address: ADDRESS_RATE_LIMIT per window in all.
    others = [client.join(f"N{i}", "general")[0] for i in range(10)]
    posted = sum(client.send("b", others[i % 10])[0] for i in range(40))
    assert posted == ADDRESS_RATE_LIMIT - RATE_LIMIT
    # Another address is not slowed by this one.
    assert client.send("from elsewhere", others[0], address="203.0.113.9")[0]
    stored = hub.history(room_stream("general"), 100)
    assert {e.data["user"] for e in stored} <= {"Ada", *(f"N{i}" for i in range(10))}
    assert len(stored) == ADDRESS_RATE_LIMIT + 1


def test_a_message_carries_the_name_of_the_join_whatever_the_page_sends(
    chat_app: tuple[Hub, ChatClient],
) -> None:
    hub, client = chat_app
    eve, _ = client.join("Eve", "random")
    for edited in (
        {"user": "Ada", "room": "random", "token": eve},
        {"user": "x" * 61_440, "room": "general"},
        {"user": "a\x00\x1b[31m", "room": "general"},
    ):
        assert client.send("hi", edited) == (
            False,
            "This tab's chat session is not valid (it was changed, or the server now signs "
            "with another key): join again.",
        )
    assert client.send("I am Eve", eve)[0]
    [message] = hub.history(room_stream("random"), 10)
    assert message.data == {"user": "Eve", "text": "I am Eve"}


@pytest.mark.parametrize(
    "state",
    [
        {"room": "general"},  # was KeyError, a 500
        {"user": ["x"], "room": "general"},  # was TypeError
        {"user": "x", "room": "no such/room"},  # was PublishError
        "garbage",
        ["x"],
        3.5,
        "x" * 1_000_000,
    ],
)
def test_an_edited_session_state_gets_a_shown_error(
    chat_app: tuple[Hub, ChatClient], state: Any, caplog: pytest.LogCaptureFixture
) -> None:
    hub, client = chat_app
    assert client.show(state) == (
        False,
        "This tab's chat session is not valid (it was changed, or the server now signs with "
        "another key): join again.",
    )
    sent, shown = client.send("hi", state, n="not a number")
    assert not sent and "join again" in shown
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert hub.store.head(room_stream("general")) == 0


def test_rooms_are_made_only_by_joining_up_to_the_cap(hub_factory: Callable[..., Hub]) -> None:
    hub = hub_factory()
    rooms = Rooms(hub, cap=6, per_address=RateLimiter(2, 3600.0))
    client = ChatClient(chat.create_push_app(hub, rooms=rooms, secret="test key"))
    # Sessions made up by the page make no room, whatever they name.
    for i in range(20):
        client.show({"user": "x", "room": f"fake{i}"})
        client.send("hi", {"user": "x", "room": f"fake{i}"})
    assert rooms.names() == list(ROOMS)
    # A join makes one, two per address per hour...
    assert client.join("Ada", "alpha")[1] == ""
    assert client.join("Ada", "beta")[1] == ""
    token, error = client.join("Ada", "gamma")
    assert token is None and "At most 2 new rooms per 60 minutes" in error
    assert client.join("Ada", "alpha")[1] == ""  # joining a room that exists makes none
    # ... and none past the cap, from any address; the rooms that exist stay open.
    assert client.join("Bob", "delta", address="203.0.113.1")[1] == ""
    token, error = client.join("Bob", "epsilon", address="203.0.113.2")
    assert token is None and "There are 6 rooms already" in error
    assert rooms.names() == [*ROOMS, "alpha", "beta", "delta"]
    assert client.join("Bob", "beta", address="203.0.113.2")[1] == ""


def test_several_workers_share_sessions_and_rooms_through_the_store_and_the_secret(
    tmp_path: Path, hub_factory: Callable[..., Hub], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two processes of `livedash serve --workers 2`: an app and a hub each, one SQLite file.
    url = f"sqlite:///{tmp_path / 'chat.db'}"
    monkeypatch.setenv(SECRET_ENV, "one key for every worker")
    hub_a, hub_b = hub_factory(url), hub_factory(url)
    one = ChatClient(chat.create_push_app(hub_a, rooms=Rooms(hub_a, cap=4)))
    two = ChatClient(chat.create_push_app(hub_b, rooms=Rooms(hub_b, cap=4)))
    token, _ = one.join("Ada", "lobby")  # made by worker one
    assert two.send("hello from the other worker", token) == (True, "")
    assert [e.data["user"] for e in hub_a.history(room_stream("lobby"), 10)] == ["Ada"]
    # Worker two sees the room worker one made, and the cap counts it.
    assert two.join("Bob", "lobby")[1] == ""
    assert "There are 4 rooms already" in two.join("Bob", "other")[1]
    # Without a shared key each worker signs with its own: the other asks to join again.
    monkeypatch.delenv(SECRET_ENV)
    three = ChatClient(chat.create_push_app(hub_a, rooms=Rooms(hub_a, cap=4)))
    four = ChatClient(chat.create_push_app(hub_b, rooms=Rooms(hub_b, cap=4)))
    sent, shown = four.send("hi", three.join("Ada", "lobby")[0])
    assert not sent and "join again" in shown


# -- fuzz: any state a page can send -----------------------------------------------------------

#: Values a page may put in any prop: what Dash sends, and what an edited state holds.
_json = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**64), max_value=2**64),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=40),
        # Lone surrogates: JSON carries them, UTF-8 and the stores cannot.
        st.text(st.characters(codec=None, exclude_categories=()), max_size=10),
        st.sampled_from(
            ["", " ", "general", "Ada", "no such/room", "a\x00b", "\u202e", "x" * 5000]
        ),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
names = st.one_of(_json, st.text(max_size=40), st.integers(30, 70_000).map(lambda n: "N" * n))
room_names = st.one_of(_json, st.from_regex(r"[a-z0-9][a-z0-9_-]{0,34}", fullmatch=True))
sessions_states = st.one_of(
    _json,
    st.fixed_dictionaries({"user": names, "room": room_names}),
    st.just("VALID"),  # replaced by a real session, so that sends reach the store
    st.just("VALID"),
    st.tuples(st.just("VALID"), st.integers(0, 200), st.characters()),  # a real one, edited
)
FUZZ_EXAMPLES = 300


def test_no_state_a_page_sends_makes_a_server_error(
    hub_factory: Callable[..., Hub], caplog: pytest.LogCaptureFixture
) -> None:
    hub = hub_factory()
    rooms = Rooms(hub, cap=12)
    # Limits too high to bite, so that every valid send reaches the store.
    app = chat.create_push_app(
        hub,
        RateLimiter(10**9),
        address_limiter=RateLimiter(10**9),
        rooms=rooms,
        secret="test key",
    )
    client = ChatClient(app)
    valid, _ = client.join("Ada", "general")

    def session_of(state: Any) -> Any:
        if state == "VALID":
            return valid
        if isinstance(state, tuple):  # one character of a real session changed
            _, at, char = state
            at %= len(valid)
            return valid[:at] + char + valid[at + 1 :]
        return state

    @settings(
        max_examples=FUZZ_EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(
        callback=st.sampled_from(["join", "send", "show", "leave", "pick"]),
        name=names,
        room=room_names,
        state=sessions_states,
        text=st.one_of(_json, st.text(max_size=60), st.just("y" * 2001)),
        n=_json,
        clicks=_json,
        address=st.sampled_from([ADDRESS, "203.0.113.1", "2001:db8::1"]),
    )
    def attack(
        callback: str,
        name: Any,
        room: Any,
        state: Any,
        text: Any,
        n: Any,
        clicks: Any,
        address: str,
    ) -> None:
        caplog.clear()
        session = session_of(state)
        if callback == "join":
            status, _ = client.fire("chat-session.data...", [clicks, clicks, None], [name, room])
        elif callback == "send":
            status, _ = client.fire("chat-input.value", [clicks, None], [text, session, n], address)
        elif callback == "show":
            status, _ = client.fire("chat-entry.hidden", [session], [])
        elif callback == "leave":
            status, _ = client.fire("chat-session.data@", [clicks], [])
        else:
            status, _ = client.fire("chat-room-name.value", [clicks, clicks, clicks], [])
        assert status in (200, 204), (callback, status)
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]

    caplog.set_level(logging.INFO)
    attack()
    # What held through it all: every message under a name a join accepted, rooms within cap.
    for event in hub.history(room_stream("general"), 1000):
        assert check_name(event.data["user"]) == event.data["user"]
        assert check_message(event.data["text"]).ok
    assert len(rooms.names()) <= 12
