"""``medocr read``: read certificates and print (or write) their fields."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from medocr.cli._common import (
    EXIT_OK,
    EXIT_SOME_FAILED,
    add_pipeline_options,
    pipeline_config,
    write_output,
)
from medocr.errors import MedocrError


def add_parser(subparsers: Any) -> None:
    """Register ``read`` on the ``medocr`` sub-parsers."""
    read = subparsers.add_parser(
        "read",
        help="read certificates and print their fields",
        description="Read certificate images with the shipped model, lexicon and template "
        "(offline) and print, per page, each field's text, confidence and route (accept or "
        "review). Intervals and dates also show their normalised value.",
    )
    read.add_argument("files", nargs="+", help="certificate images (PNG, JPEG, TIFF...)")
    add_pipeline_options(read)
    read.add_argument("--json", help="also write all results as JSON to this file")
    read.add_argument(
        "--format",
        choices=("json", "jsonl", "csv", "alto", "page"),
        help="print results in this format instead of the table (or write them into --out)",
    )
    read.add_argument("--out", help="folder for --format output (one file per page for XML)")
    read.set_defaults(func=_cmd_read)


def _cmd_read(args: argparse.Namespace) -> int:
    from medocr.exports import export_results
    from medocr.fileio import check_json_target, check_outputs
    from medocr.pipeline import Pipeline

    check_outputs(args.files, [args.json, args.out])
    if args.json:
        check_json_target(args.json)
    pipeline = Pipeline(pipeline_config(args))
    results, failed = [], 0
    for path in args.files:
        try:
            pages = pipeline.read(path)
        except MedocrError as exc:
            print(f"medocr: error: {exc}", file=sys.stderr)
            failed += 1
            continue
        except Exception as exc:  # noqa: BLE001 - one bad file never stops the others
            print(f"medocr: error: {path}: unexpected {type(exc).__name__}: {exc}", file=sys.stderr)
            failed += 1
            continue
        results.extend(pages)
        if args.format is None:
            for page in pages:
                print(_result_table(page))
    if args.json:
        write_output(Path(args.json), export_results(results, "json")["results.json"].encode())
    if args.format is not None:
        files = export_results(results, args.format)
        if args.out:
            folder = Path(args.out)
            folder.mkdir(parents=True, exist_ok=True)
            for name, text in files.items():
                write_output(folder / name, text.encode("utf-8"))
        else:
            sys.stdout.write("".join(files.values()))
    return EXIT_SOME_FAILED if failed else EXIT_OK


def _result_table(result: Any) -> str:
    head = (
        f"{result.source} page {result.page_index}: template {result.template_id}, "
        f"registration {result.registration_score:.2f}, model {result.steps.get('model')}, "
        f"{sum(result.timings.values()):.2f} s"
    )
    rows = [("field", "kind", "conf", "route", "text")]
    for field in result.fields:
        text = field.text if field.error is None else f"(error: {field.error})"
        if field.value and field.kind in ("interval", "date"):
            value = {k: v for k, v in field.value.items() if k != "days"}
            text += "  " + json.dumps(value, ensure_ascii=False)
        rows.append((field.name, field.kind, f"{field.confidence:.2f}", field.route, text))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = [
        f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:>{widths[2]}}  {r[3]:<{widths[3]}}  "
        f"{r[4]}"
        for r in rows
    ]
    lines.insert(1, "-" * max(len(line) for line in lines[:1]))
    accepted = sum(f.route == "accept" for f in result.fields)
    return "\n".join([head, *lines, f"{accepted}/{len(result.fields)} fields accepted", ""])
