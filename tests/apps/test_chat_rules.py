"""The chat's rules, without a browser: names, rooms, message limits, the rate limiter."""

from __future__ import annotations

import pytest

from livedash.apps.chat import (
    MAX_CHARS,
    RateLimiter,
    check_message,
    check_name,
    check_room,
    room_stream,
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
