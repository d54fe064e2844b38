"""A dashboard behind dash-auth's BasicAuth: its live data is as private as its page.

Run: livedash run examples/auth/basic_auth.py   (then open http://127.0.0.1:8050 and sign in
as alice with the password in $DASHBOARD_PASSWORD, "change-me" if unset)
"""

import os
import random

import dash_auth
from dash import Dash, html

from livedash import Hub, LiveText

hub = Hub("sqlite:///basic_auth.db")


@hub.every(1.0, stream="payroll")
def payroll():
    return {"total": random.randint(90_000, 110_000)}


app = Dash(__name__)
app.layout = html.Div([
    html.H1("Payroll"),
    LiveText("payroll", "Total today: {total:,} EUR", id="total"),
])
dash_auth.BasicAuth(app, {"alice": os.environ.get("DASHBOARD_PASSWORD", "change-me")})
hub.init_app(app)  # before or after the guard: livedash's routes get it either way

if __name__ == "__main__":
    app.run(debug=False)
