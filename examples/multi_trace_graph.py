"""A live graph with several traces: three noisy signals on one chart, the newest 200 points.

Run: python examples/multi_trace_graph.py   (then open http://127.0.0.1:8050)
"""

import math
import random
import time

from dash import Dash, html

from livedash import Hub, LiveGraph

hub = Hub("sqlite:///multi_trace_graph.db")


@hub.every(0.25, stream="signals")
def signals():
    t = time.time()
    return {
        "sine": math.sin(t),
        "cosine": math.cos(t),
        "noise": random.gauss(0, 0.3),
    }


app = Dash(__name__)
app.layout = html.Div([
    html.H1("Three signals"),
    # One line per field in y; x="ts" (the default) plots against publish time.
    LiveGraph(
        "signals",
        y=["sine", "cosine", "noise"],
        names=["sin(t)", "cos(t)", "noise"],
        window=200,
        title="Signals",
        id="signals-graph",
    ),
])
hub.init_app(app)

if __name__ == "__main__":
    app.run()
