"""A market feed: ticks from a :class:`TickSource`, 1-second OHLC candles, quotes.

Everything here is pure (no I/O, no clock of its own): the ticker app feeds it time and
publishes what it returns, and tests drive it with known ticks.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

#: Symbols: 1-16 of A-Z 0-9 . _ - (they become part of the stream name ``candles.SYM``).
SYMBOL_RE = re.compile(r"^[A-Z0-9][A-Z0-9._-]{0,15}$")

#: The simulator's default universe: (symbol, starting price, volatility per sqrt(second)).
DEFAULT_SYMBOLS: tuple[tuple[str, float, float], ...] = (
    ("ACME", 182.40, 0.0012),
    ("BOLT", 23.15, 0.0025),
    ("CRUX", 412.00, 0.0009),
    ("DYNA", 67.80, 0.0016),
    ("EMBR", 14.32, 0.0030),
    ("FLUX", 96.50, 0.0014),
    ("GRID", 251.75, 0.0010),
    ("HALO", 38.90, 0.0020),
    ("IONX", 129.10, 0.0015),
    ("JETS", 54.25, 0.0018),
    ("KILN", 8.74, 0.0035),
    ("LUMA", 305.60, 0.0011),
    ("MESA", 77.05, 0.0017),
    ("NOVA", 143.30, 0.0013),
    ("ORBT", 29.95, 0.0024),
    ("PIXL", 61.40, 0.0019),
    ("QUAY", 188.20, 0.0012),
    ("RIFT", 45.55, 0.0021),
    ("SOLR", 112.85, 0.0016),
    ("TIDE", 19.60, 0.0028),
    ("UMBR", 233.10, 0.0010),
    ("VOLT", 88.45, 0.0018),
)


@dataclass(frozen=True, slots=True)
class Tick:
    """One trade: ``size`` units of ``symbol`` at ``price``."""

    symbol: str
    price: float
    size: int

    def to_json(self) -> dict[str, Any]:
        """The wire form inside a ``ticks`` event: ``{"s": SYMBOL, "p": price, "v": size}``."""
        return {"s": self.symbol, "p": self.price, "v": self.size}

    @classmethod
    def from_json(cls, obj: object) -> Tick:
        """Parse ``{"s": SYMBOL, "p": price, "v": size}``; raise ``ValueError`` saying what
        is wrong (ticks also arrive over HTTP, so anything may come in)."""
        if not isinstance(obj, Mapping):
            raise ValueError(
                f"a tick must be an object like {{'s': 'ACME', 'p': 1.5, 'v': 100}}, got {obj!r}"
            )
        symbol, price, size = obj.get("s"), obj.get("p"), obj.get("v", 0)
        if not isinstance(symbol, str) or not SYMBOL_RE.match(symbol):
            raise ValueError(f"tick symbol {symbol!r} must be 1-16 of A-Z 0-9 . _ -")
        if isinstance(price, bool) or not isinstance(price, int | float) or not price > 0:
            raise ValueError(f"tick price {price!r} must be a number > 0")
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise ValueError(f"tick size {size!r} must be an integer >= 0")
        return cls(symbol, float(price), size)


class TickSource(Protocol):
    """Where ticks come from. The simulator implements it; a real feed would buffer the
    trades its connection receives and hand them over on :meth:`poll`."""

    def symbols(self) -> Sequence[str]:
        """The symbols this source trades, in display order."""
        ...

    def poll(self, elapsed: float) -> list[Tick]:
        """The ticks that happened during the last ``elapsed`` seconds, oldest first."""
        ...


class GBMSimulator:
    """Geometric Brownian motion prices for many symbols, ``rate`` ticks per second in total.

    Deterministic: the same ``seed`` and the same sequence of :meth:`poll` arguments give
    the same ticks. Each tick moves its symbol's price by an exact GBM step over the
    simulated time since that symbol last traded:
    ``S' = S * exp((mu - sigma^2 / 2) dt + sigma sqrt(dt) Z)``.
    """

    def __init__(
        self,
        universe: Sequence[tuple[str, float, float]] = DEFAULT_SYMBOLS,
        *,
        rate: float = 60.0,
        seed: int = 7,
        drift: float = 0.0,
    ) -> None:
        if rate <= 0:
            raise ValueError(f"rate must be > 0 ticks per second, got {rate!r}")
        if not universe:
            raise ValueError("the simulator needs at least one (symbol, price, sigma)")
        for symbol, price, sigma in universe:
            if not SYMBOL_RE.match(symbol) or price <= 0 or sigma < 0:
                raise ValueError(f"bad universe entry {(symbol, price, sigma)!r}")
        self.rate = rate
        self.drift = drift
        self._rng = random.Random(seed)
        self._symbols = [s for s, _, _ in universe]
        self._price = {s: p for s, p, _ in universe}
        self._sigma = {s: v for s, _, v in universe}
        self._last_trade = dict.fromkeys(self._symbols, 0.0)
        self._now = 0.0  # simulated seconds since start
        self._carry = 0.0  # fractional tick owed from earlier polls

    def symbols(self) -> Sequence[str]:
        """The simulated symbols, in the order given."""
        return list(self._symbols)

    def price(self, symbol: str) -> float:
        """The current simulated price of ``symbol``."""
        return self._price[symbol]

    def poll(self, elapsed: float) -> list[Tick]:
        """Advance simulated time by ``elapsed`` seconds and return its ticks: exactly
        ``rate * elapsed`` of them on average, with the fractions carried over."""
        if elapsed < 0:
            raise ValueError(f"elapsed must be >= 0 seconds, got {elapsed!r}")
        due = self.rate * elapsed + self._carry
        count = int(due)
        self._carry = due - count
        start = self._now
        ticks = []
        for i in range(count):
            at = start + elapsed * (i + 1) / count
            symbol = self._rng.choice(self._symbols)
            ticks.append(self._trade(symbol, at))
        self._now = start + elapsed
        return ticks

    def _trade(self, symbol: str, at: float) -> Tick:
        dt = max(at - self._last_trade[symbol], 1e-6)
        self._last_trade[symbol] = at
        sigma = self._sigma[symbol]
        z = self._rng.gauss(0.0, 1.0)
        price = self._price[symbol] * math.exp(
            (self.drift - sigma * sigma / 2) * dt + sigma * math.sqrt(dt) * z
        )
        self._price[symbol] = price
        size = 100 * self._rng.randint(1, 20)
        return Tick(symbol, round(price, 4), size)


@dataclass(slots=True)
class Candle:
    """Open/high/low/close and volume of ``symbol`` over ``[start, start + seconds)``."""

    symbol: str
    start: int
    open: float
    high: float
    low: float
    close: float
    volume: int
    trades: int

    def to_json(self) -> dict[str, Any]:
        """The event payload on ``candles.SYMBOL``: ``{t, o, h, l, c, v, n}``."""
        return {
            "t": self.start,
            "o": self.open,
            "h": self.high,
            "l": self.low,
            "c": self.close,
            "v": self.volume,
            "n": self.trades,
        }


class CandleBuilder:
    """Aggregates ticks into fixed-width OHLC candles, one open candle per symbol.

    :meth:`add` a tick with its time; a tick in a later bucket closes (returns) the symbol's
    open candle. :meth:`close_until` closes candles whose bucket has ended, so quiet
    symbols still get their candle. A tick older than the symbol's open bucket counts in the
    open candle (volume, high/low, but not its open/close) so no trade is lost and candle
    times never go backwards.
    """

    def __init__(self, seconds: int = 1) -> None:
        if seconds < 1:
            raise ValueError(f"seconds must be >= 1, got {seconds!r}")
        self.seconds = seconds
        self._open: dict[str, Candle] = {}
        self._closed_upto: dict[str, int] = {}  # symbol -> end of its newest closed bucket

    def bucket(self, ts: float) -> int:
        """Start (epoch seconds) of the bucket containing ``ts``."""
        return int(ts // self.seconds) * self.seconds

    def add(self, tick: Tick, ts: float) -> list[Candle]:
        """Count ``tick`` (traded at ``ts``); return the candle it closed, if any."""
        start = max(self.bucket(ts), self._closed_upto.get(tick.symbol, -(2**62)))
        current = self._open.get(tick.symbol)
        closed: list[Candle] = []
        if current is not None and start > current.start:
            closed.append(self._close(tick.symbol))
            current = None
        if current is None:
            self._open[tick.symbol] = Candle(
                tick.symbol, start, tick.price, tick.price, tick.price, tick.price, tick.size, 1
            )
            return closed
        late = self.bucket(ts) < current.start
        current.high = max(current.high, tick.price)
        current.low = min(current.low, tick.price)
        if not late:
            current.close = tick.price
        current.volume += tick.size
        current.trades += 1
        return closed

    def close_until(self, ts: float) -> list[Candle]:
        """Close and return every open candle whose bucket ended at or before ``ts``."""
        done = [s for s, c in self._open.items() if c.start + self.seconds <= ts]
        return [self._close(s) for s in sorted(done, key=lambda s: (self._open[s].start, s))]

    def _close(self, symbol: str) -> Candle:
        candle = self._open.pop(symbol)
        self._closed_upto[symbol] = candle.start + self.seconds
        return candle


@dataclass(slots=True)
class Quote:
    """The watchlist row of one symbol."""

    symbol: str
    ref: float
    last: float
    volume: int = 0

    def to_json(self) -> dict[str, Any]:
        """``{s, last, chg, pct, vol}``; ``chg`` / ``pct`` are against the reference price."""
        change = self.last - self.ref
        return {
            "s": self.symbol,
            "last": round(self.last, 4),
            "chg": round(change, 4),
            "pct": round(change / self.ref, 6) if self.ref else 0.0,
            "vol": self.volume,
        }


class QuoteBook:
    """Last price, change and volume per symbol. The reference price of a symbol is the
    one given in ``refs`` (for example the previous close), else its first trade."""

    def __init__(self, refs: Mapping[str, float] | None = None) -> None:
        self._refs = dict(refs or {})
        self.quotes: dict[str, Quote] = {}
        self._changed: dict[str, None] = {}  # insertion-ordered set

    def update(self, ticks: Iterable[Tick]) -> None:
        """Apply trades in order."""
        for tick in ticks:
            quote = self.quotes.get(tick.symbol)
            if quote is None:
                ref = self._refs.get(tick.symbol, tick.price)
                quote = self.quotes[tick.symbol] = Quote(tick.symbol, ref, tick.price)
            quote.last = tick.price
            quote.volume += tick.size
            self._changed[tick.symbol] = None

    def take_changes(self) -> list[dict[str, Any]]:
        """The quotes changed since the last call, as JSON rows."""
        rows = [self.quotes[s].to_json() for s in self._changed]
        self._changed.clear()
        return rows
