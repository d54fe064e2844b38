import random

from dash import Dash, html
from livedash import Hub, LiveGraph, LiveText

hub = Hub("sqlite:///example.db")

@hub.every(0.5, stream="sensor")
def read_sensor():
    return {"temperature": round(20 + random.gauss(0, 0.5), 2)}

app = Dash(__name__)
app.layout = html.Div([
    html.H1("My sensor"),
    LiveText("sensor", "Temperature: {temperature:.2f} °C", id="temp"),
    LiveGraph("sensor", y="temperature", window=120, id="temp-graph"),
])
hub.init_app(app)
app.run()
