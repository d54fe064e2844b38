"""The core (hub, events, stores) works in a process where no web framework can be imported."""

from __future__ import annotations

import subprocess
import sys
import textwrap

#: Run in a fresh interpreter: any import of a web framework or Dash fails there.
SCRIPT = textwrap.dedent(
    """
    import importlib.abc, sys

    BLOCKED = {"dash", "flask", "werkzeug", "plotly", "starlette", "fastapi", "quart",
               "uvicorn", "a2wsgi"}

    class Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if name.partition(".")[0] in BLOCKED:
                raise ImportError(f"{name} is blocked in this test")
            return None

    sys.meta_path.insert(0, Block())
    import livedash
    from livedash import Hub, PublishError
    from livedash.hub import Overflow, Resync, Subscription

    hub = Hub("memory://")
    sub = hub.subscribe(["a"])
    event = hub.publish("a", {"x": 1})
    events, _ = sub.get(5.0)
    assert [e.seq for e in events] == [event.seq] == [1], events
    assert isinstance(sub, Subscription) and issubclass(Resync, Overflow)
    try:
        hub.publish("bad name!", {})
    except PublishError:
        pass
    else:
        raise AssertionError("a bad stream name was accepted")
    hub.unsubscribe(sub)
    hub.close()
    try:
        livedash.LiveText
    except ImportError as exc:
        assert "blocked" in str(exc), exc
    else:
        raise AssertionError("livedash.LiveText loaded although Dash is blocked")
    loaded = sorted(m for m in sys.modules if m.partition(".")[0] in BLOCKED)
    assert not loaded, loaded
    print("core ok")
    """
)


def test_the_core_imports_no_web_framework() -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "core ok"


def test_the_lazy_names_resolve_with_dash_installed() -> None:
    import livedash
    from livedash.components import LiveText
    from livedash.transport import TransportConfig, mount

    assert livedash.LiveText is LiveText
    assert livedash.TransportConfig is TransportConfig
    assert livedash.mount is mount
