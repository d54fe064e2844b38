"""Polling an HTTP JSON endpoint as a source.

Every ``seconds`` the URL is fetched; the JSON answer (or the part of it that ``select``
names, a dotted path) is published: an object as one event, a list of objects as one event
each, anything else as ``{"value": ...}``. A failed request is logged, counted in
``errors`` and retried at the next period; it never stops the source.
"""

from __future__ import annotations

import json
import logging
import threading
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any

from livedash.errors import ConfigError
from livedash.events import validate_stream_name
from livedash.producers import Emit, Source, ticks

log = logging.getLogger(__name__)

#: Largest response body read, in bytes.
MAX_RESPONSE = 4 * 1024 * 1024


def select_path(doc: Any, path: str | None) -> Any:
    """``doc`` at the dotted ``path`` (list items by index), or None where it is missing."""
    if not path:
        return doc
    for part in path.split("."):
        if isinstance(doc, dict):
            doc = doc.get(part)
        elif isinstance(doc, list) and part.isdigit() and int(part) < len(doc):
            doc = doc[int(part)]
        else:
            return None
    return doc


class HTTPPoll(Source):
    """Fetches ``url`` every ``seconds`` and publishes the JSON it returns to ``stream``."""

    def __init__(
        self,
        url: str,
        stream: str,
        seconds: float = 5.0,
        *,
        select: str | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float = 10.0,
        name: str | None = None,
        single: bool = True,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"HTTPPoll needs an http:// or https:// URL, got {url!r}")
        if seconds <= 0:
            raise ConfigError(f"seconds must be > 0, got {seconds!r}")
        self.stream = validate_stream_name(stream)
        super().__init__(name or f"http.{self.stream}", single=single)
        self.url = url
        self.seconds = float(seconds)
        self.select = select
        self.headers = {"Accept": "application/json", **(headers or {})}
        self.timeout = timeout
        self.lease_ttl = max(3 * self.seconds, 5.0)

    def fetch(self) -> Any:
        """One request; the decoded JSON (raises ``OSError`` / ``ValueError`` on failure)."""
        request = urllib.request.Request(self.url, headers=self.headers)
        with urllib.request.urlopen(request, timeout=self.timeout) as response:
            body = response.read(MAX_RESPONSE + 1)
        if len(body) > MAX_RESPONSE:
            raise ValueError(f"response over {MAX_RESPONSE} bytes")
        return json.loads(body)

    def run(self, emit: Emit, stopping: threading.Event) -> None:
        """Poll once per period until stopped."""
        for _ in ticks(self.seconds, stopping):
            try:
                doc = select_path(self.fetch(), self.select)
            except (OSError, ValueError) as exc:  # URLError and HTTPError are OSErrors
                self.errors += 1
                log.warning("livedash: polling %s failed: %s", self.url, exc)
                continue
            items = doc if isinstance(doc, list) else [doc]
            for item in items:
                emit(self.stream, item if isinstance(item, dict) else {"value": item})
