"""The README's own-app example, run exactly as written, in a real browser."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from livedash.testing import free_port

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "readme_app.py"


def test_readme_shows_the_example_file_verbatim() -> None:
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, re.S)
    assert EXAMPLE.read_text() in blocks
    assert len(EXAMPLE.read_text().strip().splitlines()) < 20


def test_readme_example_goes_live(context: Any, tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "PORT": str(port)}
    proc = subprocess.Popen(
        [sys.executable, str(EXAMPLE)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}/"
        deadline = time.monotonic() + 60
        while True:  # wait for the server to accept connections (a process we do not own)
            try:
                urllib.request.urlopen(url, timeout=5).close()
                break
            except OSError:
                assert proc.poll() is None, "example exited early"
                assert time.monotonic() < deadline, "example never started serving"
                time.sleep(0.1)
        page = context.new_page()
        page.goto(url)
        page.wait_for_function(
            "() => /^Temperature: \\d+\\.\\d\\d °C$/"
            ".test(document.querySelector('#temp')?.textContent ?? '')",
            timeout=30_000,
        )
        page.wait_for_function(
            "() => (document.querySelector('#temp-graph .js-plotly-plot')?.data?.[0]?.y || [])"
            ".length >= 3",
            timeout=30_000,
        )
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert (tmp_path / "example.db").exists()
