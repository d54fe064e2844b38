"""Live text: a clock and a counter, updated in every open tab by one producer.

Run: python examples/live_text.py   (then open http://127.0.0.1:8050)
"""

import itertools
from datetime import datetime

from dash import Dash, html

from livedash import Hub, LiveText

hub = Hub("sqlite:///live_text.db")
ticks = itertools.count(1)


@hub.every(1.0, stream="clock")
def clock():
    # Runs once per second however many tabs are open; what it returns is published.
    return {"time": f"{datetime.now():%H:%M:%S}", "tick": next(ticks), "share": 0.125}


app = Dash(__name__)
app.layout = html.Div([
    html.H1("Live text"),
    LiveText("clock", "It is {time}", id="time"),
    LiveText("clock", "Tick {tick:,} ({share:.1%} of nothing)", id="tick"),
])
hub.init_app(app)

if __name__ == "__main__":
    app.run()
