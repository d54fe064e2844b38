import random
from datetime import datetime

from dash import Dash, html
from livedash import Hub, LiveText

hub = Hub("sqlite:///live.db")
app = Dash(__name__)
app.layout = html.Div([
    html.H1("Real-Time Updates"),
    LiveText(
        "seed",
        "Current Time: {time}, Random Number: {number}",
        id="live-update-text",
    ),
])


@hub.every(1.0, stream="seed")
def update_text():
    now = f"{datetime.now():%Y-%m-%d %H:%M:%S}"
    number = random.randint(0, 100)
    return {"time": now, "number": number}


hub.init_app(app)

if __name__ == "__main__":
    app.run()
