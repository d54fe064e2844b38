"""What every guarded test app shares: a payroll stream whose values must never leak."""

from __future__ import annotations

import os

from dash import Dash, html

from livedash import Hub, LiveText, TransportConfig

#: The value every payroll event carries; a refused response must not contain it.
SALARY = 734_519
#: The store the test reads afterwards to check that a refused publish stored nothing.
STORE_ENV = "LIVEDASH_AUTH_TEST_STORE"
#: Seconds an event stream lives before it must reconnect (TransportConfig.reauth), if set.
REAUTH_ENV = "LIVEDASH_AUTH_TEST_REAUTH"


def payroll_app(**dash_kwargs: object) -> tuple[Dash, Hub]:
    """A Dash app showing stream ``payroll`` (published every 0.5 s), not yet mounted."""
    hub = Hub(os.environ.get(STORE_ENV, "memory://"))

    @hub.every(0.5, stream="payroll")
    def payroll() -> dict[str, int]:
        return {"salary": SALARY}

    app = Dash(__name__, **dash_kwargs)  # type: ignore[arg-type]
    app.layout = html.Div([html.H1("Payroll"), LiveText("payroll", "{salary}", id="pay")])
    return app, hub


def mount(app: Dash, hub: Hub) -> None:
    """Mount livedash as the README says (the token, if any, from LIVEDASH_TOKEN)."""
    reauth = os.environ.get(REAUTH_ENV)
    config = TransportConfig() if reauth is None else TransportConfig(reauth=float(reauth))
    hub.init_app(app, config)
