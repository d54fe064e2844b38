"""A payroll app guarded by Flask-Login: a ``before_request`` hook sends anonymous users to
``/login`` (302); ``POST /login`` with password ``secret`` signs in, ``/logout`` signs out."""

from __future__ import annotations

import os

import flask
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user
from werkzeug.wrappers import Response as WerkzeugResponse

from tests.security.auth_apps.common import mount, payroll_app

app, hub = payroll_app()
server: flask.Flask = app.server
server.secret_key = "a fixed key for the test: sessions survive across workers"
login_manager = LoginManager(server)


class User(UserMixin):  # type: ignore[misc]  # flask_login ships no types
    def __init__(self, name: str) -> None:
        self.id = name


@login_manager.user_loader  # type: ignore[untyped-decorator]
def load_user(name: str) -> User | None:
    return User(name) if name == "alice" else None


@server.route("/login", methods=["GET", "POST"])
def login() -> flask.Response | str:
    if flask.request.method == "POST" and flask.request.form.get("password") == "secret":
        login_user(User("alice"))
        return "signed in"
    return "sign in with POST password=secret"


@server.route("/logout")
def logout() -> str:
    logout_user()
    return "signed out"


@server.before_request
def require_login() -> WerkzeugResponse | None:
    if flask.request.path in ("/login", "/logout") or current_user.is_authenticated:
        return None
    return flask.redirect("/login")


mount(app, hub)

if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(os.environ["PORT"]), debug=False)
