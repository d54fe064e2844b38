"""Feed a dashboard from your own thread: anything that can call hub.publish() is a producer.

Use this when data arrives at its own pace (a serial port, a socket, a queue) rather than on a
fixed period (for that, @hub.every is simpler).

Run: python examples/producer_thread.py   (then open http://127.0.0.1:8050)
"""

import random
import threading
import time

from dash import Dash, html

from livedash import Hub, LiveGraph, LiveText

hub = Hub("sqlite:///producer_thread.db")
hub.stream("machine", max_events=5_000)  # how much history the store keeps


def read_machine():
    """Stands in for a device: readings arrive at irregular intervals."""
    rpm = 1500.0
    while True:
        time.sleep(random.uniform(0.1, 0.6))
        rpm = max(0.0, rpm + random.gauss(0, 25))
        hub.publish("machine", {"rpm": round(rpm, 1), "temp": round(60 + rpm / 100, 1)})


app = Dash(__name__)
app.layout = html.Div([
    html.H1("Machine 7"),
    LiveText("machine", "{rpm:,.1f} rpm at {temp:.1f} °C", id="reading"),
    LiveGraph("machine", y="rpm", window=300, id="rpm-graph"),
])
hub.init_app(app)
# daemon=True: the thread ends with the server process.
threading.Thread(target=read_machine, name="machine-reader", daemon=True).start()

if __name__ == "__main__":
    app.run()
