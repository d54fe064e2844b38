"""A custom widget: a sparkline that your own JavaScript draws, fed by livedash.

assets/sparkline.js registers the widget kind "sparkline" with livedash.registerKind (Dash
serves every script in the app's assets/ folder, after livedash's client). widget_attrs()
makes the canvas an element of that kind, with the options the kind reads.

Run: python examples/custom_widget/app.py   (then open http://127.0.0.1:8050)
"""

import itertools
import math
import random

from dash import Dash, html

from livedash import Hub, widget_attrs

hub = Hub("sqlite:///custom_widget.db")
steps = itertools.count()


@hub.every(0.2, stream="signal")
def signal():
    t = next(steps)
    return {"value": round(50 + 40 * math.sin(t / 8) + random.uniform(-4, 4), 2)}


app = Dash(__name__)
app.layout = html.Div([
    html.H1("A custom widget"),
    html.Canvas(
        id="spark",
        width=360,
        height=60,
        # points: how many values the line shows (filled from history on load);
        # label: the Dash component that shows the newest value.
        **widget_attrs("sparkline", "signal", field="value", points=120, label="spark-value"),
    ),
    html.Span("—", id="spark-value", style={"marginLeft": "12px", "fontSize": "24px"}),
])
hub.init_app(app)

if __name__ == "__main__":
    app.run()
