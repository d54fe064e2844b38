"""MQTT to the browser: every reading published on sensors/<room>/temperature shows up live.

Needs an MQTT broker (Mosquitto) at 127.0.0.1:1883 and paho-mqtt (pip install paho-mqtt).
Run: python examples/mqtt_app.py   (then open http://127.0.0.1:8050)
Feed it: mosquitto_pub -h 127.0.0.1 -t sensors/kitchen/temperature -m 21.5
"""

import os

import paho.mqtt.client as mqtt
from dash import Dash, html

from livedash import Hub, LiveGraph, LiveText, PublishError

BROKER = os.environ.get("MQTT_HOST", "127.0.0.1")
TOPIC = "sensors/+/temperature"

hub = Hub("sqlite:///mqtt_app.db")


def on_connect(client, userdata, flags, reason_code, properties):
    # Subscribing here (not once at start) re-subscribes after every reconnect.
    client.subscribe(TOPIC)


def on_message(client, userdata, message):
    room = message.topic.split("/")[1]
    try:
        celsius = float(message.payload)
        hub.publish("temperature", {"room": room, "celsius": celsius})
    except (ValueError, PublishError) as exc:  # a bad payload must not stop the loop
        print(f"ignored {message.topic!r} {message.payload!r}: {exc}")


mqttc = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
mqttc.on_connect = on_connect
mqttc.on_message = on_message
mqttc.connect_async(BROKER, 1883)
mqttc.loop_start()  # paho's own network thread; reconnects by itself

app = Dash(__name__)
app.layout = html.Div([
    html.H1("Temperatures"),
    LiveText("temperature", "{room}: {celsius:.1f} °C", id="latest"),
    LiveGraph("temperature", y="celsius", window=500, id="temperature-graph"),
])
hub.init_app(app)

if __name__ == "__main__":
    app.run()
