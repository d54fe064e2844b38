"""AG Grid fed by a stream: one row per symbol, upserted from every trade, cells flashing.

Run: python examples/ag_grid_watchlist.py   (then open http://127.0.0.1:8050)
"""

import random

import dash_ag_grid as dag
from dash import Dash, Input, Output, State, dcc, html

from livedash import Hub, LiveData

hub = Hub("sqlite:///ag_grid_watchlist.db")
prices = {"ACME": 182.40, "BOLT": 23.15, "CRUX": 412.00, "DYNA": 67.80, "EMBR": 14.32}


@hub.every(0.05, stream="trades")
def trade():
    symbol = random.choice(list(prices))
    prices[symbol] *= 1 + random.gauss(0, 0.002)
    return {"symbol": symbol, "price": round(prices[symbol], 2), "size": 100 * random.randint(1, 9)}


money = {"function": "d3.format(',.2f')(params.value)"}
# update_title="": otherwise Dash retitles the tab "Updating..." at every update.
app = Dash(__name__, update_title="")
app.layout = html.Div([
    html.H1("Watchlist"),
    # The newest 200 trades on load (every symbol has traded in them), then every new one.
    LiveData("trades", id="trades", history=200),
    dag.AgGrid(
        id="watchlist",
        columnDefs=[
            {"field": "symbol"},
            {"field": "price", "valueFormatter": money, "enableCellChangeFlash": True},
            {"field": "size", "enableCellChangeFlash": True},
            {"field": "trades", "headerName": "Trades seen", "enableCellChangeFlash": True},
            {"field": "seq", "headerName": "Last seq"},
        ],
        # Given (empty), so that dash-ag-grid keeps Dash's rowData equal to the grid's rows.
        rowData=[],
        getRowId="params.data.symbol",
        dashGridOptions={"domLayout": "autoHeight", "asyncTransactionWaitMillis": 50},
    ),
    dcc.Store(id="applied", data=0),
    html.P(id="applied-text"),
])

# For each update of `data` (every trade since the previous one): one transaction, through the
# grid's own API, which applies transactions in order, each once (see docs/howto/components.md
# for why not the rowTransaction prop).
app.clientside_callback(
    """
    async function (update, applied) {
        if (!update) return window.dash_clientside.no_update;
        const grid = await window.dash_ag_grid.getApiAsync("watchlist");
        // Rows added by the previous update may still wait in the grid's async queue: apply
        // them now, so that getRowNode knows every row that exists.
        grid.flushAsyncTransactions();
        const rows = new Map();  // symbol -> its row after this update's trades
        for (const e of update.events) {
            const t = e.data;
            const before = rows.get(t.symbol) || grid.getRowNode(t.symbol)?.data;
            rows.set(t.symbol, {...t, seq: e.seq, trades: (before?.trades || 0) + 1});
        }
        const add = [], change = [];
        for (const row of rows.values()) (grid.getRowNode(row.symbol) ? change : add).push(row);
        grid.applyTransactionAsync({add: add, update: change});
        const total = applied + update.events.length;
        return [total, `${total} trades applied, newest #${update.events.at(-1)?.seq}`];
    }
    """,
    Output("applied", "data"),
    Output("applied-text", "children"),
    Input("trades", "data"),
    State("applied", "data"),
)

hub.init_app(app)

if __name__ == "__main__":
    app.run()
