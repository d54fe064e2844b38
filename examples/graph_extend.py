"""Your own dcc.Graph appended from a stream: one extend in flight, the rest coalesced.

Run: python examples/graph_extend.py   (then open http://127.0.0.1:8050)
"""

import math
import random

from dash import Dash, Input, Output, dcc, html

from livedash import Hub, LiveData

hub = Hub("sqlite:///graph_extend.db")
WINDOW = 500  # points kept on the chart
last = {"price": 100.0}


@hub.every(0.05, stream="prices")
def price():
    last["price"] *= math.exp(random.gauss(0, 0.002))
    return {"price": round(last["price"], 3)}


# update_title="": otherwise Dash retitles the tab "Updating..." at every update.
app = Dash(__name__, update_title="")
app.layout = html.Div([
    html.H1("Price"),
    # The newest WINDOW prices on load (the chart starts full), then every new one.
    LiveData("prices", id="prices", history=WINDOW),
    dcc.Graph(
        id="chart",
        figure={
            "data": [{"type": "scatter", "mode": "lines", "x": [], "y": [], "customdata": []}],
            "layout": {"xaxis": {"type": "date"}, "yaxis": {"tickformat": ".2f"},
                       "margin": {"t": 16}, "uirevision": "chart"},
        },
    ),
    html.P(id="drawn"),
])

# Each update (every price since the previous one) is appended with ONE Plotly.extendTraces
# call on the drawn chart; the callback returns once it is drawn, and LiveData sends nothing
# new before that: one extend in flight, the prices that arrive meanwhile go in the next one.
app.clientside_callback(
    """
    async function (update) {
        if (!update || !update.events.length) return window.dash_clientside.no_update;
        // dcc.Graph loads plotly.js and draws the figure first: wait for that.
        let chart = null;
        while (!(chart = document.querySelector("#chart .js-plotly-plot"))?._fullData) {
            await new Promise(resolve => requestAnimationFrame(resolve));
        }
        const ev = update.events;
        await window.Plotly.extendTraces(chart, {
            x: [ev.map(e => new Date(e.ts * 1000))],
            y: [ev.map(e => e.data.price)],
            customdata: [ev.map(e => e.seq)],  // each point's seq
        }, [0], WINDOW);
        const seqs = chart.data[0].customdata;
        return `${seqs.length} points drawn, newest #${seqs.at(-1)}`;
    }
    """.replace("WINDOW", str(WINDOW)),
    Output("drawn", "children"),
    Input("prices", "data"),
)

hub.init_app(app)

if __name__ == "__main__":
    app.run()
