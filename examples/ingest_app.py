"""A dashboard fed over HTTP: whatever POSTs to /livedash/publish shows up live.

Run: python examples/ingest_app.py   (then open http://127.0.0.1:8050)
Feed it: python examples/ingest_client.py
Set LIVEDASH_TOKEN in both shells to require a bearer token on /livedash/publish.
"""

from dash import Dash, html

from livedash import Hub, LiveGraph, LiveText

hub = Hub("sqlite:///ingest_app.db")

app = Dash(__name__)
app.layout = html.Div([
    html.H1("Orders"),
    LiveText("orders", "Last order: {qty} x {item} ({total:,.2f} €)", id="last-order"),
    LiveGraph("orders", x="seq", y="total", window=100, id="orders-graph"),
])
# Mounts /livedash/publish; it asks for `Authorization: Bearer $LIVEDASH_TOKEN` when set.
hub.init_app(app)

if __name__ == "__main__":
    app.run()
