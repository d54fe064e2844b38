"""The chat in headless Chromium: two people in a room, hostile text, limits, restarts."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from livedash import Hub
from livedash.apps import chat
from livedash.testing import LiveServer

pytestmark = pytest.mark.browser

MESSAGES = "#chat-log-{room} .livedash-msg"


def join(context: Any, url: str, name: str, room: str = "general") -> Any:
    page = context.new_page()
    page.goto(url)
    page.fill("#chat-name", name)
    page.fill("#chat-room-name", room)
    page.click("#chat-join")
    # Joined: the room's log is on the page and the live client follows it.
    page.wait_for_function(
        f"() => window.livedash && window.livedash.widgets['chat-log-{room}']"
        f" && window.livedash.widgets['chat-log-{room}'].started",
        timeout=45_000,
    )
    return page


def send(page: Any, text: str) -> None:
    page.fill("#chat-input", text)
    page.press("#chat-input", "Enter")


def texts(page: Any, room: str = "general") -> list[str]:
    return list(page.locator(f"{MESSAGES.format(room=room)} .livedash-msg-text").all_inner_texts())


def wait_for_text(page: Any, text: str, room: str = "general") -> None:
    page.wait_for_function(
        "([sel, t]) => [...document.querySelectorAll(sel)].some(el => el.textContent === t)",
        arg=[f"{MESSAGES.format(room=room)} .livedash-msg-text", text],
        timeout=30_000,
    )


def test_a_message_sent_in_one_browser_appears_in_the_other(
    browser: Any, hub_factory: Callable[..., Hub], live_server: Callable[[Any], LiveServer]
) -> None:
    server = live_server(chat.create_push_app(hub_factory()))
    ctx_a, ctx_b = browser.new_context(), browser.new_context()
    try:
        ada = join(ctx_a, server.url, "Ada")
        bob = join(ctx_b, server.url, "Bob")
        elsewhere = join(browser.new_context(), server.url, "Eve", room="random")
        send(ada, "hello Bob")
        wait_for_text(bob, "hello Bob")
        send(bob, "hi Ada")
        wait_for_text(ada, "hi Ada")
        wait_for_text(bob, "hi Ada")  # each page gets it on its own push
        # Sent: the box is cleared.
        ada.wait_for_function("() => document.querySelector('#chat-input').value === ''")
        users = bob.locator(f"{MESSAGES.format(room='general')} .livedash-msg-user")
        assert users.all_inner_texts() == ["Ada", "Bob"]
        assert texts(bob) == ["hello Bob", "hi Ada"]
        # Rooms are separate: a message in #random is not in #general and vice versa.
        send(elsewhere, "anyone?")
        wait_for_text(elsewhere, "anyone?", room="random")
        assert texts(elsewhere, "random") == ["anyone?"]
        send(ada, "still here")
        wait_for_text(bob, "still here")
        assert "anyone?" not in texts(bob)
        # Leaving and joining another room shows that room's history, and only it.
        ada.click("#chat-leave")
        ada.fill("#chat-room-name", "random")
        ada.click("#chat-join")
        wait_for_text(ada, "anyone?", room="random")
        assert ada.locator("#chat-log-general").count() == 0
        assert ada.inner_text("#chat-title") == "#random · you are Ada"
        elsewhere.context.close()
    finally:
        ctx_a.close()
        ctx_b.close()


PAYLOADS = [
    "<script>window.__pwned = 1</script>",
    '<img src=x onerror="window.__pwned = 2">',
    "<b>bold?</b> &amp; <a href='javascript:window.__pwned=3'>link</a>",
]


def test_html_and_script_payloads_show_as_text_and_run_nothing(
    browser: Any, hub_factory: Callable[..., Hub], live_server: Callable[[Any], LiveServer]
) -> None:
    server = live_server(chat.create_push_app(hub_factory()))
    ctx_a, ctx_b = browser.new_context(), browser.new_context()
    try:
        mallory = join(ctx_a, server.url, "<img src=x onerror=alert(4)>")
        victim = join(ctx_b, server.url, "Victim")
        dialogs: list[str] = []

        def on_dialog(dialog: Any) -> None:
            dialogs.append(dialog.message)
            dialog.dismiss()

        for page in (mallory, victim):
            page.on("dialog", on_dialog)
        for payload in PAYLOADS:
            send(mallory, payload)
            wait_for_text(victim, payload)
        wait_for_text(mallory, PAYLOADS[-1])
        for page in (mallory, victim):
            assert texts(page) == PAYLOADS
            log = page.locator("#chat-log-general")
            assert log.locator("script, img, b, a").count() == 0  # no element was created
            assert page.evaluate("() => window.__pwned") is None
        names = victim.locator(f"{MESSAGES.format(room='general')} .livedash-msg-user")
        assert names.first.inner_text() == "<img src=x onerror=alert(4)>"
        assert dialogs == []
    finally:
        ctx_a.close()
        ctx_b.close()


def test_empty_long_and_fast_messages_are_refused_visibly(
    context: Any, hub_factory: Callable[..., Hub], live_server: Callable[[Any], LiveServer]
) -> None:
    hub = hub_factory()
    # A long window, so the sixth message is refused however slow the machine is.
    limiter = chat.RateLimiter(limit=5, window=60.0)
    server = live_server(chat.create_push_app(hub, limiter))
    page = join(context, server.url, "Ada")

    send(page, "   ")
    page.wait_for_function(
        "() => document.querySelector('#chat-status').textContent.includes('type a message')",
        timeout=30_000,
    )
    assert "refused" in (page.get_attribute("#chat-status", "class") or "")

    long_text = "y" * 2001
    send(page, long_text)
    page.wait_for_function(
        "() => document.querySelector('#chat-status').textContent.includes('2,001 characters')",
        timeout=30_000,
    )
    assert page.input_value("#chat-input") == long_text  # nothing the user wrote is lost
    assert page.is_visible("#chat-status")

    for i in range(5):
        send(page, f"m{i}")
        # As fast as a person can: the next message once this one has left the box.
        page.wait_for_function(
            "() => document.querySelector('#chat-input').value === ''", timeout=30_000
        )
    send(page, "one too many")
    page.wait_for_function(
        "() => document.querySelector('#chat-status').textContent.includes('Slow down')",
        timeout=30_000,
    )
    status = page.inner_text("#chat-status")
    assert "at most 5 messages per 60 seconds" in status
    assert page.input_value("#chat-input") == "one too many"
    wait_for_text(page, "m4")
    assert texts(page) == [f"m{i}" for i in range(5)]
    stored = [e.data["text"] for e in hub.history(chat.room_stream("general"), 100)]
    assert stored == [f"m{i}" for i in range(5)]


def test_join_shows_the_last_200_messages_and_history_survives_a_restart(
    context: Any, tmp_path: Path, live_server: Callable[[Any], LiveServer]
) -> None:
    url = f"sqlite:///{tmp_path / 'chat.db'}"
    hub = Hub(url)
    try:
        hub.publish_many(
            (chat.room_stream("general"), {"user": "bot", "text": f"old {i}"}) for i in range(250)
        )
        server = live_server(chat.create_push_app(hub))
        page = join(context, server.url, "Ada")
        wait_for_text(page, "old 249")
        shown = texts(page)
        assert shown == [f"old {i}" for i in range(50, 250)]
        send(page, "before the restart")
        wait_for_text(page, "before the restart")
        page.close()
        server.stop()
    finally:
        hub.close()

    hub2 = Hub(url)
    server2 = live_server(chat.create_push_app(hub2))
    try:
        page2 = join(context, server2.url, "Bob")
        wait_for_text(page2, "before the restart")
        assert texts(page2)[-2:] == ["old 249", "before the restart"]
        send(page2, "after the restart")
        wait_for_text(page2, "after the restart")
    finally:
        server2.stop()
        hub2.close()


def test_a_session_survives_a_reload_and_an_edited_one_shows_an_error(
    context: Any, hub_factory: Callable[..., Hub], live_server: Callable[[Any], LiveServer]
) -> None:
    hub = hub_factory()
    server = live_server(chat.create_push_app(hub))
    page = join(context, server.url, "Ada")
    page.reload()  # the tab keeps its signed session (sessionStorage)
    page.wait_for_function(
        "() => document.querySelector('#chat-title')?.textContent === '#general · you are Ada'",
        timeout=30_000,
    )
    server_errors: list[int] = []
    page.on("response", lambda r: server_errors.append(r.status) if r.status >= 500 else None)
    for edited in (
        {"user": "Bob", "room": "general"},  # another name: was accepted at each send
        {"room": "general"},  # was a 500 (KeyError)
        "garbage",
    ):
        page.evaluate("(v) => sessionStorage.setItem('chat-session', JSON.stringify(v))", edited)
        page.reload()
        page.wait_for_function(
            "() => document.querySelector('#chat-entry-error')?.textContent.includes('join again')",
            timeout=30_000,
        )
        assert page.is_visible("#chat-entry") and not page.is_visible("#chat-room")
    assert server_errors == []
    # Joining again gives a new session that works.
    page.fill("#chat-name", "Ada")
    page.click("#chat-join")
    page.wait_for_function(
        "() => window.livedash.widgets['chat-log-general']"
        " && window.livedash.widgets['chat-log-general'].started",
        timeout=45_000,
    )
    send(page, "back again")
    wait_for_text(page, "back again")
    assert [e.data for e in hub.history(chat.room_stream("general"), 10)] == [
        {"user": "Ada", "text": "back again"}
    ]
