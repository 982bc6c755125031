"""The ``medocr`` command: one subcommand per verb, each a thin wrapper over the API.

Run ``medocr --help`` or ``medocr COMMAND --help``. Exit status: 0 on success, 1 when
some inputs failed (the rest were processed), 2 on a usage or fatal error (130 when
interrupted, 141 when the reader of stdout went away).

One module per verb (``synth``, ``train`` with ``classify``, ``export``, ``read``,
``batch``, ``evaluate``, ``demo``, ``template``, ``fields``, ``inspect``, ``dataset``,
``lexicon``, ``review``), each with ``add_parser(subparsers)`` and its ``_cmd_*`` handlers;
what they share (exit statuses, the progress line, argument types, the pipeline options, the one
way to write a file) is in :mod:`medocr.cli._common`. ``python -m medocr.cli`` runs
:func:`main`.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence

from medocr._version import __version__
from medocr.cli import (
    batch,
    dataset,
    demo,
    evaluate,
    export,
    fields,
    inspect,
    lexicon,
    read,
    review,
    synth,
    template,
    train,
)
from medocr.cli._common import EXIT_ERROR, EXIT_OK, EXIT_SOME_FAILED, octal_umask, run_command

__all__ = ["EXIT_ERROR", "EXIT_OK", "EXIT_SOME_FAILED", "build_parser", "main"]

#: The verb modules, in the order ``medocr --help`` lists them.
VERBS = (synth, train, export, read, batch, evaluate, demo, template, fields, inspect, dataset,
         lexicon, review)  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser of the ``medocr`` command."""
    parser = argparse.ArgumentParser(
        prog="medocr",
        description="Read the handwriting on French death certificates (CépiDc). "
        "Generate synthetic certificates, inspect images, manage form templates.",
    )
    parser.add_argument("--version", action="version", version=f"medocr {__version__}")
    parser.add_argument(
        "--umask",
        type=octal_umask,
        default=0o077,
        metavar="OCTAL",
        help="permission mask of every file and folder medocr creates (default 077: "
        "private to the user, as certificates are confidential; 027 shares with the group)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for verb in VERBS:
        verb.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``medocr`` console script; return the exit status."""
    args = build_parser().parse_args(argv)
    previous_umask = os.umask(args.umask)
    try:
        return run_command(args)
    finally:
        os.umask(previous_umask)  # main() may be called in-process, e.g. by tests
