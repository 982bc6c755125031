"""``medocr fields``: register scans to the form template and crop every field."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from medocr.cli._common import each_file, fraction, write_output
from medocr.errors import MedocrError


def add_parser(subparsers: Any) -> None:
    """Register ``fields`` on the ``medocr`` sub-parsers."""
    fields = subparsers.add_parser(
        "fields",
        help="register certificate scans to the template and crop every field",
        description="Align each page to the form template and write one rectified PNG per "
        "field plus a JSON of field boxes (page pixels) and registration scores. "
        "A page that is not this form is reported as an error; other files go on.",
    )
    fields.add_argument("files", nargs="+", help="scanned certificates (PNG, JPEG, TIFF, BMP)")
    fields.add_argument("--out", required=True, help="output folder (created)")
    fields.add_argument("--template", default=None, help="template id or JSON file")
    fields.add_argument(
        "--debug",
        action="store_true",
        help="also draw the registered template over each page (*-debug.png)",
    )
    fields.add_argument(
        "--min-score",
        type=fraction,
        default=0.6,
        help="refuse registrations scoring below this (default 0.6)",
    )
    fields.set_defaults(func=_cmd_fields)


def _cmd_fields(args: argparse.Namespace) -> int:
    from medocr.fileio import check_outputs
    from medocr.io import read_pages
    from medocr.preprocess.forms import draw_registration, extract_fields, register
    from medocr.synth.runner import encode_image
    from medocr.templates import load_template

    check_outputs(args.files, [args.out])
    template = load_template(args.template)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    def crop_file(path: str) -> None:
        for page in read_pages(path):
            registration = register(page, template, min_score=args.min_score)
            crops = extract_fields(page, template, registration=registration)
            stem = f"{Path(path).stem}-p{page.page_index}"
            _write_fields(out, stem, page, template.ref, crops, encode_image)
            if args.debug:
                picture = draw_registration(page, template, registration)
                _write_png(out / f"{stem}-debug.png", picture)
            print(
                f"{path} page {page.page_index}: {len(crops)} fields, registration "
                f"score {registration.score:.2f} -> {out / stem}-*.png"
            )

    return each_file(args.files, crop_file)


def _write_fields(
    out: Path,
    stem: str,
    page: Any,
    template_ref: str,
    crops: list[Any],
    encode: Callable[..., bytes],
) -> None:
    record = {
        "source": page.source,
        "page_index": page.page_index,
        "template": template_ref,
        "fields": [],
    }
    for crop in crops:
        name = f"{stem}-{crop.name}.png"
        write_output(out / name, encode(crop.image, "png", 200))
        record["fields"].append({**crop.to_dict(), "image": name})
    text = json.dumps(record, indent=1, ensure_ascii=False)
    write_output(out / f"{stem}-fields.json", text.encode("utf-8"))


def _write_png(path: Path, image: Any) -> None:
    import cv2

    ok, data = cv2.imencode(".png", image)
    if not ok:
        raise MedocrError(f"{path}: could not encode the PNG")
    write_output(path, data.tobytes())
