"""``medocr inspect``: check that images can be read; print pages, size and dpi."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from medocr.cli._common import EXIT_OK, EXIT_SOME_FAILED
from medocr.errors import MedocrError


def add_parser(subparsers: Any) -> None:
    """Register ``inspect`` on the ``medocr`` sub-parsers."""
    inspect = subparsers.add_parser(
        "inspect",
        help="check that images can be read; print pages, size and dpi",
        description="Read each file as medocr would (PNG, JPEG, TIFF incl. multi-page, BMP) "
        "and print one line per page, or a clear error per bad file.",
    )
    inspect.add_argument("files", nargs="+", help="image files")
    inspect.add_argument(
        "--max-pixels",
        type=int,
        default=150_000_000,
        help="refuse images larger than this many pixels (default 150e6)",
    )
    inspect.set_defaults(func=_cmd_inspect)


def _cmd_inspect(args: argparse.Namespace) -> int:
    from medocr.io import read_pages

    failed = 0
    for path in args.files:
        try:
            pages = read_pages(path, max_pixels=args.max_pixels)
        except MedocrError as exc:
            print(f"error: {exc}", file=sys.stderr)
            failed += 1
            continue
        for page in pages:
            height, width = page.shape
            dpi = f"{page.dpi:g} dpi" if page.dpi else "dpi unknown"
            print(f"{path}\tpage {page.page_index}\t{width}x{height}\t{dpi}")
    return EXIT_SOME_FAILED if failed else EXIT_OK
