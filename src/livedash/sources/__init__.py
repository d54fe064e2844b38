"""Producers: where events come from (host metrics, a market feed, MQTT, files, HTTP, ...).

:class:`Source` is the interface for feeding streams from outside: subclass it, implement
``run(emit, stopping)``, and ``hub.add_source(...)`` runs it in one process of the
deployment. Ready ones: :class:`Every`, :class:`FileTail`, :class:`HTTPPoll` and
:class:`livedash.sources.mqtt.MQTTSource` (needs ``pip install livedash[mqtt]``). The
samplers in ``system`` and ``market`` do no publishing themselves; an app wires them to a
:class:`~livedash.Hub`.
"""

from livedash.producers import Emit, Every, Source
from livedash.sources.file import FileTail
from livedash.sources.http import HTTPPoll

__all__ = ["Emit", "Every", "FileTail", "HTTPPoll", "Source"]
