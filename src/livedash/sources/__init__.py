"""Producers: where events come from (host metrics, a market feed, ...).

Sources do no publishing themselves; an app wires them to a :class:`~livedash.Hub`.
"""
