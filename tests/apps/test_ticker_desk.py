"""The ticker's desk: ticks in the store become candles and quotes, whatever their source."""

from __future__ import annotations

import time
from collections.abc import Callable

from livedash import Hub
from livedash.apps.ticker import MarketDesk, candle_stream


def test_desk_turns_published_ticks_into_candles_and_quotes(
    hub_factory: Callable[..., Hub],
) -> None:
    hub = hub_factory()
    hub.publish("ticks", {"ticks": [{"s": "OLD", "p": 1.0, "v": 1}]})  # before the desk: skipped
    later = [0.0]
    desk = MarketDesk(hub, {"ACME": 100.0}, clock=lambda: time.time() + later[0])
    hub.publish(
        "ticks",
        {"ticks": [{"s": "ACME", "p": 101.0, "v": 100}, {"s": "ACME", "p": 103.0, "v": 200}]},
    )
    last = hub.publish(
        "ticks", {"ticks": [{"s": "ACME", "p": 99.5, "v": 50}, {"s": "bad", "p": 1}]}
    )
    hub.publish("ticks", {"nothing": True})
    first = desk.step()
    assert first is not None
    # seq: the ticks event of the symbol's last trade; dir: how last moved since the symbol's
    # previous quote (none yet: 0); ticks: the valid ticks folded in.
    assert first["quotes"] == [
        {
            "s": "ACME",
            "last": 99.5,
            "chg": -0.5,
            "pct": -0.005,
            "vol": 350,
            "seq": last.seq,
            "dir": 0,
        }
    ]
    assert first["ticks"] == 3
    assert first["rate"] > 0
    assert desk.rejected == 2
    assert desk.step() is None  # nothing new
    hub.publish("ticks", {"ticks": [{"s": "BOLT", "p": 20.0, "v": 10}]})
    hub.publish("ticks", {"ticks": [{"s": "BOLT", "p": 20.5, "v": 10}]})
    second = desk.step()
    assert second is not None and second["ticks"] == 2  # counted once, not again
    assert [(q["s"], q["last"], q["dir"]) for q in second["quotes"]] == [("BOLT", 20.5, 0)]
    hub.publish("ticks", {"ticks": [{"s": "BOLT", "p": 19.5, "v": 10}]})
    third = desk.step()
    assert third is not None and [(q["last"], q["dir"]) for q in third["quotes"]] == [(19.5, -1)]
    later[0] = 5.0  # the second is long over: the candle closes
    assert desk.step() is None
    (candle,) = hub.history(candle_stream("ACME"), 10)
    assert {k: candle.data[k] for k in "ohlcvn"} == {
        "o": 101.0,
        "h": 103.0,
        "l": 99.5,
        "c": 99.5,
        "v": 350,
        "n": 3,
    }
    assert hub.history(candle_stream("OLD"), 10) == []
