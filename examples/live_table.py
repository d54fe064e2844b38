"""A live table: one row per server, updated in place; the load cell flashes when it moves.

Run: python examples/live_table.py   (then open http://127.0.0.1:8050)
"""

import random

from dash import Dash, html

from livedash import Hub, LiveTable

hub = Hub("sqlite:///live_table.db")
HOSTS = ["web-1", "web-2", "db-1", "cache-1"]
requests = dict.fromkeys(HOSTS, 0)


@hub.every(1.0, stream="servers")
def servers():
    rows = []
    for host in HOSTS:
        requests[host] += random.randint(0, 500)
        rows.append({"host": host, "load": random.uniform(0, 4), "requests": requests[host]})
    return {"servers": rows}  # one event carries every row


app = Dash(__name__)
app.layout = html.Div([
    html.H1("Servers"),
    LiveTable(
        "servers",
        columns=[
            {"field": "host", "label": "Host"},
            {"field": "load", "label": "Load", "format": ".2f", "align": "right"},
            {"field": "requests", "label": "Requests", "format": ",", "align": "right"},
        ],
        rows="servers",  # where the list of rows is in each event
        mode="upsert",  # one row per host, updated in place
        key="host",
        flash="load",  # green when it goes up, red when it goes down
        id="servers-table",
    ),
])
hub.init_app(app)

if __name__ == "__main__":
    app.run()
