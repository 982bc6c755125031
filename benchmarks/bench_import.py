"""Benchmark: cost of ``import medocr`` (must stay light: no TensorFlow, < 0.5 s).

Runs ``python -c "import medocr"`` in fresh processes and records the median wall time,
the resident memory added and the heavy modules (if any) that got imported.

    python benchmarks/bench_import.py [--runs 7] [--no-record]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from results import record  # noqa: E402

HEAVY = ("tensorflow", "keras", "cv2", "PIL", "lightgbm", "sklearn", "numpy")
PROBE = (
    "import resource, sys, time\n"
    "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
    "t = time.perf_counter(); import medocr; dt = time.perf_counter() - t\n"
    "after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
    "import json; print(json.dumps({'seconds': dt, 'kib': after - before, "
    f"'heavy': [m for m in {HEAVY!r} if m in sys.modules]}}))\n"
)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    samples = []
    for _ in range(args.runs):
        out = subprocess.run(
            [sys.executable, "-c", PROBE], capture_output=True, text=True, check=True
        )
        samples.append(json.loads(out.stdout))
    seconds = statistics.median(s["seconds"] for s in samples)
    kib = statistics.median(s["kib"] for s in samples)
    heavy = sorted({m for s in samples for m in s["heavy"]})
    verdict = "met" if seconds < 0.5 and "tensorflow" not in heavy else "MISSED"
    body = (
        f"Fresh interpreter per run, {args.runs} runs.\n\n"
        f"| median import time | memory added (max RSS) | heavy modules imported |\n"
        f"|---:|---:|---|\n| {seconds * 1000:.1f} ms | {kib / 1024:.1f} MiB | "
        f"{', '.join(heavy) or 'none'} |\n\n"
        f"Target < 0.5 s and no TensorFlow: **{verdict}**."
    )
    print(body)
    if not args.no_record:
        record("import", "`import medocr` cost", body)


if __name__ == "__main__":
    main()
