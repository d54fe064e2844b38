"""Tailing a CSV or JSON Lines file as a source, like ``tail -F``.

Every complete line appended to the file becomes one event. A half-written last line waits
until its newline arrives; a file that is truncated or replaced (log rotation) is read again
from its start; a file that does not exist yet is waited for. (As with ``tail -F``, a file
rewritten in place to at least the length already read looks like one that grew.)

JSON Lines: each line is a JSON object (other JSON values are published as ``{"value": x}``).
CSV: the first line names the fields; numbers become numbers, empty cells ``None``.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import threading
from pathlib import Path
from typing import Any, Literal

from livedash.errors import ConfigError
from livedash.events import validate_stream_name
from livedash.producers import Emit, Source

log = logging.getLogger(__name__)

FileFormat = Literal["auto", "jsonl", "csv"]


def parse_cell(text: str) -> Any:
    """A CSV cell as a number where it is one (``"3"`` -> 3, ``"2.5"`` -> 2.5), else text."""
    if text == "":
        return None
    try:
        return int(text)
    except ValueError:
        pass
    try:
        number = float(text)
    except ValueError:
        return text
    return number if number == number and abs(number) != float("inf") else text


class FileTail(Source):
    """Follows ``path`` and publishes each new line to ``stream``.

    ``from_start=True`` publishes the lines already in the file first; by default only lines
    appended after the source starts are published. ``format="auto"`` picks CSV for
    ``.csv`` files and JSON Lines otherwise. ``poll`` is how often (seconds) the file is
    checked for growth.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        stream: str,
        *,
        format: FileFormat = "auto",
        from_start: bool = False,
        poll: float = 0.2,
        name: str | None = None,
        single: bool = True,
    ) -> None:
        self.path = Path(path)
        if format == "auto":
            format = "csv" if self.path.suffix.lower() == ".csv" else "jsonl"
        if format not in ("jsonl", "csv"):
            raise ConfigError(f"format must be 'auto', 'jsonl' or 'csv', got {format!r}")
        if poll <= 0:
            raise ConfigError(f"poll must be > 0 seconds, got {poll!r}")
        self.stream = validate_stream_name(stream)
        super().__init__(name or f"file.{self.stream}", single=single)
        self.format = format
        self.from_start = from_start
        self.poll = poll
        #: set once the file's starting position is taken: lines appended from then on are
        #: published (a file that does not exist yet counts as empty)
        self.ready = threading.Event()

    def run(self, emit: Emit, stopping: threading.Event) -> None:
        """Poll the file for new complete lines until stopped."""
        handle: io.BufferedReader | None = None
        inode: tuple[int, int] | None = None
        header: list[str] | None = None
        partial = b""
        first_open = True
        try:
            while not stopping.is_set():
                try:
                    stat = self.path.stat()
                except FileNotFoundError:
                    first_open = False  # appearing later, the whole file is new
                    self.ready.set()
                    stopping.wait(self.poll)
                    continue
                identity = (stat.st_dev, stat.st_ino)
                if handle is not None and (identity != inode or stat.st_size < handle.tell()):
                    # Rotated or truncated: start over on the new contents.
                    handle.close()
                    handle = None
                if handle is None:
                    handle = open(self.path, "rb")  # noqa: SIM115 - kept open across polls
                    inode, header, partial = identity, None, b""
                    if first_open and not self.from_start:
                        header = self._read_header(handle)
                        handle.seek(0, os.SEEK_END)
                    first_open = False
                    self.ready.set()
                chunk = handle.read()
                if chunk:
                    lines = (partial + chunk).split(b"\n")
                    partial = lines.pop()  # no newline yet: wait for the rest of the line
                    for raw in lines:
                        header = self._line(raw, header, emit)
                stopping.wait(self.poll)
        finally:
            self.ready.clear()
            if handle is not None:
                handle.close()

    def _read_header(self, handle: io.BufferedReader) -> list[str] | None:
        if self.format != "csv":
            return None
        first = handle.readline()
        if not first.endswith(b"\n"):
            handle.seek(0)
            return None
        return next(csv.reader([first.decode("utf-8", "replace").rstrip("\r\n")]), None)

    def _line(self, raw: bytes, header: list[str] | None, emit: Emit) -> list[str] | None:
        text = raw.decode("utf-8", "replace").rstrip("\r")
        if not text.strip():
            return header
        if self.format == "csv":
            cells = next(csv.reader([text]))
            if header is None:
                return cells
            if len(cells) != len(header):
                self.errors += 1
                log.warning(
                    "livedash: %s: %d cells for %d columns", self.path, len(cells), len(header)
                )
                return header
            emit(self.stream, {k: parse_cell(v) for k, v in zip(header, cells, strict=True)})
            return header
        try:
            value = json.loads(text)
        except ValueError as exc:
            self.errors += 1
            log.warning("livedash: %s: a line is not JSON (%s); skipped", self.path, exc)
            return header
        emit(self.stream, value if isinstance(value, dict) else {"value": value})
        return header
