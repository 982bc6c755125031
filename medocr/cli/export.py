"""``medocr export``: results to CSV/JSON/ALTO/PAGE or training lines, or a bundle to ONNX.

A results database exports its pages (``--format csv|jsonl|json|alto|page``) or, with
``--corrections --format training``, its operators' corrections as training lines
(:func:`medocr.review.training.export_corrections`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from medocr.cli._common import EXIT_OK, EXIT_SOME_FAILED, Progress, open_fraction, write_output
from medocr.errors import MedocrError


def add_parser(subparsers: Any) -> None:
    """Register ``export`` on the ``medocr`` sub-parsers."""
    export = subparsers.add_parser(
        "export",
        help="export a results database (csv, jsonl, alto, page) or a bundle to ONNX",
        description="With a results database from `medocr batch`: write its pages as CSV "
        "(one row per field), JSON lines, ALTO v4 or PAGE XML (one file per page) into --out; "
        "failed inputs are listed in failed.tsv. With --corrections --format training: the "
        "fields operators corrected (medocr review) as training lines, cut from the scans "
        "exactly as reading cuts them, in OUT/images with OUT/train.jsonl and OUT/val.jsonl "
        "split by certificate (for medocr train recognizer --data "
        "corrections=OUT/train.jsonl,OUT/val.jsonl). With a recognizer bundle folder: convert its "
        "Keras model to ONNX with tf2onnx (opset 17), check it against TensorFlow (max "
        "difference 1e-4) and add it to the bundle; the runtime then uses ONNX Runtime.",
    )
    export.add_argument("source", help="results database (RESULTS.db) or recognizer bundle folder")
    export.add_argument(
        "--format",
        choices=("csv", "jsonl", "json", "alto", "page", "training"),
        help="results export format (training: with --corrections)",
    )
    export.add_argument(
        "--corrections",
        action="store_true",
        help="export the operators' corrections (needs --format training)",
    )
    export.add_argument(
        "--images",
        metavar="DIR",
        help="with --corrections: the folder the scans are in now (default: the one the "
        "batch read)",
    )
    export.add_argument(
        "--val-share",
        type=open_fraction,
        default=0.1,
        help="with --corrections: share of certificates for validation (default 0.1)",
    )
    export.add_argument("--out", help="output folder for a results export")
    export.add_argument(
        "--onnx",
        action="store_true",
        default=True,
        help="bundle export to ONNX (the only bundle format; kept for clarity)",
    )
    export.set_defaults(func=_cmd_export)


def _cmd_export(args: argparse.Namespace) -> int:
    source = Path(args.source)
    if args.corrections or args.format == "training":
        return _export_corrections(source, args)
    if source.is_dir():
        return _export_bundle(source)
    return _export_results(source, args.format, args.out)


def _export_bundle(bundle: Path) -> int:
    from medocr.recognize.export import export_onnx

    report = export_onnx(bundle)
    print(
        f"export: {bundle}/model.onnx ({report['onnx_bytes'] / 1e6:.1f} MB), max "
        f"difference from TensorFlow {report['max_abs_diff']:.1e}"
    )
    return EXIT_OK


def _export_results(db_path: Path, fmt: str | None, out: str | None) -> int:
    from medocr.batch import failures_tsv, load_failures, load_results
    from medocr.exports import export_results
    from medocr.fileio import check_outputs

    if fmt is None or out is None:
        raise MedocrError(f"{db_path}: exporting a results database needs --format and --out")
    try:
        results = load_results(db_path)
        failures = load_failures(db_path)
    except ValueError as exc:
        raise MedocrError(str(exc)) from exc
    check_outputs([db_path], [out])
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    files = export_results(results, fmt)
    for name, text in files.items():
        write_output(folder / name, text.encode("utf-8"))
    if failures:
        write_output(folder / "failed.tsv", failures_tsv(failures).encode("utf-8"))
    print(
        f"export: {len(results)} pages as {fmt} -> {folder} ({len(files)} files"
        + (f", {len(failures)} failed inputs listed in failed.tsv)" if failures else ")")
    )
    return EXIT_OK


def _export_corrections(db: Path, args: argparse.Namespace) -> int:
    from medocr.review.training import export_corrections

    if not args.corrections:
        raise MedocrError(
            "--format training exports operator corrections: add --corrections "
            f"(medocr export {db} --corrections --format training --out DIR)"
        )
    if args.format != "training":
        raise MedocrError("--corrections is only valid with --format training")
    if db.is_dir():
        raise MedocrError(f"{db}: --corrections needs a results database, not a folder")
    if args.out is None:
        raise MedocrError(f"{db}: exporting corrections needs --out")
    with Progress("export", "pages") as progress:
        try:
            summary = export_corrections(
                db, args.out, images=args.images, val_share=args.val_share, progress=progress
            )
        except ValueError as exc:
            raise MedocrError(str(exc)) from exc
    for page in summary.unreadable:
        print(f"error: {page}", file=sys.stderr)
    skipped = ", ".join(f"{n} {reason}" for reason, n in sorted(summary.skipped.items()))
    print(
        f"export: {summary.train_lines} train + {summary.val_lines} val lines "
        f"({summary.train_documents} + {summary.val_documents} certificates) from "
        f"{summary.fields_exported} of {summary.fields} corrected fields; fields skipped: "
        f"{skipped or 'none'}; {summary.illegible} illegible left out; "
        f"{len(summary.unreadable)} unreadable pages -> {summary.out} "
        f"({summary.seconds:.1f} s)"
    )
    nothing = not summary.train_lines and not summary.val_lines
    return EXIT_SOME_FAILED if summary.unreadable or nothing else EXIT_OK
