"""Benchmark: does the shipped routing keep its promise on every field, written or empty?

Reads fresh synthetic certificates (``medocr synth --seed 4242``, never used for
calibration, which uses seed 41) with the default pipeline (calibrated routes at 1 %
error) and reports, per field name: fields, share accepted, share wrong among the
accepted, and the same for the fields whose truth is *written* (not blank). Written
to RESULTS.md, section "Routing per field".

    python benchmarks/bench_routing.py [--certificates 200] [--seed 4242] [--model fr-crnn-small]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from results import record, use_data  # noqa: E402

from medocr.evaluate.fields import FieldOutcome  # noqa: E402
from medocr.evaluate.run import evaluate_certificates  # noqa: E402
from medocr.pipeline import Pipeline  # noqa: E402
from medocr.synth.runner import synthesize  # noqa: E402

TARGET = 0.015  # the bound on wrong fields among the accepted, per field name


def routing_row(outcomes: list[FieldOutcome]) -> dict[str, float]:
    """Accepted share and error among accepted, overall and on written fields."""
    written = [o for o in outcomes if o.truth.strip()]
    row: dict[str, float] = {"fields": len(outcomes), "written": len(written)}
    for label, group in (("all", outcomes), ("written", written)):
        accepted = [o for o in group if o.route == "accept"]
        row[f"{label}_accepted"] = len(accepted) / len(group) if group else 0.0
        row[f"{label}_wrong"] = (
            sum(not o.correct() for o in accepted) / len(accepted) if accepted else 0.0
        )
        row[f"{label}_accepted_n"] = len(accepted)
    return row


def table(rows: dict[str, dict[str, float]]) -> str:
    """Markdown table of :func:`routing_row` results."""
    lines = [
        "| field | fields | accepted | wrong among accepted | written | written accepted "
        "| wrong among written accepted |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in rows.items():
        flag = " **over 1.5%**" if r["all_wrong"] > TARGET else ""
        lines.append(
            f"| {name} | {r['fields']:.0f} | {r['all_accepted']:.1%} | {r['all_wrong']:.2%}{flag} "
            f"| {r['written']:.0f} | {r['written_accepted']:.1%} | {r['written_wrong']:.2%} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--certificates", type=int, default=200)
    parser.add_argument("--seed", type=int, default=4242)
    parser.add_argument("--model", default="fr-crnn-small")
    parser.add_argument("--no-record", action="store_true", help="print, do not write RESULTS")
    args = parser.parse_args()
    use_data()  # the sampler's CIM-10 words: $MEDOCR_DATA, else ../shared/data
    pipeline = Pipeline(model=args.model)
    with tempfile.TemporaryDirectory() as work:
        synthesize(Path(work), args.certificates, seed=args.seed, workers=2)
        run = evaluate_certificates(work, pipeline)
    by_field: dict[str, list[FieldOutcome]] = defaultdict(list)
    for outcome in run.outcomes:
        by_field[outcome.field].append(outcome)
    rows = {name: routing_row(group) for name, group in by_field.items()}
    rows["all fields"] = routing_row(run.outcomes)
    over = [n for n, r in rows.items() if r["all_wrong"] > TARGET]
    body = (
        f"Model {pipeline.recognizer.ref}, calibrated routes at 1% error "
        f"(`{pipeline.steps['calibration']}`); {args.certificates} fresh synthetic certificates "
        f"(`medocr synth --seed {args.seed}`), {len(run.errors)} failed to read.\n\n"
        + table(rows)
        + "\n\nTarget: no field name over 1.5% wrong among its accepted: "
        + ("**met**." if not over else f"**MISSED** ({', '.join(over)}).")
    )
    print(body)
    if not args.no_record:
        record("routing", "Routing per field (accepted share and error)", body)


if __name__ == "__main__":
    main()
