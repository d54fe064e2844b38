"""Stock ticker: a simulated market feed with a watchlist, 1-second candles and a tape.

Streams (all JSON objects, see README "Apps"):

- ``ticks``: ``{"ticks": [{"s": "ACME", "p": 182.41, "v": 300}, ...]}``, written by the
  simulator 10 times a second, and open to any other feed through
  ``POST /livedash/publish`` with ``{"stream": "ticks", "data": {"ticks": [...]}}``.
- ``quotes``: ``{"quotes": [{"s", "last", "chg", "pct", "vol", "seq", "dir"}, ...],
  "rate": ticks/s, "ticks": n}``, the symbols that traded since the previous quote event, 4
  times a second; ``seq`` is the ``ticks`` event holding the symbol's last trade, ``dir`` how
  ``last`` moved since the symbol's previous quote (1, -1, 0), ``ticks`` the number of ticks
  the event folds in (so a page can count every tick it applied).
- ``candles.SYMBOL``: one ``{"t", "o", "h", "l", "c", "v", "n"}`` per symbol and second.

Quotes and candles are built on the server from the ``ticks`` stream, so ticks that arrive
over HTTP count exactly like simulated ones. The watchlist is an AG Grid fed by a
:func:`~livedash.LiveData` on ``quotes`` and a clientside callback: every quote event
upserts its rows (one per symbol) and the changed cells flash.
"""

from __future__ import annotations

import logging
import re
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

import dash_ag_grid as dag  # type: ignore[import-untyped]  # the package ships no types
from dash import Dash, Input, Output, State, dcc, html

from livedash import Hub, LiveCandles, LiveData, LiveIndicator, LiveTable
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
#: Quote events a watchlist gets on load: 50 s of them, in which every symbol has traded.
QUOTE_HISTORY = 200


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
        self._last_seq: dict[str, int] = {}  # symbol -> the ticks event of its last trade
        self._quoted: dict[str, float] = {}  # symbol -> the last price of its previous quote
        self._ticks = 0  # ticks consumed since the last quote event
        self._started = clock()

    def step(self) -> dict[str, Any] | None:
        """Consume new ticks; publish closed candles; return ``{"quotes", "rate", "ticks"}``."""
        candles = []
        while True:
            events = self.hub.read(TICKS, self.cursor, 1000)
            for event in events:
                self.cursor = event.seq
                ticks = self._parse(event.data)
                self._recent.append((event.ts, len(ticks)))
                for tick in ticks:
                    candles.extend(self.builder.add(tick, event.ts))
                    self._last_seq[tick.symbol] = event.seq
                self.book.update(ticks)
                self._ticks += len(ticks)
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
        for row in rows:
            row["seq"] = self._last_seq[row["s"]]
            before = self._quoted.get(row["s"], row["last"])
            row["dir"] = (row["last"] > before) - (row["last"] < before)
            self._quoted[row["s"]] = row["last"]
        folded, self._ticks = self._ticks, 0
        return {"quotes": rows, "rate": round(rate, 1), "ticks": folded}

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


def _number(spec: str) -> dict[str, str]:
    # A d3 format for a grid column; empty until the symbol's first quote.
    return {"function": f"params.value == null ? '' : d3.format('{spec}')(params.value)"}


#: Green when above the reference price, red below (apps.css).
_SIGNED = {"ticker-up": "params.value > 0", "ticker-down": "params.value < 0"}


def watchlist(symbols: Sequence[str]) -> html.Div:
    """The watchlist: an AG Grid with a row per symbol (others are added as they trade),
    upserted from the ``quotes`` stream by :data:`UPSERT_QUOTES`; changed cells flash."""
    number = {"type": "rightAligned", "minWidth": 70}
    grid = dag.AgGrid(
        id="ticker-watchlist",
        columnDefs=[
            {"field": "s", "headerName": "Symbol", "cellClass": "ticker-symbol", "minWidth": 70},
            # The last price flashes when it changes (the other cells change with it), green
            # when it went up, red when down (apps.css).
            {
                "field": "last",
                "headerName": "Last",
                "valueFormatter": _number(",.2f"),
                "enableCellChangeFlash": True,
                "cellClassRules": {
                    "ticker-tick-up": "params.data.dir > 0",
                    "ticker-tick-down": "params.data.dir < 0",
                },
                **number,
            },
            {
                "field": "chg",
                "headerName": "Chg",
                "valueFormatter": _number("+,.2f"),
                "cellClassRules": _SIGNED,
                **number,
            },
            {
                "field": "pct",
                "headerName": "Chg %",
                "valueFormatter": _number("+.2%"),
                "cellClassRules": _SIGNED,
                **number,
            },
            {"field": "vol", "headerName": "Volume", "valueFormatter": _number(","), **number},
        ],
        defaultColDef={"flex": 1, "sortable": True},
        # The symbols in order, empty until they trade. Given, so that dash-ag-grid keeps
        # Dash's rowData equal to the grid's rows (State("ticker-watchlist", "rowData")).
        rowData=[{"s": s} for s in symbols],
        getRowId="params.data.s",
        dashGridOptions={
            "domLayout": "autoHeight",
            "rowHeight": 28,
            "headerHeight": 32,
            # A symbol trades a few times a second: a short flash keeps each one visible.
            "cellFlashDuration": 250,
            "cellFadeDuration": 500,
            "asyncTransactionWaitMillis": 50,
            "suppressCellFocus": True,
        },
        className="ticker-watchlist",
    )
    return html.Div(
        [
            # The newest quote events on load (every symbol has traded in them), then each
            # new one, once, in order; a hidden tab gets its backlog in one update when shown.
            LiveData(QUOTES, id="ticker-quotes", history=QUOTE_HISTORY),
            # What the page applied: quote events, ticks folded in them, the newest seq.
            dcc.Store(id="ticker-applied", data={"quotes": 0, "ticks": 0, "seq": 0}),
            grid,
        ]
    )


#: The clientside callback that applies each update of the quotes' LiveData to the grid. It
#: goes through the grid's API rather than the rowTransaction prop: the API applies each
#: transaction once, in order, while a prop set before the grid is ready, or replaced before
#: React rendered it, is lost or applied twice (docs/howto/components.md).
UPSERT_QUOTES = """
async function (update, applied) {
    if (!update) return window.dash_clientside.no_update;
    const grid = await window.dash_ag_grid.getApiAsync("ticker-watchlist");
    // Rows added by the previous update may wait in the grid's async queue: apply them now,
    // so that getRowNode knows every row that exists.
    grid.flushAsyncTransactions();
    const rows = new Map();  // symbol -> its newest quote in this update
    let ticks = 0;
    for (const e of update.events) {
        for (const q of e.data.quotes || []) rows.set(q.s, q);
        ticks += e.data.ticks || 0;
    }
    const add = [], change = [];
    for (const row of rows.values()) (grid.getRowNode(row.s) ? change : add).push(row);
    grid.applyTransactionAsync({add: add, update: change});
    const newest = update.events.length ? update.events[update.events.length - 1].seq : 0;
    return {quotes: applied.quotes + update.events.length, ticks: applied.ticks + ticks,
            seq: newest || applied.seq};
}
"""


def layout(symbols: Sequence[str] | None = None) -> html.Div:
    """The ticker page (also a page of the gallery)."""
    symbols = list(symbols or GBMSimulator().symbols())
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
                        [html.H3("Watchlist", className="ld-card-title"), watchlist(symbols)],
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

    app.clientside_callback(  # type: ignore[no-untyped-call]  # Dash leaves it untyped
        UPSERT_QUOTES,
        Output("ticker-applied", "data"),
        Input("ticker-quotes", "data"),
        State("ticker-applied", "data"),
    )


def create_push_app(hub: Hub, source: TickSource | None = None) -> Dash:
    """The ticker on its own, publishing through ``hub``."""
    # No "Updating..." title at each watchlist update (LiveData runs a callback per update).
    app = Dash(__name__, title="livedash · ticker", update_title="")
    app.layout = frame.standalone("Ticker", layout(source.symbols() if source else None))
    register(app, hub, source)
    hub.init_app(app)
    return app


def create_app(options: AppOptions) -> Dash:
    """Factory used by ``livedash run ticker``."""
    if options.transport != "push":
        raise ConfigError("the ticker app only runs on push; drop --transport poll")
    return create_push_app(Hub(options.store))
