"""A payroll app on Dash's quart backend, guarded by a Quart ``before_request`` hook (a
bearer token in ``Authorization``)."""

from __future__ import annotations

from typing import Any

import quart

from tests.security.auth_apps.common import mount, payroll_app

#: The bearer token the hook wants.
USER_TOKEN = "alice-quart-token"

app, hub = payroll_app(backend="quart")
server: Any = app.server


@server.before_request  # type: ignore[untyped-decorator]
async def require_token() -> Any:
    if quart.request.headers.get("authorization") != f"Bearer {USER_TOKEN}":
        return quart.Response('{"error": "sign in"}', 401, content_type="application/json")
    return None


mount(app, hub)
