"""Griffe extension for the API reference: show Sphinx roles in docstrings as code.

livedash's docstrings use Sphinx roles (:class:`~livedash.Hub`, :meth:`unsubscribe`), which
read well in the source and in ``help()``. mkdocstrings renders Markdown, where a role would
show literally; this turns each into inline code (``Hub`` for ``~livedash.Hub``).
"""

from __future__ import annotations

import re
from typing import Any

import griffe

ROLE = re.compile(r":(?:class|func|meth|attr|mod|exc|data|obj):`(~?)([^`]+)`")


def _as_code(match: re.Match[str]) -> str:
    short, target = match.group(1), match.group(2)
    return f"`{target.rsplit('.', 1)[-1] if short else target}`"


class RstRoles(griffe.Extension):
    """Rewrite Sphinx roles in every docstring as Markdown inline code."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = ROLE.sub(_as_code, obj.docstring.value)
