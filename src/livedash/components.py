"""Live components: ordinary Dash components that the browser client keeps up to date."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from dash import dcc, html

from livedash.errors import ConfigError
from livedash.events import validate_stream_name
from livedash.transport.params import MAX_HISTORY

SPEC_ATTR = "data-livedash"


def _with_axes(base: dict[str, Any], layout: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` updated by the user's ``layout``; an axis dict is merged key by key, so that
    ``{"yaxis": {"ticksuffix": "%"}}`` keeps the defaults it does not name."""
    merged = dict(base)
    for key, value in layout.items():
        if key in ("xaxis", "yaxis") and isinstance(value, Mapping):
            merged[key] = {**base[key], **value}
        else:
            merged[key] = value
    return merged


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
    controls: bool = True,
    windows: Sequence[str | float] = ("1m", "5m", "1h", "24h"),
    points: int = 2000,
) -> html.Div:
    """A ``dcc.Graph`` with one line per field in ``y``, appended from ``stream`` with
    ``Plotly.extendTraces`` and keeping the newest ``window`` points; the window is filled from the
    stream's history when the page loads.

    ``x`` is a data field, or ``"ts"`` (the event's publish time, drawn as dates) or
    ``"seq"``. ``trace_type="scattergl"`` draws with WebGL, cheaper for long windows.

    With ``controls`` (the default) a toolbar above the graph offers the time ``windows``
    (``"30s"``, ``"5m"``, ``"1h"``, ``"24h"`` or seconds), read from the store and
    downsampled by the server to at most ``points`` points per line while live points keep
    arriving; a Pause button (zooming or panning pauses too; Resume draws everything that
    arrived meanwhile at once); and Replay, which plays a past range through the graph at
    1x to 100x under a small control bar with the replay clock. Keep the stream's retention
    (``hub.stream(name, max_events=...)``) as long as the longest window.
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
        "layout": _with_axes(
            {
                "margin": {"l": 48, "r": 16, "t": 40 if title else 16, "b": 36},
                "showlegend": len(fields) > 1,
                "uirevision": graph_id,
                **({"title": {"text": title}} if title else {}),
                # automargin: long tick labels (400MB/s, two-line dates) grow the margin
                # instead of being clipped by the fixed one.
                "xaxis": {"automargin": True, **({"type": "date"} if x == "ts" else {})},
                "yaxis": {"automargin": True},
            },
            layout or {},
        ),
    }
    if not 4 <= points <= 10_000:
        raise ValueError(f"points must be between 4 and 10000, got {points!r}")
    spec = {
        "kind": "graph",
        "stream": stream,
        "x": x,
        "y": fields,
        "window": window,
        "target": graph_id,
        "controls": controls,
        "windows": [[_window_label(w), _window_seconds(w)] for w in windows],
        "points": points,
    }
    attrs: dict[str, Any] = {SPEC_ATTR: json.dumps(spec)}
    graph_config: Any = {"displaylogo": False, **(config or {})}
    graph = dcc.Graph(
        id=graph_id,
        figure=figure,
        style=style or {"height": "320px"},
        config=graph_config,
    )
    # The controls are drawn by assets/widget-graph-controls.js into these empty
    # placeholders, which React never re-renders (they have no children of its own).
    children = (
        [
            html.Div(className="livedash-graph-toolbar"),
            graph,
            html.Div(className="livedash-graph-replay"),
        ]
        if controls
        else graph
    )
    return html.Div(children, className="livedash-graph", **attrs)


_WINDOW_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _window_seconds(window: str | float) -> float:
    """``"5m"`` -> 300.0; numbers are seconds."""
    if isinstance(window, int | float):
        seconds = float(window)
    else:
        text = window.strip().lower()
        unit = _WINDOW_UNITS.get(text[-1:])
        try:
            seconds = float(text[:-1]) * unit if unit else float(text)
        except ValueError:
            seconds = -1.0
    if not seconds > 0:
        raise ValueError(f"bad time window {window!r}: use seconds or '30s', '5m', '1h', '1d'")
    return seconds


def _window_label(window: str | float) -> str:
    seconds = _window_seconds(window)
    if isinstance(window, str):
        return window.strip()
    for unit, label in ((3600, "h"), (60, "m")):
        if seconds >= unit and seconds % unit == 0:
            return f"{int(seconds // unit)}{label}"
    return f"{seconds:g}s"


def _spec_attrs(spec: dict[str, Any]) -> dict[str, Any]:
    validate_stream_name(spec["stream"])
    return {SPEC_ATTR: json.dumps(spec)}


def LiveIndicator(
    stream: str,
    value: str,
    *,
    label: str,
    template: str | None = None,
    thresholds: Mapping[str, float] | None = None,
    si: bool = False,
    id: str | None = None,
    className: str = "",
) -> html.Div:
    """A KPI tile: ``label`` above the newest value of field ``value`` of ``stream``.

    ``template`` formats the value like :func:`LiveText` (default ``"{<value>}"``).
    ``thresholds`` maps a level name to the value it starts *above*, for example
    ``{"warn": 70, "danger": 90}``: at 95 the tile gets the CSS class
    ``livedash-kpi--danger`` (red in livedash.css), at 80 ``livedash-kpi--warn``, at 50
    ``livedash-kpi--ok``. ``si=True`` shows the value with an SI prefix and a space
    (``1.23 M``), so ``template="{net_rx}B/s"`` reads ``1.23 MB/s``.
    """
    levels = sorted((thresholds or {}).items(), key=lambda kv: kv[1])
    div_id = id or _auto_id("kpi", stream, value, label)
    base = f"livedash-kpi {className}".strip()
    spec = {
        "kind": "indicator",
        "stream": stream,
        "value": value,
        "template": template or "{" + value + "}",
        "levels": [[name, limit] for name, limit in levels],
        "base": base,
        "si": si,
        "text": f"{div_id}-value",
    }
    return html.Div(
        [
            html.Div(label, className="livedash-kpi-label"),
            html.Div("\u2014", id=f"{div_id}-value", className="livedash-kpi-value"),
        ],
        id=div_id,
        className=base,
        **_spec_attrs(spec),
    )


def LiveTable(
    stream: str,
    columns: Sequence[Mapping[str, Any]],
    *,
    rows: str | None = None,
    mode: str = "replace",
    key: str | None = None,
    order: Sequence[str] = (),
    flash: str | None = None,
    max_rows: int = 50,
    throttle_ms: int = 0,
    id: str | None = None,
    className: str = "",
) -> html.Div:
    """A table filled from ``stream``; cells are always rendered as text.

    ``columns``: ``{"field": "p", "label": "Last", "format": ".2f", "signed": True,
    "align": "right"}`` (``format`` as in :func:`LiveText`; ``signed`` colours a cell by
    the sign of its value). ``rows`` is the path to a list of row objects in each event
    (``None``: the event's data is one row). ``mode``:

    - ``"replace"``: show exactly the rows of the newest event (a top-N list);
    - ``"upsert"``: one row per ``key`` value, updated in place, in ``order`` first and then
      in order of first appearance; with ``flash`` set, that field's cell flashes green or
      red when it goes up or down;
    - ``"append"``: newest rows first, at most ``max_rows`` (a tape).

    ``throttle_ms`` redraws at most that often (fast streams stay readable and cheap).
    """
    if mode not in ("replace", "upsert", "append"):
        raise ValueError(f"mode must be 'replace', 'upsert' or 'append', got {mode!r}")
    if mode == "upsert" and not key:
        raise ValueError("mode='upsert' needs key=FIELD naming the field that identifies a row")
    if not columns:
        raise ValueError("columns needs at least one {'field': ..., 'label': ...}")
    cols: list[dict[str, Any]] = []
    for col in columns:
        if "field" not in col:
            raise ValueError(f"column {dict(col)!r} has no 'field'")
        cols.append(
            {
                "field": str(col["field"]),
                "label": str(col.get("label", col["field"])),
                "format": str(col.get("format", "")),
                "signed": bool(col.get("signed", False)),
                "align": str(col.get("align", "left")),
            }
        )
    div_id = id or _auto_id("table", stream, rows, [c["field"] for c in cols])
    spec = {
        "kind": "table",
        "stream": stream,
        "rows": rows,
        "mode": mode,
        "key": key,
        "order": list(order),
        "flash": flash,
        "max_rows": max_rows,
        "throttle": throttle_ms,
        "columns": cols,
        "body": f"{div_id}-body",
    }
    head = html.Thead(
        html.Tr([html.Th(c["label"], className=f"livedash-align-{c['align']}") for c in cols])
    )
    return html.Div(
        html.Table(
            [head, html.Tbody([], id=f"{div_id}-body")],
            className="livedash-table",
        ),
        id=div_id,
        className=f"livedash-table-wrap {className}".strip(),
        **_spec_attrs(spec),
    )


def LiveCandles(
    stream: str,
    *,
    window: int = 300,
    id: str,
    volume: bool = True,
    title: str | None = None,
    height: int = 320,
    volume_height: int = 140,
) -> html.Div:
    """A candlestick chart (and, with ``volume``, a volume bar chart below it) fed by
    ``stream``, whose events are candles: ``{"t": start epoch seconds, "o", "h", "l", "c",
    "v"}``. Keeps the newest ``window`` candles; filled from history on load. The graphs
    are ``dcc.Graph`` components with ids ``id`` and ``id + "-volume"``."""
    if window < 1:
        raise ValueError(f"window must be >= 1 candle, got {window!r}")
    margin = {"l": 56, "r": 16, "t": 40 if title else 12, "b": 28}
    candle_fig = {
        "data": [
            {
                "type": "candlestick",
                "name": stream,
                "x": [],
                "open": [],
                "high": [],
                "low": [],
                "close": [],
                "increasing": {"line": {"color": "#16a34a"}},
                "decreasing": {"line": {"color": "#dc2626"}},
            }
        ],
        "layout": {
            "margin": margin,
            "showlegend": False,
            "uirevision": id,
            # automargin: the bottom margin grows to fit the two-line date ticks (time, and
            # the date under the first), which a fixed margin clipped.
            "xaxis": {"type": "date", "rangeslider": {"visible": False}, "automargin": True},
            "yaxis": {"tickformat": ".2f"},
            **({"title": {"text": title}} if title else {}),
        },
    }
    graphs = [
        dcc.Graph(
            id=id,
            figure=candle_fig,
            style={"height": f"{height}px"},
            config={"displaylogo": False},
        )
    ]
    volume_id = f"{id}-volume" if volume else None
    if volume_id:
        graphs.append(
            dcc.Graph(
                id=volume_id,
                figure={
                    "data": [
                        {"type": "bar", "name": "volume", "x": [], "y": [], "marker": {"color": []}}
                    ],
                    "layout": {
                        "margin": {**margin, "t": 4},
                        "showlegend": False,
                        "uirevision": volume_id,
                        "xaxis": {"type": "date", "automargin": True},
                        "yaxis": {"title": {"text": "volume"}, "tickformat": "~s"},
                        "bargap": 0.15,
                    },
                },
                style={"height": f"{volume_height}px"},
                config={"displaylogo": False},
            )
        )
    spec = {
        "kind": "candles",
        "stream": stream,
        "window": window,
        "target": id,
        "volume": volume_id,
    }
    return html.Div(graphs, className="livedash-candles", **_spec_attrs(spec))


def LiveChatLog(
    stream: str,
    *,
    history: int = 200,
    id: str | None = None,
    user: str = "user",
    text: str = "text",
    className: str = "",
) -> html.Div:
    """A chat log of ``stream``: the last ``history`` messages on load, then every new one.
    Each event's ``user`` and ``text`` fields are shown with its time, always as text (an
    HTML or script payload shows literally). Scrolls to the newest message unless the
    reader has scrolled up."""
    if history < 1:
        raise ValueError(f"history must be >= 1 message, got {history!r}")
    div_id = id or _auto_id("chat", stream)
    spec = {"kind": "chat", "stream": stream, "history": history, "user": user, "text": text}
    attrs: dict[str, Any] = {"aria-live": "polite", **_spec_attrs(spec)}
    return html.Div(
        [], id=div_id, className=f"livedash-chat {className}".strip(), role="log", **attrs
    )


def LiveAlerts(
    stream: str = "alerts",
    *,
    id: str | None = None,
    history: int = 200,
    className: str = "",
) -> html.Div:
    """The alerts of :class:`livedash.alerts.Alerts`: a banner while any rule fires, and the
    list of firing rules (value, condition, since when); both clear when the rules recover.
    Put one on every page; all tabs show the same alerts."""
    div_id = id or _auto_id("alerts", stream)
    spec = {"kind": "alerts", "stream": stream, "history": history}
    return html.Div(
        html.Div("No active alerts", className="livedash-alerts-none"),
        id=div_id,
        className=f"livedash-alerts {className}".strip(),
        **_spec_attrs(spec),
    )


#: Default ``max_backlog`` of :func:`LiveData`: events held for one component while it waits.
MAX_BACKLOG = 10_000


def LiveData(
    stream: str,
    *,
    id: str,
    history: int = 0,
    max_backlog: int = MAX_BACKLOG,
    interval: int | None = None,
) -> html.Div:
    """The events of ``stream`` as an ordinary Dash prop: ``Input(id, "data")`` (or ``State``)
    in your own server or clientside callbacks, for any component of any library.

    Each update of ``data`` carries every event since the previous update, oldest first::

        {"events": [{"seq": 41, "ts": 1767225600.5, "data": {...}}, ...], "reset": False}

    - Lossless and in order: a callback on ``data`` sees each event exactly once. Updates are
      coalesced, at most one per animation frame (or per ``interval`` milliseconds), and at
      most one is in flight: the next update waits until the callbacks that the previous one
      triggered have finished, accumulating the events meanwhile.
    - ``history``: the first update after the page loads carries the newest ``history``
      events of the stream (``0``: only events published from then on).
    - A hidden tab updates nothing and gets its backlog in one update when shown.
    - ``max_backlog``: when more events than this wait for one update (a tab hidden for long,
      a callback slower than the stream), they are dropped and the next update says
      ``"reset": True`` and carries the newest ``history`` events: replace what you built from
      earlier updates. A stream the server resets (retention dropped events this tab never
      saw) does the same.

    The component renders nothing visible: a hidden ``html.Div`` around a ``dcc.Store``
    whose id is ``id``. Several ``LiveData`` on a page (and all tabs of a browser) share one
    connection. A server callback on ``data`` costs one request per update per tab; a
    clientside callback costs none. Create the app with ``Dash(..., update_title="")``:
    Dash's default retitles the tab "Updating..." around every callback run, so at every
    update, which flickers the title and costs the browser CPU each time.
    """
    validate_stream_name(stream)
    if not isinstance(id, str) or not id:
        raise ConfigError(
            f"LiveData needs id='...', a non-empty string to name in callbacks; got {id!r}"
        )
    if not isinstance(history, int) or not 0 <= history <= MAX_HISTORY:
        raise ConfigError(
            f"history must be a whole number of events from 0 to {MAX_HISTORY:,} (what one page"
            f" may ask of a stream on load), got {history!r}"
        )
    if not isinstance(max_backlog, int) or max_backlog < max(1, history):
        raise ConfigError(
            f"max_backlog must be a whole number >= history ({history}) and >= 1, got "
            f"{max_backlog!r}: it bounds the events held for one update"
        )
    if interval is not None and (not isinstance(interval, int) or interval < 0):
        raise ConfigError(
            f"interval must be None (one update per animation frame at most) or milliseconds "
            f">= 0, got {interval!r}"
        )
    spec = {
        "kind": "data",
        "stream": stream,
        "target": id,
        "history": history,
        "max_backlog": max_backlog,
        "interval": interval or 0,
    }
    return html.Div(
        dcc.Store(id=id, data=None, storage_type="memory"),
        className="livedash-data",
        style={"display": "none"},
        **_spec_attrs(spec),
    )


def widget_attrs(kind: str, stream: str, /, **options: Any) -> dict[str, Any]:
    """The attribute that makes any ``html`` component a live widget of ``kind``, a kind your
    own script registers with ``livedash.registerKind(kind, Constructor)`` in the browser.

    Spread it into the component: ``html.Canvas(id="spark", **widget_attrs("sparkline",
    "temps", field="value"))``. The widget's constructor receives ``spec`` = ``{"kind":
    kind, "stream": stream, **options}`` and the element; ``options`` must be JSON values.
    The element needs an ``id`` (or give ``target="other-id"`` in ``options``).
    """
    if not isinstance(kind, str) or not kind:
        raise ConfigError(f"kind must be a non-empty string naming a registered kind, got {kind!r}")
    reserved = {"kind", "stream"} & options.keys()
    if reserved:
        raise ConfigError(f"{sorted(reserved)} are set from the arguments; drop them from options")
    try:
        return _spec_attrs({"kind": kind, "stream": stream, **options})
    except TypeError as err:
        raise ConfigError(
            f"widget options must be JSON values (str, number, list, dict): {err}"
        ) from None
