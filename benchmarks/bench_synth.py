"""Benchmark: synthetic certificates per second (A4, 200 dpi, PNG written to disk).

Target (issue "Foundation"): >= 5 certificates/s on 2 cores. Runs `synthesize` with 1 and
with 2 worker processes into a temporary folder and records the figures in RESULTS.md.

    python benchmarks/bench_synth.py [--count 60] [--no-record]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from results import record, use_data  # noqa: E402

from medocr.synth.runner import synthesize  # noqa: E402
from medocr.templates import load_template  # noqa: E402

TARGET = 5.0


def run(count: int, workers: int) -> tuple[float, float]:
    """Return (certificates/s, mean PNG size in KiB) for one run into a fresh folder."""
    with tempfile.TemporaryDirectory() as folder:
        summary = synthesize(folder, count, seed=123, workers=workers)
        if summary.failed:
            raise SystemExit(f"{len(summary.failed)} certificates failed: {summary.failed}")
        sizes = [p.stat().st_size for p in Path(folder).glob("*.png")]
    return count / summary.seconds, sum(sizes) / len(sizes) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=60, help="certificates per run")
    parser.add_argument("--no-record", action="store_true", help="print only")
    args = parser.parse_args()
    use_data()  # the sampler's CIM-10 words: $MEDOCR_DATA, else ../shared/data
    template = load_template()
    run(4, 1)  # warm caches (fonts, vocabulary) outside the measurement
    rows = []
    for workers in (1, 2):
        rate, size = run(args.count, workers)
        rows.append((workers, rate, size))
        print(f"workers={workers}: {rate:.2f} certificates/s, {size:.0f} KiB/PNG")
    best = max(rate for _, rate, _ in rows)
    verdict = "met" if best >= TARGET else "MISSED"
    table = ["| workers | certificates/s | mean PNG size |", "|---:|---:|---:|"]
    table += [f"| {w} | {r:.2f} | {s:.0f} KiB |" for w, r, s in rows]
    body = (
        f"{args.count} certificates per run, {template.width_px}x{template.height_px} px "
        f"({template.dpi} dpi A4), PNG to a temporary folder, seed 123, "
        f"{os.cpu_count()} CPUs visible. Worker processes include their start-up time.\n\n"
        + "\n".join(table)
        + f"\n\nTarget >= {TARGET:g} certificates/s on 2 cores: **{verdict}** "
        f"({best:.2f}/s)."
    )
    if not args.no_record:
        record("synth", "Synthetic certificates per second (`medocr synth`)", body)
        print("recorded in benchmarks/RESULTS.md")


if __name__ == "__main__":
    main()
