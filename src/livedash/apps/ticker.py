"""Stock ticker: a simulated market feed with a watchlist, 1-second candles and a tape.

Streams (all JSON objects, see README "Apps"):

- ``ticks``: ``{"ticks": [{"s": "ACME", "p": 182.41, "v": 300}, ...]}``, written by the
  simulator 10 times a second, and open to any other feed through
  ``POST /livedash/publish`` with ``{"stream": "ticks", "data": {"ticks": [...]}}``.
- ``quotes``: ``{"quotes": [{"s", "last", "chg", "pct", "vol"}, ...], "rate": ticks/s}``,
  the symbols that traded since the previous quote event, 4 times a second.
- ``candles.SYMBOL``: one ``{"t", "o", "h", "l", "c", "v", "n"}`` per symbol and second.

Quotes and candles are built on the server from the ``ticks`` stream, so ticks that arrive
over HTTP count exactly like simulated ones.
"""

from __future__ import annotations

import logging
import re
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from dash import Dash, Input, Output, dcc, html

from livedash import Hub, LiveCandles, LiveIndicator, LiveTable
from livedash.apps import AppOptions, frame
from livedash.errors import ConfigError
from livedash.sources.market import CandleBuilder, GBMSimulator, QuoteBook, Tick, TickSource

log = logging.getLogger(__name__)

TICKS = "ticks"
QUOTES = "quotes"
#: Seconds between simulator polls and between quote events.
TICK_PERIOD = 0.1
QUOTE_PERIOD = 0.25
#: A candle closes this long after its second ends, so ticks published late still count.
CANDLE_GRACE = 0.3
#: Candles per chart (5 minutes of 1-second candles).
WINDOW = 300
#: Seconds over which the feed rate (ticks/s) is averaged.
RATE_WINDOW = 5.0


def candle_stream(symbol: str) -> str:
    """The stream holding ``symbol``'s candles."""
    return f"candles.{symbol}"


class MarketDesk:
    """Reads the ``ticks`` stream and turns it into quotes and candles.

    :meth:`step` is called periodically (by a hub producer, so one process of a deployment
    runs it); it reads the ticks published since the last call, publishes the candles that
    closed and returns the quote event.
    """

    def __init__(
        self,
        hub: Hub,
        refs: dict[str, float] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.hub = hub
        self.clock = clock
        self.builder = CandleBuilder(1)
        self.book = QuoteBook(refs)
        newest = hub.history(TICKS, 1)
        self.cursor = newest[-1].seq if newest else 0
        self.rejected = 0
        self._recent: deque[tuple[float, int]] = deque()  # (event ts, ticks in it)
        self._started = clock()

    def step(self) -> dict[str, Any] | None:
        """Consume new ticks; publish closed candles; return ``{"quotes", "rate"}``."""
        candles = []
        while True:
            events = self.hub.read(TICKS, self.cursor, 1000)
            for event in events:
                self.cursor = event.seq
                ticks = self._parse(event.data)
                self._recent.append((event.ts, len(ticks)))
                for tick in ticks:
                    candles.extend(self.builder.add(tick, event.ts))
                self.book.update(ticks)
            if len(events) < 1000:
                break
        now = self.clock()
        candles.extend(self.builder.close_until(now - CANDLE_GRACE))
        if candles:
            self.hub.publish_many((candle_stream(c.symbol), c.to_json()) for c in candles)
        rows = self.book.take_changes()
        if not rows:
            return None
        while self._recent and self._recent[0][0] < now - RATE_WINDOW:
            self._recent.popleft()
        span = min(RATE_WINDOW, max(now - self._started, QUOTE_PERIOD))
        rate = sum(n for _, n in self._recent) / span
        return {"quotes": rows, "rate": round(rate, 1)}

    def _parse(self, data: dict[str, Any]) -> list[Tick]:
        raw = data.get("ticks")
        if not isinstance(raw, list):
            self.rejected += 1
            log.warning("ticker: ignored a ticks event without a 'ticks' list: %.200r", data)
            return []
        ticks = []
        for item in raw:
            try:
                ticks.append(Tick.from_json(item))
            except ValueError as exc:
                self.rejected += 1
                log.warning("ticker: ignored a bad tick: %s", exc)
        return ticks


def _dom_id(symbol: str) -> str:
    # Dash ids may not contain dots; symbols may.
    return "ticker-candles-" + re.sub(r"[^A-Za-z0-9]", "-", symbol)


def chart(symbol: str) -> html.Div:
    """The candle and volume charts of ``symbol``."""
    # The volume chart keeps room for its bars under the two-line date ticks.
    return LiveCandles(
        candle_stream(symbol), window=WINDOW, id=_dom_id(symbol), height=300, volume_height=170
    )


def layout(symbols: Sequence[str] | None = None) -> html.Div:
    """The ticker page (also a page of the gallery)."""
    symbols = list(symbols or GBMSimulator().symbols())
    watchlist = LiveTable(
        QUOTES,
        [
            {"field": "s", "label": "Symbol"},
            {"field": "last", "label": "Last", "format": ",.2f", "align": "right"},
            {"field": "chg", "label": "Change", "format": ",.2f", "align": "right", "signed": True},
            {
                "field": "pct",
                "label": "Change %",
                "format": ".2%",
                "align": "right",
                "signed": True,
            },
            {"field": "vol", "label": "Volume", "format": ",", "align": "right"},
        ],
        rows="quotes",
        mode="upsert",
        key="s",
        order=symbols,
        flash="last",
        id="ticker-watchlist",
    )
    tape = LiveTable(
        TICKS,
        [
            {"field": "ts", "label": "Time", "format": "time"},
            {"field": "s", "label": "Symbol"},
            {"field": "p", "label": "Price", "format": ",.2f", "align": "right"},
            {"field": "v", "label": "Size", "format": ",", "align": "right"},
        ],
        rows="ticks",
        mode="append",
        max_rows=12,
        throttle_ms=200,
        id="ticker-tape",
    )
    return html.Div(
        [
            html.Header(
                [
                    html.H2("Ticker"),
                    html.P(
                        f"simulated market · {len(symbols)} symbols · geometric Brownian motion",
                        className="ld-subtitle",
                    ),
                ],
                className="ld-page-header",
            ),
            html.Div(
                [
                    LiveIndicator(
                        QUOTES, "rate", label="Feed", template="{rate:.0f} ticks/s", id="kpi-rate"
                    ),
                ],
                className="ld-kpis",
            ),
            html.Div(
                [
                    html.Section(
                        [html.H3("Watchlist", className="ld-card-title"), watchlist],
                        className="ld-card",
                    ),
                    html.Div(
                        [
                            html.Section(
                                [
                                    html.Div(
                                        [
                                            html.H3("Price", className="ld-card-title"),
                                            dcc.Dropdown(
                                                symbols,
                                                symbols[0],
                                                id="ticker-symbol",
                                                clearable=False,
                                            ),
                                            html.Span(
                                                "1-second candles, volume below",
                                                className="ld-subtitle",
                                            ),
                                        ],
                                        className="ticker-controls",
                                    ),
                                    html.Div(chart(symbols[0]), id="ticker-chart"),
                                ],
                                className="ld-card",
                            ),
                            html.Section(
                                [html.H3("Tape", className="ld-card-title"), tape],
                                className="ld-card tape",
                            ),
                        ],
                        className="ticker-side",
                    ),
                ],
                className="ticker-grid",
            ),
        ],
        className="ld-page ticker",
    )


def register(app: Dash, hub: Hub, source: TickSource | None = None) -> None:
    """Run ``source`` (default: the seeded simulator) and the desk on ``hub``; wire the
    symbol picker on ``app``."""
    feed: TickSource = source or GBMSimulator()
    refs = {s: feed.price(s) for s in feed.symbols()} if isinstance(feed, GBMSimulator) else {}
    desk = MarketDesk(hub, refs)
    last_poll = [time.monotonic()]

    @hub.every(TICK_PERIOD, stream=TICKS)
    def ticks() -> dict[str, Any] | None:
        now = time.monotonic()
        batch = feed.poll(now - last_poll[0])
        last_poll[0] = now
        return {"ticks": [t.to_json() for t in batch]} if batch else None

    @hub.every(QUOTE_PERIOD, stream=QUOTES)
    def quotes() -> dict[str, Any] | None:
        return desk.step()

    hub.stream(TICKS, max_events=3000)
    hub.stream(QUOTES, max_events=500)
    for symbol in feed.symbols():
        hub.stream(candle_stream(symbol), max_events=WINDOW * 2)

    @app.callback(Output("ticker-chart", "children"), Input("ticker-symbol", "value"))
    def pick_symbol(symbol: str) -> Any:
        return chart(symbol)


def create_push_app(hub: Hub, source: TickSource | None = None) -> Dash:
    """The ticker on its own, publishing through ``hub``."""
    app = Dash(__name__, title="livedash · ticker")
    app.layout = frame.standalone("Ticker", layout(source.symbols() if source else None))
    register(app, hub, source)
    hub.init_app(app)
    return app


def create_app(options: AppOptions) -> Dash:
    """Factory used by ``livedash run ticker``."""
    if options.transport != "push":
        raise ConfigError("the ticker app only runs on push; drop --transport poll")
    return create_push_app(Hub(options.store))
