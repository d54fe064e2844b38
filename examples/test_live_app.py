"""Tests of a live app with livedash's pytest plugin: serve the app, follow its stream as a
browser would, check that every event arrives once and in order, and look at the page.

Run: pytest examples/test_live_app.py   (the page test needs Playwright and Chromium)
"""

from dash import Dash, html

from livedash import Hub, LiveText


def create_app(hub):
    """The app under test; yours lives in its own module (from myapp import create_app)."""
    app = Dash(__name__)
    app.layout = html.Div([LiveText("orders", "Last order: #{n}", id="last-order")])
    hub.init_app(app)
    return app


def test_every_order_reaches_a_client_once_in_order(
    livedash_hub, livedash_server, stream_client
):
    hub = livedash_hub()  # an in-memory store, closed after the test
    server = livedash_server(create_app(hub))  # on a free port, stopped after the test
    client = stream_client(server, "orders")  # returns once subscribed
    for n in range(1, 101):
        hub.publish("orders", {"n": n})
    events = client.wait_for_seq("orders", 100)
    assert [e.data["n"] for e in events] == list(range(1, 101))
    client.check()  # every seq once, in order, no gap the server did not announce


def test_a_dropped_connection_resumes_where_it_was(
    livedash_hub, livedash_server, stream_client
):
    hub = livedash_hub()
    server = livedash_server(create_app(hub), asgi=True)  # on uvicorn, as `livedash run`
    client = stream_client(server, "orders", wire=2)  # the format livedash's browser client uses
    hub.publish("orders", {"n": 1})
    client.wait_for_seq("orders", 1)
    client.drop()  # the link fails; the client reconnects from its own cursor
    for n in range(2, 51):
        hub.publish("orders", {"n": n})
    client.wait_for_seq("orders", 50)
    assert client.seqs("orders") == list(range(1, 51))
    assert client.reconnects >= 1
    client.check()


def test_the_page_shows_the_last_order(livedash_hub, livedash_server, livedash_page):
    from playwright.sync_api import expect

    hub = livedash_hub()
    server = livedash_server(create_app(hub))
    hub.publish("orders", {"n": 1})
    livedash_page.goto(server.url)
    last_order = livedash_page.locator("#last-order")
    expect(last_order).to_have_text("Last order: #1")  # the latest event, on load
    hub.publish("orders", {"n": 2})
    expect(last_order).to_have_text("Last order: #2")  # and every one after it, live
