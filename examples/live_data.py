"""LiveData: your own callbacks on a stream, one in the browser and one on the server.

Run: python examples/live_data.py   (then open http://127.0.0.1:8050)
"""

import random

from dash import Dash, Input, Output, State, dcc, html

from livedash import Hub, LiveData

hub = Hub("sqlite:///live_data.db")


@hub.every(0.1, stream="orders")
def order():
    return {"amount": round(random.lognormvariate(3, 1), 2)}


# update_title="": otherwise Dash retitles the tab "Updating..." at every update.
app = Dash(__name__, update_title="")
app.layout = html.Div([
    html.H1("Orders"),
    # The newest 100 orders on load, then every new one; `data` is an ordinary Dash prop.
    LiveData("orders", id="orders", history=100),
    dcc.Store(id="totals", data={"count": 0, "sum": 0}),
    html.Div(id="summary"),
    html.H2("Large orders"),
    html.Ul(id="large"),
])

# Clientside: runs in the browser for each update (all orders since the last one), no request.
app.clientside_callback(
    """
    function (update, totals) {
        if (!update) return window.dash_clientside.no_update;
        // reset: orders were dropped (a tab hidden for long); start over from those given.
        const t = update.reset ? {count: 0, sum: 0} : {...totals};
        for (const e of update.events) {
            t.count += 1;
            t.sum += e.data.amount;
        }
        return [t, `${t.count} orders, ${t.sum.toFixed(2)} € in total`];
    }
    """,
    Output("totals", "data"),
    Output("summary", "children"),
    Input("orders", "data"),
    State("totals", "data"),
)


# Server: one request per update per open tab. Worth it for what needs the server.
@app.callback(
    Output("large", "children"),
    Input("orders", "data"),
    State("large", "children"),
    prevent_initial_call=True,
)
def large_orders(update, shown):
    items = [] if update["reset"] else list(shown or [])
    for e in update["events"]:
        if e["data"]["amount"] > 100:
            items.append(html.Li(f"#{e['seq']}: {e['data']['amount']:.2f} €"))
    return items[-10:]


hub.init_app(app)

if __name__ == "__main__":
    app.run()
