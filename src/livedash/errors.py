"""Every exception livedash raises derives from :class:`LivedashError`."""

from __future__ import annotations


class LivedashError(Exception):
    """Root of all livedash errors; catch this to handle any of them."""


class PublishError(LivedashError, ValueError):
    """An event was rejected at publish time; nothing was stored.

    ``reason`` is a short machine-readable code (``bad_stream``, ``bad_data``,
    ``too_large``, ``too_many_streams``: a new stream past the deployment's limit, see
    ``Hub(max_streams=...)``), the message says what was wrong and how to fix it.
    """

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class StoreError(LivedashError):
    """The store could not complete an operation (I/O failure, bad URL)."""


class StoreUnavailable(StoreError):
    """The store's backing service cannot be reached right now; retry later."""


class ConfigError(LivedashError, ValueError):
    """A setting (store URL, app name, host/token combination) is invalid."""
