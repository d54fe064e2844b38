"""A payroll app guarded by dash-auth's BasicAuth (user alice, password secret)."""

from __future__ import annotations

import os

import dash_auth

from tests.security.auth_apps.common import mount, payroll_app

app, hub = payroll_app()
dash_auth.BasicAuth(app, {"alice": "secret"})
mount(app, hub)
server = app.server

if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(os.environ["PORT"]), debug=False)
