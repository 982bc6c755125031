"""``medocr export``: a results database to CSV/JSON/ALTO/PAGE, or a bundle to ONNX."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from medocr.cli._common import EXIT_OK, write_output
from medocr.errors import MedocrError


def add_parser(subparsers: Any) -> None:
    """Register ``export`` on the ``medocr`` sub-parsers."""
    export = subparsers.add_parser(
        "export",
        help="export a results database (csv, jsonl, alto, page) or a bundle to ONNX",
        description="With a results database from `medocr batch`: write its pages as CSV "
        "(one row per field), JSON lines, ALTO v4 or PAGE XML (one file per page) into --out; "
        "failed inputs are listed in failed.tsv. With a recognizer bundle folder: convert its "
        "Keras model to ONNX with tf2onnx (opset 17), check it against TensorFlow (max "
        "difference 1e-4) and add it to the bundle; the runtime then uses ONNX Runtime.",
    )
    export.add_argument("source", help="results database (RESULTS.db) or recognizer bundle folder")
    export.add_argument(
        "--format", choices=("csv", "jsonl", "json", "alto", "page"), help="results export format"
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
