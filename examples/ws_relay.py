"""A Dash WebSocket callback that follows a livedash stream and pushes it into any
component with set_props: server code reading a stream, on Dash's fastapi backend.

Run: livedash run examples/ws_relay.py   (then open http://127.0.0.1:8050)
"""

import random

from dash import Dash, ctx, html, set_props

from livedash import Hub

hub = Hub("sqlite:///ws_relay.db")
price = 100.0


@hub.every(0.5, stream="quotes")
def quotes():
    global price
    price *= 1 + random.gauss(0, 0.002)
    return {"price": round(price, 2)}


app = Dash(__name__, backend="fastapi")
app.layout = html.Div([
    html.H1("Relayed by a WebSocket callback"),
    html.Div(id="price"),
    html.Div(id="relayed"),
])
hub.init_app(app)


@app.callback(websocket=True, persistent=True)
async def relay():
    # One follower per tab: history first (the newest event), then every event once, in
    # order, resumed on its own across store outages. The store reads run in a thread.
    first = None
    count = 0
    async for event in hub.follow("quotes", last=1):
        if ctx.websocket is None or ctx.websocket.is_shutdown:
            break
        first = first or event.seq
        count += 1
        set_props("price", {"children": f"Price: {event.data['price']:.2f}"})
        set_props("relayed", {"children": f"{count} events, seq {first} to {event.seq}"})
