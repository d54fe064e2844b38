"""The ``livedash`` command."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from livedash.apps import APPS, AppOptions, create
from livedash.errors import LivedashError

log = logging.getLogger("livedash")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="livedash",
        description="Push-based real-time dashboards for Plotly Dash.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = commands.add_parser(
        "run",
        help="serve an app with the Dash development server (one process)",
        description="Serve an app with the Dash development server: one process, threaded, "
        "producers in process.",
    )
    run.add_argument(
        "app",
        nargs="?",
        default="seed",
        help=f"the app to serve: {', '.join(sorted(APPS))} (default: seed), or the path of "
        "your own Dash file (path/to/app.py, whose `app` is served; keep its app.run() under "
        "if __name__ == '__main__'; --store and --transport apply to the built-in apps only)",
    )
    run.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    # $PORT as the default, as Dash's own app.run() does; argparse converts and checks it.
    run.add_argument(
        "--port",
        type=int,
        default=os.environ.get("PORT", "8050"),
        help="port to bind (default: $PORT, else 8050)",
    )
    run.add_argument(
        "--store",
        default="sqlite:///livedash.db",
        help="where streams are kept: memory://, sqlite:///path.db (default: "
        "sqlite:///livedash.db, in the working directory) or redis://host:port/db",
    )
    run.add_argument(
        "--transport",
        choices=["push", "poll"],
        default="push",
        help="push: livedash event stream (default); poll: the classic dcc.Interval recipe",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``livedash`` console script."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        app = create(args.app, AppOptions(store=args.store, transport=args.transport))
    except LivedashError as exc:
        print(f"livedash: error: {exc}", file=sys.stderr)
        return 2
    where = f"http://{args.host}:{args.port}/"
    log.info(
        "livedash: serving %s (%s, store %s) on %s", args.app, args.transport, args.store, where
    )
    app.run(host=args.host, port=args.port, debug=False, threaded=True)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
