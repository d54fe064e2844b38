"""The market feed's pure parts: simulator, OHLC candles, quotes."""

from __future__ import annotations

import itertools
import math
import statistics

import pytest

from livedash.sources.market import (
    DEFAULT_SYMBOLS,
    Candle,
    CandleBuilder,
    GBMSimulator,
    QuoteBook,
    Tick,
)


def ticks_of(sim: GBMSimulator, steps: int, dt: float = 0.1) -> list[Tick]:
    out: list[Tick] = []
    for _ in range(steps):
        out.extend(sim.poll(dt))
    return out


def test_simulator_is_reproducible_for_a_seed() -> None:
    a = ticks_of(GBMSimulator(seed=42), 50)
    b = ticks_of(GBMSimulator(seed=42), 50)
    c = ticks_of(GBMSimulator(seed=43), 50)
    assert a == b
    assert a != c


def test_simulator_meets_the_rate_over_many_symbols() -> None:
    sim = GBMSimulator(rate=60.0)
    assert len(sim.symbols()) >= 20
    ticks = ticks_of(sim, 100)  # 10 simulated seconds
    assert len(ticks) == 600  # fractions carry over, so the count is exact
    assert len({t.symbol for t in ticks}) == len(sim.symbols())
    assert all(t.price > 0 and t.size > 0 and t.size % 100 == 0 for t in ticks)


def test_simulator_log_returns_have_the_configured_volatility() -> None:
    sigma = 0.01
    sim = GBMSimulator([("ONE", 100.0, sigma)], rate=10.0, seed=1)
    prices = [t.price for t in ticks_of(sim, 20_000)]  # one tick every 0.1 s
    returns = [math.log(b / a) for a, b in itertools.pairwise(prices)]
    # Per tick dt = 0.1 s, so the standard deviation is sigma * sqrt(0.1).
    assert statistics.stdev(returns) == pytest.approx(sigma * math.sqrt(0.1), rel=0.05)
    assert abs(statistics.mean(returns)) < 0.001


def test_simulator_refuses_bad_settings() -> None:
    with pytest.raises(ValueError, match="rate"):
        GBMSimulator(rate=0)
    with pytest.raises(ValueError, match="universe"):
        GBMSimulator([("bad symbol", 1.0, 0.1)])
    with pytest.raises(ValueError, match="elapsed"):
        GBMSimulator().poll(-1)


def test_default_universe_has_twenty_plus_distinct_symbols() -> None:
    assert len({s for s, _, _ in DEFAULT_SYMBOLS}) == len(DEFAULT_SYMBOLS) >= 20


def test_candles_aggregate_known_ticks() -> None:
    b = CandleBuilder(1)
    assert b.add(Tick("A", 10.0, 100), 1000.1) == []
    assert b.add(Tick("A", 12.0, 200), 1000.4) == []
    assert b.add(Tick("B", 50.0, 10), 1000.5) == []
    assert b.add(Tick("A", 9.0, 100), 1000.7) == []
    assert b.add(Tick("A", 11.0, 300), 1000.99) == []
    # The first tick of the next second closes A's candle.
    closed = b.add(Tick("A", 11.5, 100), 1001.0)
    assert closed == [Candle("A", 1000, 10.0, 12.0, 9.0, 11.0, 700, 4)]
    # B is quiet: close_until closes its candle once its second is over; A's new one stays.
    assert b.close_until(1000.99) == []
    assert b.close_until(1001.0) == [Candle("B", 1000, 50.0, 50.0, 50.0, 50.0, 10, 1)]
    assert b.close_until(1002.0) == [Candle("A", 1001, 11.5, 11.5, 11.5, 11.5, 100, 1)]
    assert b.close_until(1005.0) == []


def test_candles_skip_empty_seconds_and_serialise() -> None:
    b = CandleBuilder(1)
    b.add(Tick("A", 1.0, 1), 10.2)
    (first,) = b.add(Tick("A", 2.0, 1), 13.5)  # seconds 11 and 12 had no trades
    assert first.start == 10
    (second,) = b.close_until(14.0)
    assert second.to_json() == {"t": 13, "o": 2.0, "h": 2.0, "l": 2.0, "c": 2.0, "v": 1, "n": 1}


def test_a_late_tick_counts_in_the_open_candle_without_moving_time_back() -> None:
    b = CandleBuilder(1)
    b.add(Tick("A", 10.0, 1), 20.5)
    b.add(Tick("A", 11.0, 1), 21.2)  # closes second 20, opens 21
    b.add(Tick("A", 30.0, 5), 20.9)  # late: traded in second 20, which is already closed
    (candle,) = b.close_until(22.0)
    assert candle == Candle("A", 21, 11.0, 30.0, 11.0, 11.0, 6, 2)
    # After a close, even a tick older than that close lands after it.
    b.add(Tick("A", 12.0, 1), 21.5)
    (later,) = b.close_until(23.0)
    assert later.start == 22


def test_wider_candles() -> None:
    b = CandleBuilder(5)
    for i, price in enumerate([5.0, 7.0, 4.0, 6.0]):
        b.add(Tick("A", price, 1), 100 + i)
    (candle,) = b.close_until(105)
    assert (candle.start, candle.open, candle.high, candle.low, candle.close) == (
        100,
        5.0,
        7.0,
        4.0,
        6.0,
    )


def test_quote_book_reports_changes_against_the_reference() -> None:
    book = QuoteBook({"A": 100.0})
    book.update([Tick("A", 101.0, 100), Tick("B", 20.0, 5), Tick("A", 99.0, 50)])
    rows = book.take_changes()
    assert rows == [
        {"s": "A", "last": 99.0, "chg": -1.0, "pct": -0.01, "vol": 150},
        {"s": "B", "last": 20.0, "chg": 0.0, "pct": 0.0, "vol": 5},
    ]
    assert book.take_changes() == []
    book.update([Tick("B", 21.0, 1)])
    assert book.take_changes() == [{"s": "B", "last": 21.0, "chg": 1.0, "pct": 0.05, "vol": 6}]


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("ACME", "must be an object"),
        ({"s": "acme lower", "p": 1}, "symbol"),
        ({"s": "ACME", "p": 0}, "price"),
        ({"s": "ACME", "p": "1.0"}, "price"),
        ({"s": "ACME", "p": True}, "price"),
        ({"s": "ACME", "p": 1.0, "v": -1}, "size"),
        ({"s": "ACME", "p": 1.0, "v": 1.5}, "size"),
    ],
)
def test_tick_parsing_says_what_is_wrong(raw: object, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        Tick.from_json(raw)


def test_tick_round_trips() -> None:
    tick = Tick("ACME", 182.5, 300)
    assert Tick.from_json(tick.to_json()) == tick
    assert Tick.from_json({"s": "X.Y", "p": 3}) == Tick("X.Y", 3.0, 0)
