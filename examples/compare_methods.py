"""Compare every reading method on the same data, in one run, into one table.

Methods: the segmentation path with HOG + LightGBM and with the CNN character classifier
(when their bundles are given), the CRNN with greedy, beam, lexicon word beam and word beam
+ bigram decoding, the medocr pipeline's per-field-kind decoding (certificates only), and
Tesseract 5 (``fra``, when installed; on the first ``--tesseract-lines`` items). With
``--attention BUNDLE`` an attention recognizer's rows (the same four decoders and the
pipeline, "Attention greedy" ... "medocr pipeline, attention (per-kind decoders)") are
added to every table, read from the same items.

Data: ``--certificates`` synthetic certificates (generated with ``medocr synth --seed 31``
into ``--work`` when missing; their text fields), and the validation line sets
``poilus-lines/val`` and ``lectaurep-lines/val`` from ``--data`` (skipped when absent).
Columns: CER, WER, exact match, automation rate at 1% error (share of items that can be
accepted on each method's own confidence with <= 1% wrong) and lines/s on this machine.
The table goes to ``benchmarks/RESULTS.md`` (section "comparison").

    python examples/compare_methods.py [--certificates 500] [--hog-bundle DIR]
        [--cnn-bundle DIR] [--attention BUNDLE] [--data ../shared/data] [--no-record]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from medocr.evaluate.compare import (
    certificate_items,
    comparison_rows,
    crnn_runs,
    line_items,
    markdown_table,
    segmentation_run,
    tesseract_run,
)
from medocr.pipeline import Pipeline

ROOT = Path(__file__).resolve().parents[1]
SEED = 31


def certificates(work: Path, count: int) -> Path:
    """Generate (or reuse) `count` synthetic certificates."""
    folder = work / f"certs-seed{SEED}"
    subprocess.run(
        [sys.executable, "-m", "medocr.cli", "synth", "--count", str(count), "--seed", str(SEED),
         "--out", str(folder), "--workers", "2", "--quiet"],
        check=True,
    )  # fmt: skip
    return folder


def classifiers(args: argparse.Namespace) -> dict[str, object]:
    """The character classifiers given on the command line, by method name."""
    from medocr.classify import load_classifier

    found = {}
    for name, path in (("HOG + LightGBM", args.hog_bundle), ("CNN", args.cnn_bundle)):
        if path:
            found[f"segmentation + {name}"] = load_classifier(path)
        else:
            print(f"no --{name.split()[0].lower()}-bundle: the {name} row is skipped")
    return found


def compare(items, pipelines, classifier_map, tesseract_lines, with_pipeline):
    """Rows of every method on `items`: classifiers, each pipeline's recognizer, Tesseract."""
    runs = []
    for name, classifier in classifier_map.items():
        runs.append(segmentation_run(items, classifier, pipelines[0].lexicon, name))
    for pipeline in pipelines:
        runs += crnn_runs(items, pipeline, with_pipeline=with_pipeline)
    tesseract = tesseract_run(items, tesseract_lines)
    if tesseract is None:
        print("tesseract not installed: its row is skipped")
    else:
        runs.append(tesseract)
    return comparison_rows(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--certificates", type=int, default=500)
    parser.add_argument("--work", default=str(ROOT / "benchmarks" / "_work"))
    parser.add_argument("--data", default=os.environ.get("MEDOCR_DATA", "../shared/data"))
    parser.add_argument("--max-lines", type=int, default=0, help="per line set (0 = all)")
    parser.add_argument("--tesseract-lines", type=int, default=150)
    parser.add_argument("--hog-bundle", help="HOG + LightGBM classifier bundle")
    parser.add_argument("--cnn-bundle", help="CNN classifier bundle")
    parser.add_argument("--model", default="fr-crnn-small", help="recognizer bundle")
    parser.add_argument(
        "--attention", metavar="BUNDLE", help="attention recognizer bundle: adds its rows"
    )
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    pipelines = [Pipeline(model=model) for model in (args.model, args.attention) if model]
    classifier_map = classifiers(args)
    tables = []
    folder = certificates(Path(args.work), args.certificates)
    items = certificate_items(folder, pipelines[0], args.certificates)
    rows = compare(items, pipelines, classifier_map, args.tesseract_lines, with_pipeline=True)
    tables.append(markdown_table(
        f"{args.certificates} synthetic certificates (seed {SEED}): {len(items)} text fields "
        "(causes, intervals, date)", rows))  # fmt: skip
    for name, sub in (("poilus-lines/val", "poilus-lines"), ("lectaurep-lines/val",
                                                               "lectaurep-lines")):  # fmt: skip
        path = Path(args.data) / sub / "val.jsonl"
        if not path.exists():
            print(f"{path} not found: {name} skipped")
            continue
        items = line_items(path, args.max_lines or None)
        rows = compare(items, pipelines, classifier_map, args.tesseract_lines, False)
        tables.append(markdown_table(f"{name}: {len(items)} real lines", rows))
    command = "python examples/compare_methods.py " + " ".join(sys.argv[1:])
    models = ", ".join(p.steps["model"] for p in pipelines)
    body = "\n\n".join([f"- command: `{command.strip()}`", f"- models: {models}", *tables])
    print(body)
    if not args.no_record:
        sys.path.insert(0, str(ROOT / "benchmarks"))
        from results import record

        record("comparison", "All methods side by side (headline table)", body)


if __name__ == "__main__":
    main()
