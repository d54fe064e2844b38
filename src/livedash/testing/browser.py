"""Headless Chromium for tests of what a page shows: the flags, and a launch through
Playwright (``pip install playwright``; the browser is the system's ``chromium`` when there
is one, else Playwright's own)."""

from __future__ import annotations

import shutil
from typing import Any

#: Flags for a headless Chromium on a server or in CI: no GPU, no sandbox (containers), no
#: QUIC, and none of the background traffic a fresh profile starts (updates, sync).
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def chromium_path() -> str | None:
    """The system's Chromium (``chromium`` on the PATH), or None."""
    return shutil.which("chromium")


def launch_chromium(playwright: Any, *extra_flags: str, executable: str | None = None) -> Any:
    """A headless Chromium browser launched by ``playwright`` (``sync_playwright()``'s
    value) with :data:`CHROMIUM_FLAGS` and ``extra_flags``; ``executable`` defaults to
    :func:`chromium_path`."""
    return playwright.chromium.launch(
        executable_path=executable or chromium_path(), args=[*CHROMIUM_FLAGS, *extra_flags]
    )


def set_hidden(page: Any, hidden: bool) -> None:
    """Make ``page`` (a Playwright page) report itself hidden or visible, as a background
    tab does, and tell its scripts (``visibilitychange``). Playwright keeps every page
    visible; this overrides only what scripts read (``document.hidden``,
    ``visibilityState``), not what the browser does for a truly hidden tab (use CDP's
    ``Target.activateTarget`` on another tab for that)."""
    page.evaluate(
        """(hidden) => {
          Object.defineProperty(document, 'hidden', {configurable: true, get: () => hidden});
          Object.defineProperty(document, 'visibilityState',
            {configurable: true, get: () => hidden ? 'hidden' : 'visible'});
          document.dispatchEvent(new Event('visibilitychange'));
        }""",
        hidden,
    )
