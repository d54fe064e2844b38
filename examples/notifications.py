"""Mantine notifications from the alerts stream: one per rule, red while it fires, green when
it resolves.

Run: python examples/notifications.py   (then open http://127.0.0.1:8050)
"""

import math
import time

import dash_mantine_components as dmc
from dash import Dash, Input, Output, html

from livedash import Hub, LiveData, LiveText
from livedash.alerts import AlertRule, Alerts

hub = Hub("sqlite:///notifications.db")


@hub.every(0.25, stream="boiler")
def boiler():
    # Over 80 °C for about 3 s of every 12 s.
    return {"temp": round(70 + 15 * math.sin(2 * math.pi * time.time() / 12), 1)}


# Published to the "alerts" stream: {"rule", "state": "firing" | "resolved", "value", ...}
hub.add_source(Alerts([AlertRule.parse("boiler", "temp > 80 for 1 s", name="Boiler hot")]))

# update_title="": otherwise Dash retitles the tab "Updating..." at every update.
app = Dash(__name__, update_title="")
app.layout = dmc.MantineProvider(dmc.Container([
    dmc.NotificationContainer(id="notifications", position="top-right"),
    html.H1("Boiler"),
    LiveText("boiler", "{temp:.1f} °C", id="temp"),
    # The newest 50 transitions on load: an alert firing when the page opens is shown too.
    LiveData("alerts", id="alerts", history=50),
    html.P(id="alert-log"),
]))

# Through Mantine's notifications API (dmc's clientside one): each call shows or updates one
# notification, in order, whatever React does with props meanwhile.
app.clientside_callback(
    """
    async function (update) {
        if (!update) return window.dash_clientside.no_update;
        const notes = window.dash_mantine_components.appNotifications;
        while (!notes.api) {  // the NotificationContainer has not mounted yet
            await new Promise(resolve => requestAnimationFrame(resolve));
        }
        const latest = new Map();  // rule -> its newest transition in this update
        for (const e of update.events) latest.set(e.data.rule, e.data);
        const shown = new Set(notes.store.notifications.map(n => n.id));
        for (const a of latest.values()) {
            const id = "alert-" + a.rule.replace(/\\W+/g, "-");
            const firing = a.state === "firing";
            const note = {
                id: id,
                title: a.rule + (firing ? " is firing" : " resolved"),
                message: `${a.value} °C (${a.condition})`,
                color: firing ? "red" : "green",
                autoClose: firing ? false : 4000,
            };
            // A resolution updates the notification of its firing (none shown: nothing to say).
            if (shown.has(id)) notes.api.update(note);
            else if (firing) notes.api.show(note);
        }
        const last = update.events.at(-1)?.data;
        return last ? `${last.rule}: ${last.state} (${last.value} °C)` : "";
    }
    """,
    Output("alert-log", "children"),
    Input("alerts", "data"),
)

hub.init_app(app)

if __name__ == "__main__":
    app.run()
