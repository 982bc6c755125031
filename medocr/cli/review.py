"""``medocr review``: the review station, a local web page to correct the fields in review."""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

from medocr.cli._common import EXIT_OK

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765


def add_parser(subparsers: Any) -> None:
    """Register ``review`` on the ``medocr`` sub-parsers."""
    review = subparsers.add_parser(
        "review",
        help="correct the fields routed to review, in a browser (a local web page)",
        description="Serve the review station of a results database (medocr batch --out): "
        "a page that shows each field routed to review, cut from its scan, with the "
        "machine's reading and its alternatives. Keys: 1-5 (as the first key) choose an "
        "alternative, Enter saves the text typed, Tab skips, Esc marks the field illegible. "
        "Corrections go into a corrections table of the same database (the machine's "
        "readings are never changed); several operators can review one database at once. "
        "The station listens on 127.0.0.1 only and prints an address holding a random "
        "access token (every request without it is refused): open it in a browser. Stop "
        "with Ctrl+C. See docs/review.md.",
    )
    review.add_argument("db", metavar="RESULTS.db", help="results database of medocr batch")
    review.add_argument(
        "--host",
        help=f"address to listen on (default {DEFAULT_HOST}: this machine only). Another "
        "address lets other machines reach the station (the token is still needed, but "
        "travels unencrypted): a warning is printed",
    )
    review.add_argument(
        "--port",
        type=_port,
        default=DEFAULT_PORT,
        help=f"port to listen on (default {DEFAULT_PORT}; 0: any free port, printed)",
    )
    review.add_argument(
        "--reviewer",
        help="name the corrections are recorded under (default: your login name)",
    )
    review.add_argument(
        "--images",
        metavar="DIR",
        help="the folder the batch read, if the scans moved since (default: the one the "
        "database recorded)",
    )
    review.add_argument(
        "--no-browser", action="store_true", help="print the address, do not open a browser"
    )
    review.set_defaults(func=_cmd_review)


def _cmd_review(args: argparse.Namespace) -> int:
    from medocr.review.app import is_loopback, serve

    host = args.host if args.host is not None else DEFAULT_HOST
    remote = not is_loopback(host)
    if remote:  # only reachable with an explicit --host
        print(
            f"medocr review: warning: listening on {host}, not only on this machine: anyone "
            "who can reach it and learns the token can read and correct these certificates",
            file=sys.stderr,
        )
    serve(
        args.db,
        host=host,
        port=args.port,
        reviewer=args.reviewer or _login_name(),
        images=args.images,
        allow_remote=remote,
        open_browser=not args.no_browser,
    )
    return EXIT_OK


def _login_name() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name in this environment
        return "reviewer"


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"not a port number (0 to 65535): {text!r}")
    return port
