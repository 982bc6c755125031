"""``medocr synth`` and ``medocr synth-lines``: synthetic certificates and field lines."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from medocr.cli._common import EXIT_OK, EXIT_SOME_FAILED, Progress


def add_parser(subparsers: Any) -> None:
    """Register ``synth`` and ``synth-lines`` on the ``medocr`` sub-parsers."""
    synth = subparsers.add_parser(
        "synth",
        help="generate synthetic handwritten certificates with ground truth",
        description="Render filled certificates (printed form, handwriting from many fonts, "
        "simulated scan) as images plus ground-truth JSON (field, line, word and "
        "character boxes). Same --seed gives the same bytes. Rerunning into the "
        "same folder resumes: finished certificates are skipped.",
    )
    synth.add_argument("--count", type=int, required=True, help="number of certificates")
    synth.add_argument("--out", required=True, help="output folder (created)")
    synth.add_argument("--seed", type=int, default=0, help="run seed (default 0)")
    synth.add_argument(
        "--start",
        type=int,
        default=0,
        help="index of the first certificate, to extend a run (default 0)",
    )
    synth.add_argument(
        "--template",
        default=None,
        help="template id or JSON file (default: fr-deces-volet-medical)",
    )
    synth.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    synth.add_argument(
        "--format",
        choices=("png", "jpg"),
        default="png",
        help="image format (default png, lossless)",
    )
    synth.add_argument(
        "--overwrite",
        action="store_true",
        help="regenerate existing certificates / accept other settings",
    )
    synth.add_argument("--quiet", action="store_true", help="no progress line")
    synth.set_defaults(func=_cmd_synth)

    lines = subparsers.add_parser(
        "synth-lines",
        help="generate synthetic handwritten field lines (JSONL line set)",
        description="Render single field lines (causes, intervals, dates) by random writers, "
        "degraded like scans, as PNG files plus lines.jsonl "
        "({image, text, document}) for recognizer training.",
    )
    lines.add_argument("--count", type=int, required=True, help="number of lines")
    lines.add_argument("--out", required=True, help="output folder (created)")
    lines.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    lines.add_argument("--quiet", action="store_true", help="no progress line")
    lines.set_defaults(func=_cmd_synth_lines)


def _cmd_synth(args: argparse.Namespace) -> int:
    from medocr.synth.runner import synthesize

    with Progress("synth", "certificates") as progress:
        summary = synthesize(
            args.out,
            args.count,
            seed=args.seed,
            start=args.start,
            template=args.template,
            workers=args.workers,
            image_format=args.format,
            overwrite=args.overwrite,
            progress=None if args.quiet else progress,
        )
    rate = len(summary.written) / summary.seconds if summary.seconds else 0.0
    print(
        f"synth: {len(summary.written)} written, {len(summary.skipped)} already there, "
        f"{len(summary.failed)} failed, in {summary.seconds:.1f}s ({rate:.1f}/s) -> {args.out}"
    )
    for index, error in sorted(summary.failed.items()):
        print(f"synth: certificate {index} failed: {error}", file=sys.stderr)
    return EXIT_SOME_FAILED if summary.failed else EXIT_OK


def _cmd_synth_lines(args: argparse.Namespace) -> int:
    from medocr.synth.lines import write_line_set

    with Progress("synth-lines", "lines") as progress:
        path = write_line_set(
            args.out, args.count, seed=args.seed, progress=None if args.quiet else progress
        )
    print(f"synth-lines: {args.count} lines -> {path}")
    return EXIT_OK
