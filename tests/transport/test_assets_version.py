"""The client's URLs carry a digest of its files, so a changed client is never served from a
browser's cache (the files are cached for an hour) under an unchanged version number."""

from __future__ import annotations

import shutil
from pathlib import Path

from dash import Dash, html

from livedash import Hub, __version__
from livedash.transport import ASSETS, assets_version


def test_the_version_changes_with_any_asset_and_only_then(tmp_path: Path) -> None:
    copy = tmp_path / "assets"
    shutil.copytree(ASSETS, copy)
    same = assets_version(copy)
    assert same == assets_version(ASSETS) == assets_version(copy)
    assert same.startswith(f"{__version__}-")
    worker = copy / "livedash-worker.js"
    worker.write_text(worker.read_text() + "\n// changed\n")
    assert assets_version(copy) != same


def test_every_client_url_of_a_page_carries_it() -> None:
    hub = Hub("memory://")
    try:
        app = Dash(__name__)
        app.layout = html.Div("x")
        hub.init_app(app)
        urls = [*app.config.external_scripts, *app.config.external_stylesheets]
        ours = [u for u in urls if "/livedash/static/" in u]
        assert ours and all(f"v={assets_version()}" in u for u in ours), ours
    finally:
        hub.close()
