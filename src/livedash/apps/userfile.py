"""``livedash run path/to/app.py``: serve a user's own Dash file like a built-in app."""

from __future__ import annotations

import importlib.util
import os
import re
import sys
from pathlib import Path
from typing import Any

from livedash.errors import ConfigError

#: Packages removed from Dash 2+; importing them is the classic recipe's first failure.
_OLD_PACKAGES = {
    "dash_core_components": "dcc",
    "dash_html_components": "html",
}


#: Flask's app.run() returns without serving while this is "true" (set by `flask run`).
_FLASK_CLI = "FLASK_RUN_FROM_CLI"


def is_app_file(name: str) -> bool:
    """True when the CLI's APP argument names a Python file rather than a built-in app."""
    return name.endswith(".py") or "/" in name or "\\" in name


def syntax_error_message(exc: SyntaxError, shown: str | None = None) -> str:
    """One line naming the file and line of ``exc`` and what Python says is wrong there
    (``syntax error in app.py, line 4: invalid syntax: def f(:``); ``shown`` is how to
    name the file (default: the path in ``exc``)."""
    where = shown or exc.filename or "<unknown file>"
    line = f", line {exc.lineno}" if exc.lineno else ""
    code = (exc.text or "").strip()
    return f"syntax error in {where}{line}: {exc.msg}" + (f": {code}" if code else "")


def _module_name(path: Path) -> str:
    # Dash(__name__) finds the app's assets/ folder through sys.modules[__name__].__file__,
    # so the module is registered under a name that nothing else in the process uses.
    stem = re.sub(r"\W", "_", path.stem)
    if stem.isidentifier() and stem not in sys.modules:
        return stem
    return f"livedash_user_{stem}"


def load_app_file(path_text: str) -> Any:
    """Import the Python file at ``path_text`` and return its Dash app.

    The app is the module's ``app`` variable, or else its only ``dash.Dash`` instance. The file
    is imported, not run as ``__main__``; an unguarded ``app.run()`` in it returns at once
    (Flask says so), and ``livedash run`` serves the app on its own host and port.
    """
    from dash import Dash

    path = Path(path_text).expanduser().resolve()
    if not path.is_file():
        raise ConfigError(
            f"no such file: {path_text}; give the path of a Python file with a Dash app"
        )
    name = _module_name(path)
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ConfigError(f"cannot import {path_text}: not a Python source file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    # Like `python app.py`: the file's own folder comes first, so its sibling modules import.
    sys.path.insert(0, str(path.parent))
    # A file that calls app.run() unguarded would start Dash's own server here, on Dash's
    # port, and block. Flask's app.run() returns at once (saying why) when its own CLI is
    # running; livedash run is such a CLI, for the length of the import.
    previous = os.environ.get(_FLASK_CLI)
    os.environ[_FLASK_CLI] = "true"
    try:
        spec.loader.exec_module(module)
    except ModuleNotFoundError as exc:
        sys.modules.pop(name, None)
        old = _OLD_PACKAGES.get((exc.name or "").split(".")[0])
        if old is None:
            raise
        raise ConfigError(
            f"{path_text} imports {exc.name}, which Dash 2 replaced: "
            f"use `from dash import dcc, html` (then `{old}.` names work as before)"
        ) from None
    except SyntaxError as exc:
        sys.modules.pop(name, None)
        # The traceback would show only livedash's import machinery above the one line that
        # matters: the file and line to fix (which may be a module the file imports).
        if exc.filename == str(path):
            raise ConfigError(syntax_error_message(exc, path_text)) from None
        raise ConfigError(f"cannot import {path_text}: {syntax_error_message(exc)}") from None
    except BaseException:
        sys.modules.pop(name, None)
        raise
    finally:
        if previous is None:
            os.environ.pop(_FLASK_CLI, None)
        else:
            os.environ[_FLASK_CLI] = previous
    app = getattr(module, "app", None)
    if isinstance(app, Dash):
        return app
    found = [value for value in vars(module).values() if isinstance(value, Dash)]
    if len(found) == 1:
        return found[0]
    what = "several Dash apps" if found else "no Dash app"
    raise ConfigError(
        f"{path_text} defines {what} at module level; name the one to serve `app` "
        "(app = Dash(__name__))"
    )
