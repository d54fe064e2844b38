"""A dashboard behind Flask-Login: anonymous visitors are sent to /login, and so are
requests for its streams.

Run: livedash run examples/auth/login_app.py   (then open http://127.0.0.1:8050, sign in
with the password in $DASHBOARD_PASSWORD, "change-me" if unset)
"""

import os
import random

import flask
from dash import Dash, html
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user

from livedash import Hub, LiveText

hub = Hub("sqlite:///login_app.db")


@hub.every(1.0, stream="payroll")
def payroll():
    return {"total": random.randint(90_000, 110_000)}


app = Dash(__name__)
app.layout = html.Div([
    html.H1("Payroll"),
    LiveText("payroll", "Total today: {total:,} EUR", id="total"),
    html.A("Sign out", href="/logout"),
])
server = app.server
# Sessions are signed with this key: set it, and the same on every worker and host.
server.secret_key = os.environ.get("DASHBOARD_SECRET_KEY", "change-me-too")
login_manager = LoginManager(server)


class User(UserMixin):
    def __init__(self, name):
        self.id = name


@login_manager.user_loader
def load_user(name):
    return User(name) if name == "alice" else None


@server.route("/login", methods=["GET", "POST"])
def login():
    password = os.environ.get("DASHBOARD_PASSWORD", "change-me")
    if flask.request.method == "POST" and flask.request.form.get("password") == password:
        login_user(User("alice"))
        return flask.redirect("/")
    return (
        '<form method="post"><input type="password" name="password" placeholder="Password">'
        '<button type="submit">Sign in</button></form>'
    )


@server.route("/logout")
def logout():
    logout_user()
    return flask.redirect("/login")


@server.before_request
def require_login():
    if flask.request.path not in ("/login", "/logout") and not current_user.is_authenticated:
        return flask.redirect("/login")
    return None


hub.init_app(app)

if __name__ == "__main__":
    app.run(debug=False)
