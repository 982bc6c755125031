"""The ``medocr`` command: one subcommand per verb, each a thin wrapper over the API.

Run ``medocr --help`` or ``medocr COMMAND --help``. Exit status: 0 on success, 1 when
some inputs failed (the rest were processed), 2 on a usage or fatal error.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from medocr._version import __version__
from medocr.errors import MedocrError
from medocr.lexicon_cli import add_lexicon_parser

EXIT_OK, EXIT_SOME_FAILED, EXIT_ERROR = 0, 1, 2


def _cmd_synth(args: argparse.Namespace) -> int:
    from medocr.synth.runner import print_progress, synthesize

    summary = synthesize(
        args.out,
        args.count,
        seed=args.seed,
        start=args.start,
        template=args.template,
        workers=args.workers,
        image_format=args.format,
        overwrite=args.overwrite,
        progress=None if args.quiet else print_progress,
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

    def progress(done: int, total: int) -> None:
        if not args.quiet:
            print(f"\rsynth-lines: {done}/{total}", end="", file=sys.stderr, flush=True)

    path = write_line_set(args.out, args.count, seed=args.seed, progress=progress)
    if not args.quiet:
        print(file=sys.stderr)
    print(f"synth-lines: {args.count} lines -> {path}")
    return EXIT_OK


def _cmd_train_recognizer(args: argparse.Namespace) -> int:
    from medocr.recognize.train import DataSource, TrainConfig, Trainer

    sources = [DataSource.parse(spec) for spec in args.data]
    config = TrainConfig(
        sources=sources,
        out_dir=args.out,
        preset=args.preset,
        height=args.height,
        batch_size=args.batch_size,
        steps_per_epoch=args.steps_per_epoch,
        epochs=args.epochs,
        learning_rate=args.learning_rate,
        patience=args.patience,
        seed=args.seed,
        init=args.init,
        max_val_lines=args.max_val_lines,
        strategy=args.strategy,
        notes={"command": "medocr " + " ".join(sys.argv[1:])},
    )
    results = Trainer(config).run()
    best = results["best"]
    print(
        f"train: {results['epoch']} epochs, best mean validation CER "
        f"{best:.4f} at epoch {results['best_epoch']} -> {Path(args.out) / 'best'}"
    )
    return EXIT_OK


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
    from medocr.fileio import check_outputs, write_atomic

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
        write_atomic(folder / name, text.encode("utf-8"))
    if failures:
        write_atomic(folder / "failed.tsv", failures_tsv(failures).encode("utf-8"))
    print(
        f"export: {len(results)} pages as {fmt} -> {folder} ({len(files)} files"
        + (f", {len(failures)} failed inputs listed in failed.tsv)" if failures else ")")
    )
    return EXIT_OK


def _pipeline_config(args: argparse.Namespace) -> Any:
    from medocr.config import PipelineConfig

    try:
        config = PipelineConfig.from_file(args.config) if args.config else PipelineConfig()
        options = {"cause_decoder": args.decoder, "model": args.model}
        return config.with_options(**{k: v for k, v in options.items() if v is not None})
    except ValueError as exc:
        raise MedocrError(str(exc)) from exc


def _cmd_read(args: argparse.Namespace) -> int:
    from medocr.exports import export_results
    from medocr.fileio import check_json_target, check_outputs, write_atomic
    from medocr.pipeline import Pipeline

    check_outputs(args.files, [args.json, args.out])
    if args.json:
        check_json_target(args.json)
    pipeline = Pipeline(_pipeline_config(args))
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
        write_atomic(Path(args.json), export_results(results, "json")["results.json"].encode())
    if args.format is not None:
        files = export_results(results, args.format)
        if args.out:
            folder = Path(args.out)
            folder.mkdir(parents=True, exist_ok=True)
            for name, text in files.items():
                write_atomic(folder / name, text.encode("utf-8"))
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


def _cmd_batch(args: argparse.Namespace) -> int:
    from medocr.batch import BatchTerminated, progress_printer, run_batch
    from medocr.fileio import check_outputs

    check_outputs([args.input_dir], [args.out])
    try:
        summary = run_batch(
            args.input_dir,
            args.out,
            config=_pipeline_config(args),
            workers=args.workers,
            scheduler=args.scheduler,
            progress=None if args.quiet else progress_printer(),
            force_config=args.force_config,
            mode=0o666 & ~args.umask,  # the database honours --umask
        )
    except ValueError as exc:
        raise MedocrError(str(exc)) from exc
    except BatchTerminated as exc:
        print(
            f"medocr: {exc} after recording {exc.finished} files (they are kept; rerun to resume)",
            file=sys.stderr,
        )
        return 128 + exc.signum
    unreadable = (
        f" ({summary.unreadable} of them not readable files, see the failures)"
        if summary.unreadable
        else ""
    )
    print(
        f"batch: {summary.total} files, {summary.skipped} already done, {summary.done} read "
        f"({summary.pages} pages), {summary.failed} failed{unreadable}, in "
        f"{summary.seconds:.1f} s -> {args.out}"
    )
    return EXIT_SOME_FAILED if summary.failed else EXIT_OK


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from medocr.evaluate.fields import field_report
    from medocr.evaluate.report import write_report
    from medocr.pipeline import Pipeline

    config = _pipeline_config(args)
    if args.fit_calibration:
        config = config.with_options(calibrate=False)  # fit on raw confidences
    pipeline = Pipeline(config)
    run = _evaluation_run(Path(args.data), pipeline, args.limit)
    options = {"ignore_case": args.ignore_case, "ignore_accents": args.ignore_accents}
    metrics = field_report(run.outcomes, **options)
    per_unit = "lines" if Path(args.data).suffix == ".jsonl" else "certificates"
    metrics["run"] = {
        "data": str(args.data),
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
    for error in run.errors:
        print(f"error: {error}", file=sys.stderr)
    if args.fit_calibration:
        source = _calibration_source(Path(args.data), run.units, per_unit, len(run.outcomes))
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


def _evaluation_run(data: Path, pipeline: Any, limit: int | None) -> Any:
    from medocr.evaluate.run import evaluate_certificates, evaluate_lines

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


def _cmd_demo(args: argparse.Namespace) -> int:
    from medocr.pipeline import Pipeline
    from medocr.synth.runner import write_certificate
    from medocr.templates import load_template

    template = load_template(args.template)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    write_certificate(out, args.seed, args.index, template, "png")
    stem = f"cert-{args.index:06d}"
    truth = json.loads((out / f"{stem}.json").read_text(encoding="utf-8"))
    print(
        f"Generated {out / (stem + '.png')} (template {template.ref}, seed {args.seed}, "
        f"font {truth['writer']['font']}, rotation {truth['scan']['rotation_deg']:+.1f} deg)\n"
    )
    result = Pipeline(template=args.template).read(out / f"{stem}.png")[0]
    print(_demo_table(result, truth))
    (out / f"{stem}.result.json").write_text(result.to_json(), encoding="utf-8")
    print(f"\nFull result (confidences, alternatives, boxes): {out / (stem + '.result.json')}")
    return EXIT_OK


def _demo_table(result: Any, truth: dict) -> str:
    """Read fields beside the certificate's ground truth."""
    expected = {}
    for field in truth["fields"]:
        text = field["text"].replace("\n", " ")
        expected[field["name"]] = ("X" if field["value"] else "") if "value" in field else text
    rows = [("field", "conf", "route", "read", "ground truth")]
    for field in result.fields:
        text = field.text if field.error is None else f"(error: {field.error})"
        rows.append(
            (field.name, f"{field.confidence:.2f}", field.route, text, expected.get(field.name, ""))
        )
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = [
        f"{r[0]:<{widths[0]}}  {r[1]:>{widths[1]}}  {r[2]:<{widths[2]}}  {r[3]:<{widths[3]}}  "
        f"{r[4]}"
        for r in rows
    ]
    lines.insert(1, "-" * max(len(line) for line in lines))
    return "\n".join(lines)


def _cmd_template_list(args: argparse.Namespace) -> int:
    from medocr.templates import list_templates, load_template

    for name in list_templates():
        template = load_template(name)
        print(f"{template.id}\t{template.version}\t{len(template.fields)} fields\t{template.title}")
    return EXIT_OK


def _cmd_template_show(args: argparse.Namespace) -> int:
    from medocr.templates import load_template

    template = load_template(args.template)
    print(f"{template.ref}: {template.title}")
    print(
        f"page {template.width_mm:g}x{template.height_mm:g} mm = {template.width_px}x"
        f"{template.height_px} px at {template.dpi} dpi; {len(template.elements)} printed "
        f"elements; source {template.source}"
    )
    for field in template.fields:
        extra = f" group={field.group} value={field.value}" if field.group else ""
        print(
            f"  {field.name:<16} {field.kind:<9} box={list(field.box)} lines={field.lines}{extra}"
        )
    return EXIT_OK


def _cmd_template_validate(args: argparse.Namespace) -> int:
    from medocr.templates import load_template

    failed = 0
    for path in args.files:
        try:
            template = load_template(Path(path))
        except MedocrError as exc:
            print(f"invalid: {exc}", file=sys.stderr)
            failed += 1
        else:
            print(f"ok: {path} ({template.ref}, {len(template.fields)} fields)")
    return EXIT_SOME_FAILED if failed else EXIT_OK


def _cmd_template_render(args: argparse.Namespace) -> int:
    from medocr.synth.runner import encode_image
    from medocr.templates import load_template
    from medocr.templates.draw import render_form

    template = load_template(args.template)
    Path(args.out).write_bytes(encode_image(render_form(template), "png", template.dpi))
    print(f"wrote the blank form of {template.ref} to {args.out}")
    return EXIT_OK


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
    failed = 0
    for path in args.files:
        try:
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
        except MedocrError as exc:
            print(f"error: {exc}", file=sys.stderr)
            failed += 1
    return EXIT_SOME_FAILED if failed else EXIT_OK


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
        (out / name).write_bytes(encode(crop.image, "png", 200))
        record["fields"].append({**crop.to_dict(), "image": name})
    text = json.dumps(record, indent=1, ensure_ascii=False)
    (out / f"{stem}-fields.json").write_text(text, encoding="utf-8")


def _write_png(path: Path, image: Any) -> None:
    import cv2

    ok, data = cv2.imencode(".png", image)
    if not ok:
        raise MedocrError(f"{path}: could not encode the PNG")
    path.write_bytes(data.tobytes())


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


def _cmd_dataset_build(args: argparse.Namespace) -> int:
    from medocr.dataset.build import build_dataset, print_progress
    from medocr.dataset.sources import Source
    from medocr.dataset.splits import parse_splits

    sources = [Source.parse(kind, spec) for kind, spec in args.inputs or []]
    summary = build_dataset(
        args.out,
        sources,
        seed=args.seed,
        splits=parse_splits(args.splits),
        stratify=args.stratify,
        levels=args.levels.split(","),
        alphabet=_dataset_alphabet(args.alphabet),
        workers=args.workers,
        scheduler=args.scheduler,
        item_size=args.item_size,
        max_shard_bytes=int(args.shard_mb * 2**20),
        overwrite=args.overwrite,
        progress=None if args.quiet else print_progress,
    )
    errors = summary.card["errors"]
    print(
        f"dataset: {summary.units} units, {len(summary.built)} work items built, "
        f"{len(summary.skipped)} already there, {len(summary.failed)} failed, "
        f"{errors['skipped_inputs']} inputs skipped (see build.log), in "
        f"{summary.seconds:.1f}s -> {args.out}"
    )
    return EXIT_SOME_FAILED if summary.failed or errors["skipped_inputs"] else EXIT_OK


def _cmd_dataset_stats(args: argparse.Namespace) -> int:
    from medocr.dataset.card import load_card, render_card

    card = load_card(args.dataset)
    if args.json:
        print(json.dumps(card, indent=1, ensure_ascii=False))
    else:
        print(render_card(card, _dataset_alphabet(args.alphabet)), end="")
    return EXIT_OK


def _cmd_dataset_field_lines(args: argparse.Namespace) -> int:
    from medocr.dataset.fieldlines import write_field_lines

    def progress(done: int, total: int) -> None:
        if not args.quiet and (done % 50 == 0 or done == total):
            print(f"field-lines: {done}/{total} certificates", file=sys.stderr)

    summary = write_field_lines(
        args.certificates, args.out, config=_pipeline_config(args), workers=args.workers,
        progress=progress,
    )  # fmt: skip
    for error in summary.failed:
        print(f"error: {error}", file=sys.stderr)
    print(
        f"field-lines: {summary.lines} lines from {summary.certificates} certificates "
        f"({summary.fields_skipped} fields whose line count differs from the truth left out, "
        f"{len(summary.failed)} failed) -> {Path(args.out) / 'lines.jsonl'}"
    )
    return EXIT_SOME_FAILED if summary.failed else EXIT_OK


def _cmd_dataset_pack(args: argparse.Namespace) -> int:
    from medocr.dataset.packed import PackSource, pack_line_sets

    try:
        sources = [PackSource.parse(spec) for spec in args.source]
    except ValueError as exc:
        raise MedocrError(str(exc)) from exc
    counts = pack_line_sets(
        sources, args.out, height=args.height, quality=args.quality,
        image_format=args.image_format, seed=args.seed,
    )  # fmt: skip
    size = Path(args.out).stat().st_size / 2**20
    lines = sum(n for key, n in counts.items() if key != "unreadable")
    print(
        f"pack: {lines} lines ({counts['unreadable']} unreadable skipped), "
        f"{size:.1f} MiB -> {args.out}"
    )
    return EXIT_OK


def _dataset_alphabet(path: str | None) -> Any:
    """Alphabet from a text file (its characters) or a JSON file with ``chars``."""
    if path is None:
        return None
    from medocr.text import Alphabet

    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise MedocrError(f"{path}: unreadable alphabet file ({exc})") from exc
    if Path(path).suffix == ".json":
        try:
            data = json.loads(text)
            chars = data.get("alphabet", data)["chars"]
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise MedocrError(f"{path}: no alphabet 'chars' in this JSON ({exc})") from exc
        return Alphabet(tuple(chars))
    return Alphabet.from_texts(text.splitlines())


def _add_pipeline_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", help="pipeline configuration file (JSON or YAML; see medocr.PipelineConfig)"
    )
    parser.add_argument(
        "--decoder",
        choices=("wordbeam", "beam", "greedy"),
        help="cause decoder (default wordbeam: lexicon word beam search with bigrams)",
    )
    parser.add_argument("--model", help="recognizer bundle name or folder (default fr-crnn-small)")


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
        type=_umask,
        default=0o077,
        metavar="OCTAL",
        help="permission mask of every file and folder medocr creates (default 077: "
        "private to the user, as certificates are confidential; 027 shares with the group)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    synth = sub.add_parser(
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

    lines = sub.add_parser(
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

    train = sub.add_parser("train", help="train models (recognizer)")
    tsub_train = train.add_subparsers(dest="train_command", metavar="MODEL", required=True)
    recognizer = tsub_train.add_parser(
        "recognizer",
        help="train or fine-tune the CRNN line recognizer (CTC)",
        description="Train the CRNN on a weighted mix of JSONL line sets. Checkpoints every "
        "epoch in OUT/checkpoint (rerun the same command to resume), best model "
        "as a bundle in OUT/best, curves in OUT/results.json, TensorBoard logs in "
        "OUT/logs. Early stopping on the mean validation CER.",
    )
    recognizer.add_argument(
        "--data",
        action="append",
        required=True,
        metavar="SPEC",
        help="NAME=TRAIN.jsonl[,VAL.jsonl][@WEIGHT]; repeat for each source",
    )
    recognizer.add_argument("--out", required=True, help="run folder")
    recognizer.add_argument(
        "--preset",
        default="small",
        choices=("tiny", "small", "large"),
        help="model size (default small, for CPU)",
    )
    recognizer.add_argument("--height", type=int, default=48, help="input height (default 48)")
    recognizer.add_argument("--batch-size", type=int, default=32)
    recognizer.add_argument("--steps-per-epoch", type=int, default=500)
    recognizer.add_argument("--epochs", type=int, default=60)
    recognizer.add_argument("--learning-rate", type=float, default=1e-3)
    recognizer.add_argument(
        "--patience", type=int, default=6, help="stop after this many epochs without improvement"
    )
    recognizer.add_argument("--seed", type=int, default=0)
    recognizer.add_argument(
        "--init", default=None, help="fine-tune from this bundle (path or shipped name)"
    )
    recognizer.add_argument(
        "--max-val-lines",
        type=int,
        default=600,
        help="validation lines per source (sampled once, seeded)",
    )
    recognizer.add_argument(
        "--strategy",
        default=None,
        choices=("default", "mirrored", "multiworker"),
        help="tf.distribute strategy (multiworker reads TF_CONFIG)",
    )
    recognizer.set_defaults(func=_cmd_train_recognizer)
    from medocr.classify.cli import add_classifier_parser

    add_classifier_parser(tsub_train)

    export = sub.add_parser(
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

    read = sub.add_parser(
        "read",
        help="read certificates and print their fields",
        description="Read certificate images with the shipped model, lexicon and template "
        "(offline) and print, per page, each field's text, confidence and route (accept or "
        "review). Intervals and dates also show their normalised value.",
    )
    read.add_argument("files", nargs="+", help="certificate images (PNG, JPEG, TIFF...)")
    _add_pipeline_options(read)
    read.add_argument("--json", help="also write all results as JSON to this file")
    read.add_argument(
        "--format",
        choices=("json", "jsonl", "csv", "alto", "page"),
        help="print results in this format instead of the table (or write them into --out)",
    )
    read.add_argument("--out", help="folder for --format output (one file per page for XML)")
    read.set_defaults(func=_cmd_read)

    batch = sub.add_parser(
        "batch",
        help="read a folder of scans into a resumable SQLite results database",
        description="Read every file under INPUT_DIR (recursively, sorted) into the SQLite "
        "database --out: one row per file, page and field, with model, lexicon and template "
        "versions. A rerun skips the files already done and retries failed ones; each file "
        "is recorded in one transaction, so an interrupted run loses nothing finished. Inputs "
        "are never modified. Entries that are not readable files (broken links, FIFOs, "
        "folders that cannot be listed...) are recorded as failures with their reason. The "
        "database refuses a run with another input folder or configuration (see "
        "--force-config) and a second run while one is going on. Exit status 1 when any "
        "file failed (its error is recorded), 2 on a fatal error, 143 on SIGTERM.",
    )
    batch.add_argument("input_dir", help="folder of scans")
    batch.add_argument(
        "--out",
        required=True,
        help="results database (e.g. RESULTS.db; created readable by you only, with any "
        "missing folders; RESULTS.db.lock beside it marks the run in progress)",
    )

    def workers_count(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = 0
        if value < 1:
            raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, not {text!r}")
        return value

    batch.add_argument(
        "--workers",
        type=workers_count,
        default=1,
        help="local worker processes (default 1: in process); they end with the command",
    )
    batch.add_argument(
        "--force-config",
        action="store_true",
        help="go on with a database made from another input folder or configuration (the "
        "files done keep their results; its runs table keeps each run's configuration)",
    )
    batch.add_argument(
        "--scheduler", help="Dask scheduler address (tcp://host:8786): read on its workers"
    )
    batch.add_argument("--quiet", action="store_true", help="no progress line")
    _add_pipeline_options(batch)
    batch.set_defaults(func=_cmd_batch)

    evaluate = sub.add_parser(
        "evaluate",
        help="score a reading method on annotated data: metrics JSON and an HTML report",
        description="Read annotated data and compare with the truth: a folder of certificate "
        "images with .json truth beside them (medocr synth output or annotated scans), or a "
        "JSONL line set. Writes OUT/metrics.json (CER, WER, exact match per field kind and per "
        "field, certificates all right, calibration error, automation rate at 0.5/1/2%% "
        "error, character confusions, speed) and OUT/report.html (tables, figures, the worst "
        "readings with their crops). --fit-calibration fits the confidence calibration on "
        "these (validation) data and stores it in a bundle.",
    )
    evaluate.add_argument("data", help="certificate folder or JSONL line set")
    evaluate.add_argument("--out", required=True, help="report folder")
    evaluate.add_argument("--limit", type=int, help="read at most this many certificates/lines")
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
    _add_pipeline_options(evaluate)
    evaluate.set_defaults(func=_cmd_evaluate)

    demo = sub.add_parser(
        "demo",
        help="generate one certificate, read it with the shipped model, compare with the truth",
        description="Generate one synthetic certificate, read it with the default pipeline "
        "(shipped recognizer, lexicon and template, offline) and print each field's reading, "
        "confidence and route beside the ground truth.",
    )
    demo.add_argument("--out", default="demo-output", help="output folder (default demo-output)")
    demo.add_argument("--seed", type=int, default=2026, help="seed (default 2026)")
    demo.add_argument("--index", type=int, default=0, help="certificate number (default 0)")
    demo.add_argument("--template", default=None, help="template id or JSON file")
    demo.set_defaults(func=_cmd_demo)

    template = sub.add_parser(
        "template",
        help="list, show, validate or draw form templates",
        description="Form templates are JSON files; see "
        "docs/templates.md to write one for another form.",
    )
    tsub = template.add_subparsers(dest="template_command", metavar="ACTION", required=True)
    tsub.add_parser("list", help="shipped templates").set_defaults(func=_cmd_template_list)
    show = tsub.add_parser("show", help="fields of a template")
    show.add_argument("template", nargs="?", default=None, help="id or JSON file (default form)")
    show.set_defaults(func=_cmd_template_show)
    validate = tsub.add_parser("validate", help="check template JSON files")
    validate.add_argument("files", nargs="+", help="template JSON files")
    validate.set_defaults(func=_cmd_template_validate)
    draw = tsub.add_parser("render", help="draw the blank printed form as a PNG")
    draw.add_argument("template", nargs="?", default=None, help="id or JSON file (default form)")
    draw.add_argument("--out", required=True, help="PNG file to write")
    draw.set_defaults(func=_cmd_template_render)

    fields = sub.add_parser(
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
        type=_fraction,
        default=0.6,
        help="refuse registrations scoring below this (default 0.6)",
    )
    fields.set_defaults(func=_cmd_fields)

    inspect = sub.add_parser(
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

    dataset = sub.add_parser(
        "dataset",
        help="build a training dataset (all granularities, split by writer) or print its card",
        description="Build sharded, resumable datasets of certificate, field, line, word and "
        "character units from synth output, annotated scans, JSONL line sets and "
        "ALTO/PAGE XML; see docs/dataset.md.",
    )
    dsub = dataset.add_subparsers(dest="dataset_command", metavar="ACTION", required=True)
    dbuild = dsub.add_parser(
        "build",
        help="build (or resume) a dataset",
        description="Cut every input into units, split by writer/document (seeded), write "
        "TFRecord shards + manifest.jsonl + card. Bad inputs are logged in build.log "
        "and skipped. Rerunning the same command resumes from the finished shards.",
    )
    dbuild.add_argument("out", help="dataset folder (created)")
    for flag, kind, what in (
        ("--certificates", "certificates", "folder of certificate JSON (synth output or scans)"),
        ("--lines", "lines", "JSONL line set"),
        ("--xml", "xml", "ALTO or PAGE XML file, or folder of them"),
    ):
        dbuild.add_argument(
            flag,
            dest="inputs",
            action="append",
            type=lambda spec, kind=kind: (kind, spec),
            metavar="[NAME=]PATH",
            help=f"{what}; repeatable",
        )
    dbuild.add_argument(
        "--levels",
        default="certificate,field,line,word,char",
        help="unit levels to emit (default: all five)",
    )
    dbuild.add_argument(
        "--splits",
        default="train=0.8,val=0.1,test=0.1",
        help="split ratios by document (default train=0.8,val=0.1,test=0.1)",
    )
    dbuild.add_argument(
        "--stratify", action="store_true", help="split each source in the ratios exactly"
    )
    dbuild.add_argument("--seed", type=int, default=0, help="split seed (default 0)")
    dbuild.add_argument(
        "--alphabet", default=None, help="report characters outside this alphabet (file)"
    )
    dbuild.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    dbuild.add_argument(
        "--scheduler", default=None, help="Dask scheduler address: run on that cluster"
    )
    dbuild.add_argument(
        "--item-size", type=int, default=None, help="inputs per work item (default per kind)"
    )
    dbuild.add_argument(
        "--shard-mb", type=float, default=64, help="shard size bound in MiB (default 64)"
    )
    dbuild.add_argument(
        "--overwrite", action="store_true", help="rebuild a folder built with other settings"
    )
    dbuild.add_argument("--quiet", action="store_true", help="no progress line")
    dbuild.set_defaults(func=_cmd_dataset_build)
    dlines = dsub.add_parser(
        "field-lines",
        help="cut annotated certificates into training lines the way reading cuts them",
        description="Register each certificate image of a folder (with its .json truth beside "
        "it, as `medocr synth` writes), cut its text fields into lines exactly as `medocr read` "
        "does (same cleaning and paper framing), and write the lines whose count matches the "
        "truth as a JSONL line set for `medocr train recognizer --data`.",
    )
    dlines.add_argument("certificates", help="folder of certificate images with .json truth")
    dlines.add_argument("--out", required=True, help="output folder (images/ and lines.jsonl)")
    dlines.add_argument("--workers", type=int, default=1, help="local processes (default 1)")
    dlines.add_argument("--quiet", action="store_true", help="no progress lines")
    _add_pipeline_options(dlines)
    dlines.set_defaults(func=_cmd_dataset_field_lines)

    dpack = dsub.add_parser(
        "pack",
        help="pack line sets, resized to the model height, into one compact .npz",
        description="Resize every line of some JSONL line sets to the model height, "
        "re-encode it (WebP by default) and store all of them with their texts in one .npz "
        "(no pickle): the training data that `python -m medocr.recognize.portable` reads, "
        "small enough to carry to a machine without ../shared/data.",
    )
    dpack.add_argument(
        "--source",
        action="append",
        required=True,
        metavar="SPEC",
        help="NAME=FILE.jsonl[:train|val][#LIMIT]: a line set, its role (default train) and "
        "an optional number of lines drawn from it; repeat for each set",
    )
    dpack.add_argument("--out", required=True, help="output .npz")
    dpack.add_argument("--height", type=int, default=48, help="line height (default 48)")
    dpack.add_argument("--quality", type=int, default=60, help="lossy quality (default 60)")
    dpack.add_argument(
        "--image-format", default="webp", choices=("webp", "jpg"), help="default webp"
    )
    dpack.add_argument("--seed", type=int, default=0, help="draw of limited sets (default 0)")
    dpack.set_defaults(func=_cmd_dataset_pack)

    dstats = dsub.add_parser("stats", help="print a dataset's card")
    dstats.add_argument("dataset", help="dataset folder")
    dstats.add_argument("--json", action="store_true", help="print card.json instead")
    dstats.add_argument(
        "--alphabet", default=None, help="also list characters outside this alphabet (file)"
    )
    dstats.set_defaults(func=_cmd_dataset_stats)

    add_lexicon_parser(sub)
    return parser


def _fraction(text: str) -> float:
    """Parse a number within 0..1 (``--min-score``)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"not a number within 0..1: {text!r}")
    return value


def _umask(text: str) -> int:
    """Parse ``--umask`` (octal, e.g. 077 or 022)."""
    try:
        value = int(text, 8)
    except ValueError:
        value = -1
    if not 0 <= value <= 0o777:
        raise argparse.ArgumentTypeError(f"not an octal umask between 000 and 777: {text!r}")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``medocr`` console script."""
    args = build_parser().parse_args(argv)
    previous_umask = os.umask(args.umask)
    try:
        return _run(args)
    finally:
        os.umask(previous_umask)  # main() may be called in-process, e.g. by tests


def _run(args: argparse.Namespace) -> int:
    """Run the chosen subcommand; turn the errors users can act on into one line."""
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        status = func(args)
        sys.stdout.flush()  # a closed pipe fails here, not in the interpreter's last flush
        return status
    except MedocrError as exc:
        print(f"medocr: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except BrokenPipeError:
        return _closed_stdout()
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"medocr: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("medocr: interrupted (finished outputs are kept; rerun to resume)", file=sys.stderr)
        return 130


def _closed_stdout() -> int:
    """Stop quietly when the reader of stdout went away (``medocr ... | head``).

    Later writes (and the interpreter's final flush) go to /dev/null instead of raising
    again; the exit status is 141, a shell's status for a death by SIGPIPE.
    """
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return 141


if __name__ == "__main__":
    sys.exit(main())
