"""The app's own authentication guards livedash's routes, in every serving mode.

Each app is served for real in a process of its own: ``python app.py`` (Dash's ``app.run``),
``livedash run app.py``, ``livedash serve module:app --workers 2`` and
``gunicorn module:server``. Without credentials every livedash route answers as the app's
pages do (401 for dash-auth, 302 for Flask-Login), no payroll value leaks and a refused
publish stores nothing; with credentials the same requests are served; ``/livedash/health``
stays open."""

from __future__ import annotations

import base64
import contextlib
import http.cookiejar
import json
import shutil
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from livedash.stores import open_store
from livedash.testing import ServedProcess, SSEClient, free_port
from tests.security.auth_apps.common import REAUTH_ENV, SALARY, STORE_ENV

ROOT = Path(__file__).resolve().parents[2]
APPS = Path(__file__).resolve().parent / "auth_apps"
#: Longest wait for a server to answer its health route.
READY_DEADLINE = 90.0
MODES = ["app.run", "livedash run", "livedash serve", "gunicorn"]
#: A request without credentials: route -> (method, path and query).
ROUTES = {
    "events": ("GET", "/livedash/events?stream=payroll&cursor=payroll:0&wire=2"),
    "poll": ("GET", "/livedash/poll?stream=payroll&last=payroll:5"),
    "range": ("GET", "/livedash/range?stream=payroll&span=3600&points=0&y=salary"),
    "publish": ("POST", "/livedash/publish"),
    "metrics": ("GET", "/metrics"),
    "page": ("GET", "/"),
}
FORGED = -1


class Served(ServedProcess):
    """An auth app in a process of its own, started once ``/livedash/health`` says 200."""

    def __init__(self, argv: list[str], port: int, store: str, log: Path, **kwargs: Any) -> None:
        super().__init__(argv, f"http://127.0.0.1:{port}", log, **kwargs)
        self.store = store


def _argv(mode: str, module: str, port: int, store: str) -> list[str]:
    spec = f"tests.security.auth_apps.{module}"
    if mode == "app.run":
        return [sys.executable, "-m", spec]
    if mode == "livedash run":
        cli = [sys.executable, "-m", "livedash.cli", "run", str(APPS / f"{module}.py")]
        return [*cli, "--port", str(port)]
    if mode == "livedash serve":
        cli = [sys.executable, "-m", "livedash.cli", "serve", f"{spec}:app", "--workers", "2"]
        return [*cli, "--store", store, "--port", str(port)]
    gunicorn = shutil.which("gunicorn", path=str(Path(sys.executable).parent))
    assert gunicorn, "gunicorn is a test dependency (pip install -e '.[test]')"
    bind = ["-b", f"127.0.0.1:{port}", "--worker-class", "gthread", "--threads", "8"]
    return [gunicorn, f"{spec}:server", *bind]


@contextlib.contextmanager
def served(
    mode: str,
    module: str,
    tmp_path: Path,
    token: str | None = None,
    env: dict[str, str] | None = None,
) -> Iterator[Served]:
    """``module`` of auth_apps served in ``mode`` on a free port, with its own SQLite store."""
    port = free_port()
    store = f"sqlite:///{tmp_path / f'{module}.db'}"
    log = tmp_path / f"{module}-{mode.replace(' ', '-')}.log"
    server = Served(
        _argv(mode, module, port, store),
        port,
        store,
        log,
        cwd=APPS if mode == "livedash run" else ROOT,
        env={
            STORE_ENV: store,
            "PORT": str(port),
            "PYTHONPATH": str(ROOT),
            "LIVEDASH_TOKEN": token,  # None: not set, whatever this process has
            **(env or {}),
        },
        ready_path="/livedash/health",
        ready_status=200,
        deadline=READY_DEADLINE,
    )
    try:
        yield server.start()
    finally:
        server.kill()


def request(
    method: str,
    url: str,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    opener: urllib.request.OpenerDirector | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and (the start of) the body; redirects are not followed. An event
    stream is read until it carries a payroll event (or 64 KiB)."""
    opener = opener or urllib.request.build_opener(_NoRedirect())
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with opener.open(req, timeout=20) as r:
            heads = {k.lower(): v for k, v in r.headers.items()}
            if heads.get("content-type", "").startswith("text/event-stream"):
                data = b""
                while b"salary" not in data and len(data) < 65536:
                    line = r.readline()
                    if not line:
                        break
                    data += line
                return r.status, heads, data
            return r.status, heads, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read()
    except OSError:
        return 0, {}, b""


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def _publish_body(salary: int = FORGED) -> bytes:
    return json.dumps({"stream": "payroll", "data": {"salary": salary}}).encode()


def _stored_salaries(store_url: str) -> set[int]:
    store = open_store(store_url)
    try:
        return {e.data["salary"] for e in store.read("payroll", 0, 100_000)}
    finally:
        store.close()


def _call(server: Served, route: str, headers: dict[str, str], **kw: object) -> tuple[int, bytes]:
    method, path = ROUTES[route]
    extra = dict(headers)
    body = None
    if route == "publish":
        body = _publish_body()
        extra["Content-Type"] = "application/json"
    status, _, data = request(method, server.url + path, extra, body, **kw)  # type: ignore[arg-type]
    return status, data


def _basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


@pytest.mark.parametrize("mode", MODES)
def test_dash_auth_guards_every_livedash_route(mode: str, tmp_path: Path) -> None:
    with served(mode, "basic", tmp_path) as server:
        observed = {}
        for route in ROUTES:
            for creds, name in (({}, "anonymous"), (_basic("alice", "nope"), "wrong password")):
                status, body = _call(server, route, creds)
                observed[(route, name)] = status
                assert status == 401, (route, name, status, body[:200], server.output())
                assert str(SALARY).encode() not in body
        print(mode, observed)
        # Nothing forged was stored; the producer's own events were.
        assert _stored_salaries(server.store) == {SALARY}
        # The same requests with alice's credentials are served.
        alice = _basic("alice", "secret")
        for route in ("events", "poll", "range", "metrics", "page"):
            status, body = _call(server, route, alice)
            assert status == 200, (route, status, body[:300])
            if route in ("events", "poll", "range"):
                assert str(SALARY).encode() in body, (route, body[:300])
        assert _call(server, "publish", alice)[0] == 200
        assert FORGED in _stored_salaries(server.store)
        # The load balancer's probe stays open and says only ok / 503.
        status, _, body = request("GET", server.url + "/livedash/health")
        assert status == 200 and json.loads(body)["store"] == "ok"
        assert b"payroll" not in body


def _login_opener(
    jar: http.cookiejar.CookieJar | None = None,
) -> urllib.request.OpenerDirector:
    cookies = urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar() if jar is None else jar)
    return urllib.request.build_opener(_NoRedirect(), cookies)


@pytest.mark.parametrize("mode", MODES)
def test_flask_login_guards_every_livedash_route(mode: str, tmp_path: Path) -> None:
    with served(mode, "login", tmp_path) as server:
        for route in ROUTES:
            status, body = _call(server, route, {})
            assert status == 302, (route, status, body[:200], server.output())
            assert str(SALARY).encode() not in body
        assert _stored_salaries(server.store) == {SALARY}
        signed_in = _login_opener()
        status, _, _ = request(
            "POST", server.url + "/login", body=b"password=secret", opener=signed_in
        )
        assert status == 200
        for route in ("events", "poll", "range", "metrics", "page"):
            status, body = _call(server, route, {}, opener=signed_in)
            assert status == 200, (route, status, body[:300])
        assert _call(server, "publish", {}, opener=signed_in)[0] == 200
        assert FORGED in _stored_salaries(server.store)
        # Signed out, the same browser is refused again at its next request or reconnect.
        assert request("GET", server.url + "/logout", opener=signed_in)[0] == 200
        assert _call(server, "poll", {}, opener=signed_in)[0] == 302
        assert _call(server, "events", {}, opener=signed_in)[0] == 302
        assert request("GET", server.url + "/livedash/health")[0] == 200


@pytest.mark.parametrize("mode", ["app.run", "livedash run", "livedash serve", "gunicorn"])
def test_a_feed_with_the_token_publishes_without_a_session(mode: str, tmp_path: Path) -> None:
    """The token is a credential of its own: a feed that has it needs no login; a request
    without it passes the app's guard and then still needs the token."""
    token = "feed-token-for-the-test"
    with served(mode, "basic", tmp_path, token=token) as server:
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
        url = server.url + "/livedash/publish"
        status, _, body = request("POST", url, headers, _publish_body(42))
        assert status == 200, (status, body, server.output())
        # A wrong token is no credential: the app's guard answers, as it answers for its
        # page (dash-auth fails on a Bearer header with a 500, on its pages too).
        headers["Authorization"] = "Bearer wrong"
        page = request("GET", server.url + "/", {"Authorization": "Bearer wrong"})[0]
        assert request("POST", url, headers, _publish_body(43))[0] == page != 200
        # Signed in but without the token: still refused, by the token rule this time.
        alice = {**_basic("alice", "secret"), "Content-Type": "application/json"}
        status, _, body = request("POST", url, alice, _publish_body(44))
        assert status == 401 and json.loads(body)["reason"] == "unauthorized"
        assert _stored_salaries(server.store) == {SALARY, 42}


def test_fastapi_middleware_and_dependencies_guard_every_livedash_route(tmp_path: Path) -> None:
    from tests.security.auth_apps.fastapi_app import USER_TOKEN

    with served("livedash run", "fastapi_app", tmp_path) as server:
        signed_in = {"Authorization": f"Bearer {USER_TOKEN}", "X-Team": "payroll"}
        for route in ROUTES:
            # The middleware refuses strangers (401) ...
            status, body = _call(server, route, {})
            assert status == 401, (route, status, body[:200], server.output())
            assert str(SALARY).encode() not in body
            # ... and the app-level dependency refuses a signed-in user of another team.
            if route != "page":  # Dash's page routes were added before the dependency
                status, body = _call(server, route, {"Authorization": signed_in["Authorization"]})
                assert status == 403, (route, status, body[:200])
                assert str(SALARY).encode() not in body
        assert _stored_salaries(server.store) == {SALARY}
        for route in ("events", "poll", "range", "metrics"):
            status, body = _call(server, route, signed_in)
            assert status == 200, (route, status, body[:300])
        assert _call(server, "publish", signed_in)[0] == 200
        assert request("GET", server.url + "/livedash/health")[0] == 200


@pytest.mark.parametrize("mode", ["livedash run", "app.run"])
def test_a_signed_out_users_stream_ends_and_its_reconnect_is_refused(
    mode: str, tmp_path: Path
) -> None:
    """An open stream does not outlive its user's access by more than ``reauth`` seconds:
    the server ends it, the reconnect passes the app's guard again, and a signed-in user's
    reconnect resumes with no event lost or repeated."""
    with served(mode, "login", tmp_path, env={REAUTH_ENV: "2"}) as server:
        jar = http.cookiejar.CookieJar()
        signed_in = _login_opener(jar)
        status, _, _ = request(
            "POST", server.url + "/login", body=b"password=secret", opener=signed_in
        )
        assert status == 200
        cookie = "; ".join(f"{c.name}={c.value}" for c in jar)
        port = int(server.url.rsplit(":", 1)[1])
        # Still signed in: each stream ends by itself and the next resumes where it ended.
        seqs: list[int] = []
        last = "payroll:0"
        for _ in range(2):
            client = SSEClient(
                port, "/livedash/events?stream=payroll", {"Cookie": cookie, "Last-Event-ID": last}
            )
            assert client.response.status == 200
            for message in client:  # until the server ends the stream
                if message.event == "message":
                    seqs += [event[1] for event in message.json()]
                    last = message.id or last
            client.close()
        assert len(seqs) >= 2 and seqs == list(range(1, seqs[-1] + 1))
        # Signed out (the browser's cookie changes): the next reconnect is refused.
        assert request("GET", server.url + "/logout", opener=signed_in)[0] == 200
        cookie = "; ".join(f"{c.name}={c.value}" for c in jar)
        client = SSEClient(port, "/livedash/events?stream=payroll", {"Cookie": cookie})
        assert client.response.status == 302
        client.close()


def test_quart_before_request_hooks_guard_every_livedash_route(tmp_path: Path) -> None:
    from tests.security.auth_apps.quart_app import USER_TOKEN

    with served("livedash run", "quart_app", tmp_path) as server:
        for route in ROUTES:
            status, body = _call(server, route, {})
            assert status == 401, (route, status, body[:200], server.output())
            assert str(SALARY).encode() not in body
        assert _stored_salaries(server.store) == {SALARY}
        signed_in = {"Authorization": f"Bearer {USER_TOKEN}"}
        for route in ("events", "poll", "range", "metrics"):
            status, body = _call(server, route, signed_in)
            assert status == 200, (route, status, body[:300])
        assert _call(server, "publish", signed_in)[0] == 200
        assert request("GET", server.url + "/livedash/health")[0] == 200
