"""Every shipped app builds on a hub; the CLI serves the gallery by default."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from livedash import ConfigError, Hub
from livedash.apps import APPS, AppOptions, chat, create, gallery, monitor, seed, ticker
from livedash.cli import build_parser


def test_livedash_run_serves_the_gallery_by_default() -> None:
    assert build_parser().parse_args(["run"]).app == "gallery"
    assert {"gallery", "seed", "monitor", "ticker", "chat"} <= set(APPS)


def test_the_gallery_registers_each_producer_once(hub_factory: Callable[..., Hub]) -> None:
    hub = hub_factory()
    app = gallery.create_push_app(hub)
    streams = sorted(p.stream for p in hub.producers)
    assert streams == ["monitor", "quotes", "seed", "ticks"]
    paths = [p for p, _, _ in gallery.PAGES]
    assert paths == ["/", "/monitor", "/ticker", "/chat"]
    assert app.use_pages


@pytest.mark.parametrize("module", [monitor, ticker, chat])
def test_each_app_runs_alone(module: object, hub_factory: Callable[..., Hub]) -> None:
    hub = hub_factory()
    app = module.create_push_app(hub)  # type: ignore[attr-defined]
    assert app.layout is not None
    assert seed.create_push_app(hub_factory()).layout is not None


@pytest.mark.parametrize("name", ["gallery", "monitor", "ticker", "chat"])
def test_push_only_apps_refuse_poll_with_a_hint(name: str) -> None:
    with pytest.raises(ConfigError, match="push"):
        create(name, AppOptions(store="memory://", transport="poll"))
