"""Live components: ordinary Dash components that the browser client keeps up to date."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

from dash import dcc, html

from livedash.events import validate_stream_name

SPEC_ATTR = "data-livedash"


def _auto_id(kind: str, *parts: object) -> str:
    # Deterministic, so every worker process renders the same layout.
    digest = hashlib.sha1(json.dumps(parts, default=str).encode()).hexdigest()[:8]
    return f"livedash-{kind}-{digest}"


def LiveText(
    stream: str,
    template: str = "{value}",
    *,
    id: str | None = None,
    initial: str = "",
    **div_props: Any,
) -> html.Div:
    """A ``html.Div`` whose text is ``template`` filled from the newest event of ``stream``.

    ``template`` uses ``{field}`` or ``{field:.2f}`` / ``{field:,}`` / ``{field:.1%}`` for
    fields of the event's data (dotted paths reach nested objects; ``{ts}`` / ``{seq}`` are
    the event's own). The text is always rendered as text, never as HTML.
    """
    validate_stream_name(stream)
    spec = {"kind": "text", "stream": stream, "template": template}
    div_id = id or _auto_id("text", stream, template)
    attrs: dict[str, Any] = {SPEC_ATTR: json.dumps(spec), **div_props}
    return html.Div(initial, id=div_id, **attrs)


def LiveGraph(
    stream: str,
    x: str = "ts",
    y: str | Sequence[str] = "value",
    *,
    window: int = 300,
    id: str | None = None,
    title: str | None = None,
    names: Sequence[str] | None = None,
    trace_type: str = "scatter",
    layout: dict[str, Any] | None = None,
    style: dict[str, Any] | None = None,
    config: dict[str, Any] | None = None,
) -> html.Div:
    """A ``dcc.Graph`` with one line per field in ``y``, appended from ``stream`` with
    ``extendData`` and keeping the newest ``window`` points; the window is filled from the
    stream's history when the page loads.

    ``x`` is a data field, or ``"ts"`` (the event's publish time, drawn as dates) or
    ``"seq"``. ``trace_type="scattergl"`` draws with WebGL, cheaper for long windows.
    """
    validate_stream_name(stream)
    if window < 1:
        raise ValueError(f"window must be >= 1 point, got {window!r}")
    fields = [y] if isinstance(y, str) else list(y)
    if not fields:
        raise ValueError("y needs at least one field name")
    labels = list(names) if names is not None else fields
    if len(labels) != len(fields):
        raise ValueError(f"names has {len(labels)} entries for {len(fields)} y fields")
    graph_id = id or _auto_id("graph", stream, x, fields)
    figure = {
        "data": [
            {"type": trace_type, "mode": "lines", "name": label, "x": [], "y": []}
            for label in labels
        ],
        "layout": {
            "margin": {"l": 48, "r": 16, "t": 40 if title else 16, "b": 36},
            "showlegend": len(fields) > 1,
            "uirevision": graph_id,
            **({"title": {"text": title}} if title else {}),
            **({"xaxis": {"type": "date"}} if x == "ts" else {}),
            **(layout or {}),
        },
    }
    spec = {
        "kind": "graph",
        "stream": stream,
        "x": x,
        "y": fields,
        "window": window,
        "target": graph_id,
    }
    attrs: dict[str, Any] = {SPEC_ATTR: json.dumps(spec)}
    graph_config: Any = {"displaylogo": False, **(config or {})}
    return html.Div(
        dcc.Graph(
            id=graph_id,
            figure=figure,
            style=style or {"height": "320px"},
            config=graph_config,
        ),
        className="livedash-graph",
        **attrs,
    )
