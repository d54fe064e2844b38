"""Alerts: rules on a stream field, evaluated server-side once per deployment.

    from livedash.alerts import AlertRule, Alerts

    hub.add_source(Alerts([AlertRule.parse("monitor", "cpu.total > 90 for 10 s")]))

A rule holds when the field's value compares true against the threshold. It **fires** once
it has held for its ``for`` duration (at every event since the first one that held, and
still holding when the duration ran out by the clock), and **resolves** at the first event
where it no longer holds. Each transition is an event on the ``alerts`` stream::

    {"rule": "High CPU", "state": "firing", "stream": "monitor", "field": "cpu.total",
     "condition": "cpu.total > 90 for 10 s", "value": 97.1, "threshold": 90,
     "severity": "warning", "since": 1700000000.0}

:func:`~livedash.LiveAlerts` shows the firing ones as a banner and a list on every tab.
The engine is a :class:`~livedash.producers.Source`, so it runs in one process of the
deployment (the store lease ``source:alerts``); a process taking over reads the alerts stream
to learn what is firing and carries on from there (a pending ``for`` timer restarts).
Events without a numeric value for the field are ignored (no data is not a recovery).
"""

from __future__ import annotations

import logging
import math
import operator
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from livedash.errors import ConfigError
from livedash.events import Event, validate_stream_name
from livedash.hub import Hub, Overflow
from livedash.producers import Emit, Source

log = logging.getLogger(__name__)

#: The stream alert transitions are published to, unless told otherwise.
ALERTS_STREAM = "alerts"
#: How often pending ``for`` timers are checked when no event arrives.
TICK = 0.25

OPERATORS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}
_UNITS = {"": 1.0, "s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}
_RULE_RE = re.compile(
    r"^\s*(?P<field>[A-Za-z_][\w.\-]*)\s*(?P<op>>=|<=|==|!=|>|<)\s*"
    r"(?P<threshold>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)"
    r"(?:\s+for\s+(?P<for>\d+\.?\d*)\s*(?P<unit>s|sec|m|min|h)?)?\s*$"
)


@dataclass(frozen=True)
class AlertRule:
    """``field op threshold`` on ``stream``, firing after holding ``for_seconds``."""

    stream: str
    field: str
    op: str
    threshold: float
    for_seconds: float = 0.0
    name: str = ""
    severity: str = "warning"

    def __post_init__(self) -> None:
        validate_stream_name(self.stream)
        if self.op not in OPERATORS:
            raise ConfigError(f"unknown operator {self.op!r}; use one of {' '.join(OPERATORS)}")
        if not math.isfinite(self.threshold):
            raise ConfigError(f"threshold must be a finite number, got {self.threshold!r}")
        if self.for_seconds < 0:
            raise ConfigError(f"for_seconds must be >= 0, got {self.for_seconds!r}")
        if not self.name:
            object.__setattr__(self, "name", f"{self.stream}: {self.condition}")

    @classmethod
    def parse(
        cls, stream: str, text: str, *, name: str = "", severity: str = "warning"
    ) -> AlertRule:
        """A rule from text: ``"cpu.total > 90 for 10 s"`` (units s, m, h; ``for`` optional;
        operators ``> >= < <= == !=``)."""
        match = _RULE_RE.match(text)
        if match is None:
            raise ConfigError(
                f"cannot read alert rule {text!r}: write FIELD OP NUMBER [for N s|m|h], "
                "for example 'cpu.total > 90 for 10 s'"
            )
        seconds = float(match["for"] or 0) * _UNITS[match["unit"] or ""]
        return cls(
            stream=stream,
            field=match["field"],
            op=match["op"],
            threshold=float(match["threshold"]),
            for_seconds=seconds,
            name=name,
            severity=severity,
        )

    @property
    def condition(self) -> str:
        """The rule as text, e.g. ``cpu.total > 90 for 10 s``."""
        text = f"{self.field} {self.op} {self.threshold:g}"
        return f"{text} for {self.for_seconds:g} s" if self.for_seconds else text

    def value(self, event: Event) -> float | None:
        """The event's numeric value of ``field`` (dotted path), or None."""
        value: Any = event.data
        for part in self.field.split("."):
            if not isinstance(value, Mapping):
                return None
            value = value.get(part)
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        return float(value) if math.isfinite(value) else None

    def holds(self, value: float) -> bool:
        """Whether ``value`` meets the condition."""
        return OPERATORS[self.op](value, self.threshold)


@dataclass
class _RuleState:
    firing: bool = False
    #: ts of the first event of the current run of holding events
    pending_since: float | None = None
    last_value: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class Alerts(Source):
    """Evaluates ``rules`` on every event of their streams and publishes each firing and
    each recovery to ``stream`` (default ``alerts``)."""

    def __init__(
        self,
        rules: Iterable[AlertRule],
        *,
        stream: str = ALERTS_STREAM,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.rules = list(rules)
        if not self.rules:
            raise ConfigError("Alerts needs at least one rule")
        names = [r.name for r in self.rules]
        duplicate = {n for n in names if names.count(n) > 1}
        if duplicate:
            raise ConfigError(f"alert rule names must be unique; repeated: {sorted(duplicate)}")
        self.stream = validate_stream_name(stream)
        if any(r.stream == self.stream for r in self.rules):
            raise ConfigError(f"a rule cannot watch the alerts stream {self.stream!r} itself")
        super().__init__(f"alerts.{self.stream}")
        self.clock = clock
        self.lease_ttl = 3.0
        self._state: dict[str, _RuleState] = {}
        #: set once the engine follows its streams: events from then on are evaluated
        self.ready = threading.Event()

    def firing(self) -> list[str]:
        """Names of the rules firing now (as this process last saw them)."""
        return [name for name, s in self._state.items() if s.firing]

    def run(self, emit: Emit, stopping: threading.Event) -> None:
        """Follow the rules' streams and publish transitions until stopped."""
        # The engine reads streams as well as feeding one: it runs on a whole Hub.
        hub = cast("Hub", self._hub)
        assert hub is not None
        streams = sorted({r.stream for r in self.rules})
        sub = hub.subscribe(streams)
        try:
            cursor = {s: hub.head(s) for s in streams}
            self._state = self._published_state()
            self.ready.set()
            while not stopping.is_set():
                try:
                    events, _ = sub.get(TICK)
                except Overflow:  # we fell behind: read what was dropped from the store
                    events = [e for s in streams for e in hub.read(s, cursor[s], 100_000)]
                for event in events:
                    if event.seq <= cursor.get(event.stream, 0):
                        continue
                    cursor[event.stream] = event.seq
                    for rule in self.rules:
                        if rule.stream == event.stream:
                            self._evaluate(rule, event, emit)
                self._expire(emit)
        finally:
            self.ready.clear()
            hub.unsubscribe(sub)

    def _published_state(self) -> dict[str, _RuleState]:
        """What the alerts stream says is firing (the latest transition of each rule)."""
        hub = cast("Hub", self._hub)
        state = {r.name: _RuleState() for r in self.rules}
        for event in hub.history(self.stream, 10_000):
            current = state.get(str(event.data.get("rule")))
            if current is not None:
                current.firing = event.data.get("state") == "firing"
                since = event.data.get("since")
                current.pending_since = float(since) if current.firing and since else None
        return state

    def _evaluate(self, rule: AlertRule, event: Event, emit: Emit) -> None:
        value = rule.value(event)
        if value is None:
            return
        state = self._state.setdefault(rule.name, _RuleState())
        state.last_value = value
        if rule.holds(value):
            if state.pending_since is None:
                state.pending_since = event.ts
            if not state.firing and event.ts - state.pending_since >= rule.for_seconds:
                self._transition(rule, state, "firing", emit)
        else:
            state.pending_since = None
            if state.firing:
                self._transition(rule, state, "resolved", emit)

    def _expire(self, emit: Emit) -> None:
        """Fire rules whose condition has held for their duration by the clock, even if no
        event arrived since (a stream that goes quiet while over the threshold)."""
        now = self.clock()
        for rule in self.rules:
            state = self._state.get(rule.name)
            if (
                state is not None
                and not state.firing
                and state.pending_since is not None
                and now - state.pending_since >= rule.for_seconds
            ):
                self._transition(rule, state, "firing", emit)

    def _transition(self, rule: AlertRule, state: _RuleState, to: str, emit: Emit) -> None:
        state.firing = to == "firing"
        log.info("livedash: alert %r %s (value %s)", rule.name, to, state.last_value)
        emit(
            self.stream,
            {
                "rule": rule.name,
                "state": to,
                "stream": rule.stream,
                "field": rule.field,
                "condition": rule.condition,
                "value": state.last_value,
                "threshold": rule.threshold,
                "severity": rule.severity,
                "since": state.pending_since,
            },
        )
