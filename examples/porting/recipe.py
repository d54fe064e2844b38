import random
from datetime import datetime

from dash import Dash, Input, Output, dcc, html

app = Dash(__name__)
app.layout = html.Div([
    html.H1("Real-Time Updates"),
    html.Div(id="live-update-text"),
    dcc.Interval(id="interval-component", interval=1000),
])


@app.callback(
    Output("live-update-text", "children"),
    Input("interval-component", "n_intervals"),
)
def update_text(n):
    now = f"{datetime.now():%Y-%m-%d %H:%M:%S}"
    number = random.randint(0, 100)
    return f"Current Time: {now}, Random Number: {number}"


if __name__ == "__main__":
    app.run()
