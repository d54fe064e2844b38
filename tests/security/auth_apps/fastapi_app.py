"""A payroll app on Dash's fastapi backend, guarded by an ASGI middleware (a bearer token in
``Authorization``) and an app-level dependency (header ``X-Team: payroll``)."""

from __future__ import annotations

from fastapi import Depends, HTTPException, Request
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.responses import JSONResponse, Response

from tests.security.auth_apps.common import mount, payroll_app

#: The bearer token the middleware wants.
USER_TOKEN = "alice-session-token"

app, hub = payroll_app(backend="fastapi")
server = app.server


class RequireToken(BaseHTTPMiddleware):
    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        if request.headers.get("authorization") != f"Bearer {USER_TOKEN}":
            return JSONResponse({"error": "sign in"}, status_code=401)
        return await call_next(request)


def require_team(request: Request) -> None:
    if request.headers.get("x-team") != "payroll":
        raise HTTPException(status_code=403, detail="payroll team only")


server.add_middleware(RequireToken)
# App-level dependencies apply to the routes added after them, so: before mounting.
server.router.dependencies.append(Depends(require_team))
mount(app, hub)
