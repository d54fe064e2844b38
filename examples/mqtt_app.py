"""MQTT to the browser: every reading published on sensors/<room>/temperature shows up live.

Needs an MQTT broker (Mosquitto) at 127.0.0.1:1883 and paho-mqtt (pip install -e '.[mqtt]').
Run: python examples/mqtt_app.py   (then open http://127.0.0.1:8050)
Feed it: mosquitto_pub -h 127.0.0.1 -t sensors/kitchen/temperature -m 21.5
"""

import os

from dash import Dash, html

from livedash import Hub, LiveGraph, LiveText
from livedash.sources.mqtt import MQTTSource

hub = Hub("sqlite:///mqtt_app.db")
# One event per message on the stream "temperature": a JSON object payload as it is, a number
# or text as {"value": ...}; with_topic adds the message's topic.
hub.add_source(
    MQTTSource(
        {"sensors/+/temperature": "temperature"},
        host=os.environ.get("MQTT_HOST", "127.0.0.1"),
        with_topic=True,
    )
)

app = Dash(__name__)
app.layout = html.Div([
    html.H1("Temperatures"),
    LiveText("temperature", "{topic}: {value:.1f} °C", id="latest"),
    LiveGraph("temperature", y="value", window=500, id="temperature-graph"),
])
hub.init_app(app)

if __name__ == "__main__":
    app.run()
