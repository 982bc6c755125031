"""``medocr inspect``: check that images can be read; print pages, size and dpi."""

from __future__ import annotations

import argparse
from typing import Any

from medocr.cli._common import each_file


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

    def describe(path: str) -> None:
        for page in read_pages(path, max_pixels=args.max_pixels):
            height, width = page.shape
            dpi = f"{page.dpi:g} dpi" if page.dpi else "dpi unknown"
            print(f"{path}\tpage {page.page_index}\t{width}x{height}\t{dpi}")

    return each_file(args.files, describe)
