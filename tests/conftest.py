"""Shared fixtures, over livedash.testing's plugin (livedash_server, livedash_hub,
livedash_browser): the names the suite has always used, real servers in threads, Debian's
headless Chromium."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from livedash import Hub
from livedash.testing import LiveServer, UvicornServer, chromium_path

# tests/features/test_range.py imports LiveServer from here.
__all__ = ["LiveServer"]


@pytest.fixture
def live_server(
    livedash_server: Callable[..., LiveServer | UvicornServer],
) -> Callable[[Any], LiveServer]:
    """Factory: ``live_server(app)`` serves ``app``'s Flask server on Werkzeug, in threads,
    until the test ends."""

    def start(app: Any) -> LiveServer:
        server = livedash_server(app, asgi=False)
        assert isinstance(server, LiveServer)
        return server

    return start


@pytest.fixture
def uvicorn_server(
    livedash_server: Callable[..., LiveServer | UvicornServer],
) -> Callable[[Any], UvicornServer]:
    """Factory: ``uvicorn_server(dash_app)`` serves the app on uvicorn until the test ends."""

    def start(app: Any) -> UvicornServer:
        server = livedash_server(app, asgi=True)
        assert isinstance(server, UvicornServer)
        return server

    return start


@pytest.fixture
def hub_factory(livedash_hub: Callable[..., Hub]) -> Callable[..., Hub]:
    """Factory for hubs that are closed when the test ends."""
    return livedash_hub


@pytest.fixture(scope="session")
def browser(request: pytest.FixtureRequest) -> Any:
    """Debian's headless Chromium driven by Playwright (never a downloaded browser)."""
    if chromium_path() is None:
        pytest.fail("chromium is not installed: run `make test`, which installs it")
    return request.getfixturevalue("livedash_browser")


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    """A fresh browser context (its own cookies, workers and connections) per test."""
    ctx = browser.new_context()
    yield ctx
    ctx.close()


#: The longest tests (paced producers, killed and restarted servers, Hypothesis's thousands of
#: requests), longest first: `make test` hands tests to its xdist workers one at a time in
#: collection order (``--maxschedchunk 1``), so these start first and none of them starts last,
#: alone, while the other workers have finished. The browser lane's three workers share two
#: cores, and some of its long tests mostly wait (CPU-s per second, run alone: the hidden tab
#: 0.2, the slow link 0.4, notifications 0.6, a restart 0.9): the hidden tab starts beside
#: tests that keep a core busy (1.3-1.9), and those that wait follow once it is about done
#: (started together, they left the lane's first ~40 s at 1.0-1.6 cores).
LONG_FIRST = (
    # heavy, two at a time: the longest first, so the other worker takes the rest meanwhile
    "tests/reliability/test_graph_load.py::",
    "tests/e2e/test_graph.py::",
    "tests/e2e/test_apps_ticker.py::test_every_tick",
    # browser, beside the hidden tab (~45 s): ~40 s of the busiest tests for two workers
    "tests/e2e/test_hidden_tab.py::",
    "tests/reliability/test_crash.py::",
    "tests/e2e/test_apps_chat.py::test_join_shows",
    "tests/security/test_hostile_input.py::test_publish",
    "tests/features/test_graph_controls.py::test_a_callback_reading",
    "tests/stores/test_redis_cluster.py::test_killing_a_master",
    "tests/scale/test_producers.py::",
    "tests/security/test_hostile_input.py::test_poll",
    "tests/security/test_hostile_input.py::test_events",
    "tests/e2e/test_apps_gallery.py::",
    "tests/e2e/test_examples.py::test_scaled_app",
    "tests/scale/test_fanout.py::",
    "tests/e2e/test_apps_layout.py::test_badge_covers_no_graph",
    "tests/e2e/test_apps_chat.py::test_a_message_sent",
    "tests/e2e/test_apps_chat.py::test_html_and_script",
    # browser, then those that wait, each beside busy ones; the slow link last (~25 s)
    "tests/e2e/test_components.py::test_notifications",
    "tests/scale/test_restart.py::",
    "tests/scale/test_outage.py::test_pages_survive",
    "tests/e2e/test_slow_link.py::",
)


#: Fixtures that open a browser: a test that uses one is a ``browser`` test (`make test` runs
#: none beside the ``netns`` tests), marked or not.
BROWSER_FIXTURES = {"browser", "context", "livedash_browser", "livedash_page"}


@pytest.hookimpl(tryfirst=True)  # before -m selects on the marks
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if BROWSER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.browser)

    def rank(item: pytest.Item) -> int:
        for i, prefix in enumerate(LONG_FIRST):
            if item.nodeid.startswith(prefix):
                return i
        return len(LONG_FIRST)

    items.sort(key=rank)  # stable: every other test keeps its place


class PairTheLongest:
    """Under xdist, pairs each of the longest tests with one of the last ones: a worker starts
    with the next two tests of the list and always keeps one more queued behind the one it
    runs, so two of the longest would otherwise run one after the other on one worker while
    the others finish early (the heavy lane: 73 s where 66 s would do)."""

    @pytest.hookimpl(trylast=True)  # after -m has deselected: these are this run's tests
    def pytest_collection_modifyitems(
        self, config: pytest.Config, items: list[pytest.Item]
    ) -> None:
        workers = int(getattr(config, "workerinput", {}).get("workercount", 0))
        if workers < 2 or len(items) < 4 * workers:
            return
        longest, last = items[:workers], items[-workers:]
        items[:] = [
            *(test for pair in zip(longest, last, strict=True) for test in pair),
            *items[workers:-workers],
        ]


def pytest_collection_finish(session: pytest.Session) -> None:
    """Under `make test`, a lane's pytest starts while the lanes before it run, so that its
    workers import and collect meanwhile; LIVEDASH_TEST_GATE names a file that
    scripts/run-tests.sh holds locked until those lanes are over, and no test starts before."""
    gate = os.environ.get("LIVEDASH_TEST_GATE")
    if gate:
        with open(gate) as held:
            fcntl.flock(held, fcntl.LOCK_SH)  # blocks until the script lets go


def pytest_configure(config: pytest.Config) -> None:
    # A second pytest_collection_modifyitems, run last, needs a plugin object of its own.
    config.pluginmanager.register(PairTheLongest(), "livedash-pair-the-longest")
