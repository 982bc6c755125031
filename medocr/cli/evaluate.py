"""``medocr evaluate``: score a reading method on annotated data; fit the calibration."""

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
)
from medocr.errors import MedocrError

#: Suffixes of results databases (any SQLite file is one too, by its header).
DB_SUFFIXES = (".db", ".sqlite", ".sqlite3")
#: What the truth is when evaluating on a results database (``metrics["run"]["truth"]``).
TRUTH_SOURCE = "operator corrections in DB"


def add_parser(subparsers: Any) -> None:
    """Register ``evaluate`` on the ``medocr`` sub-parsers."""
    evaluate = subparsers.add_parser(
        "evaluate",
        help="score a reading method on annotated data: metrics JSON and an HTML report",
        description="Read annotated data and compare with the truth: a folder of certificate "
        "images with .json truth beside them (medocr synth output or annotated scans), a "
        "JSONL line set, or a results database (medocr batch) whose operator corrections "
        "(medocr review) are the truth: its corrected pages are read again and the corrected "
        "fields scored (illegible ones left out). Writes OUT/metrics.json (CER, WER, exact "
        "match per field kind and per field, certificates all right, calibration error, "
        "automation rate at 0.5/1/2%% error, character confusions, speed) and "
        "OUT/report.html (tables, figures, the worst readings with their crops). "
        "--fit-calibration fits the confidence calibration on these (validation) data and "
        "stores it in a bundle.",
    )
    evaluate.add_argument(
        "data", help="certificate folder, JSONL line set or results database with corrections"
    )
    evaluate.add_argument("--out", required=True, help="report folder")
    evaluate.add_argument(
        "--limit", type=int, help="read at most this many certificates/lines/pages"
    )
    evaluate.add_argument(
        "--images",
        metavar="DIR",
        help="with a results database: the folder its scans are in now (default: the one "
        "the batch read)",
    )
    evaluate.add_argument("--title", default="medocr evaluation", help="report title")
    evaluate.add_argument("--training", help="a training run's results.json: plot its curves")
    evaluate.add_argument("--ignore-case", action="store_true", help="compare in lower case")
    evaluate.add_argument(
        "--ignore-accents", action="store_true", help="compare without accents or ligatures"
    )
    evaluate.add_argument(
        "--fit-calibration",
        metavar="BUNDLE",
        help="fit the confidence calibration on these data (raw confidences) and write it as "
        "calibration.json into this recognizer bundle folder (re-hashed)",
    )
    add_pipeline_options(evaluate)
    evaluate.set_defaults(func=_cmd_evaluate)


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from medocr.evaluate.fields import field_report
    from medocr.evaluate.report import write_report
    from medocr.pipeline import Pipeline

    config = pipeline_config(args)
    if args.fit_calibration:
        config = config.with_options(calibrate=False)  # fit on raw confidences
    pipeline = Pipeline(config)
    data = Path(args.data)
    corrections = _is_results_db(data)
    if args.images is not None and not corrections:
        raise MedocrError(f"{data}: --images only applies to a results database")
    run = _evaluation_run(data, pipeline, args.limit, images=args.images)
    options = {"ignore_case": args.ignore_case, "ignore_accents": args.ignore_accents}
    metrics = field_report(run.outcomes, **options)
    per_unit = "pages" if corrections else "lines" if data.suffix == ".jsonl" else "certificates"
    metrics["run"] = {
        "data": str(args.data),
        **({"truth": TRUTH_SOURCE} if corrections else {}),
        per_unit: run.units,
        "failed": len(run.errors),
        f"{per_unit}_per_s": round(run.units / run.seconds, 3) if run.seconds else None,
        **{k: v for k, v in pipeline.steps.items() if not isinstance(v, dict)},
        **{f"ms_{k}": round(1000 * v / max(1, run.units), 1) for k, v in run.stages.items()},
    }
    metrics["steps"] = pipeline.steps  # the full configuration, readers' settings, hashes
    metrics["errors"] = run.errors
    report = write_report(args.out, args.title, metrics, run, training=args.training)
    overall = metrics["overall"]
    print(
        f"evaluate: {run.units} {per_unit}, {overall['fields']} fields: CER {overall['cer']:.1%}, "
        f"WER {overall['wer']:.1%}, exact {overall['exact']:.1%}, automation at 1% error "
        f"{overall['automation']['0.01']['share']:.1%} -> {report}"
    )
    if corrections:
        print(f"evaluate: {len(run.outcomes)} fields had operator truth ({TRUTH_SOURCE})")
    for error in run.errors:
        print(f"error: {error}", file=sys.stderr)
    if args.fit_calibration:
        if corrections:
            fields = len(run.outcomes)
            source = f"{TRUTH_SOURCE} {data.name} ({run.units:,} pages, {fields:,} fields)"
        else:
            source = _calibration_source(data, run.units, per_unit, len(run.outcomes))
        _write_calibration(Path(args.fit_calibration), run, source)
    return EXIT_SOME_FAILED if run.errors else EXIT_OK


def _calibration_source(data: Path, units: int, per_unit: str, fields: int) -> str:
    """Describe calibration data; synthetic certificates are named by their run seed."""
    try:
        synth = json.loads((data / "synth.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return f"{data} ({units:,} {per_unit}, {fields:,} fields)"
    return (
        f"{units:,} synthetic certificates of {data.name} (`medocr synth --seed "
        f"{synth.get('seed')}`, template {synth.get('template')}; {fields:,} fields)"
    )


def _is_results_db(data: Path) -> bool:
    """Whether `data` names a results database: a SQLite file, or a .db/.sqlite path."""
    from medocr.evaluate.run import is_results_db

    return data.suffix.lower() in DB_SUFFIXES or (data.is_file() and is_results_db(data))


def _evaluation_run(
    data: Path, pipeline: Any, limit: int | None, *, images: str | None = None
) -> Any:
    from medocr.evaluate.run import (
        evaluate_certificates,
        evaluate_corrections,
        evaluate_lines,
        is_results_db,
    )

    if _is_results_db(data):
        if data.is_file() and not is_results_db(data):
            raise MedocrError(f"{data}: not a results database (not a SQLite file)")
        return evaluate_corrections(data, pipeline, images=images, limit=limit)
    if data.is_file() and data.suffix != ".jsonl":
        raise MedocrError(
            f"{data}: not a certificate folder, a JSONL line set (.jsonl) or a results "
            "database (SQLite)"
        )
    try:
        if data.suffix == ".jsonl":
            decode = pipeline.reader("cause").decode
            return evaluate_lines(data, pipeline.recognizer, decode, limit=limit)
        return evaluate_certificates(data, pipeline, limit=limit)
    except (ValueError, OSError) as exc:
        raise MedocrError(f"{data}: {exc}") from exc


def _write_calibration(bundle: Path, run: Any, source: str) -> None:
    from medocr.bundles import is_shipped, write_bundle_file
    from medocr.evaluate.calibration import CALIBRATION_FILE, fit_calibration

    outcomes = run.outcomes
    calibration = fit_calibration(
        [o.kind for o in outcomes], [o.confidence for o in outcomes],
        [o.correct() for o in outcomes], source=source, texts=[o.text for o in outcomes],
    )  # fmt: skip
    text = json.dumps(calibration.to_dict(), indent=1)
    write_bundle_file(bundle, CALIBRATION_FILE, text.encode("utf-8"))
    kinds = ", ".join(
        f"{k} ({v.fields} fields, accept at 1% error: "
        + ("never" if v.thresholds["0.01"] is None else f">= {v.thresholds['0.01']:.3f}")
        + ")"
        for k, v in calibration.kinds.items()
    )
    print(f"evaluate: calibration written to {bundle / CALIBRATION_FILE}: {kinds}")
    if is_shipped(bundle):
        print(
            "evaluate: a shipped bundle changed: run `python -m medocr.bundles update-shipped` "
            "to record its new hashes in the package, or loading will refuse it"
        )
