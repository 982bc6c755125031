"""Reproduce the character-classifier baseline table in one command.

Trains HOG+LightGBM and the small CNN on the real MNIST digits (80/20, seed 0),
scikit-learn's digits and synthetic certificate characters, tests the synthetic models
on real digits, and prints the Markdown table of ``benchmarks/RESULTS.md`` (accuracy,
macro-F1, training time, inference characters/s, model size, confusion PNGs in
``benchmarks/figures/``) with the target verdicts. It is the benchmark itself
(``benchmarks/bench_classify.py``), run without touching RESULTS.md unless ``--record``:

    python examples/compare_baselines.py [--data ../shared/data] [--synth-count 120]
        [--models hog-lgbm,cnn] [--record]

About 50 minutes on 2 CPU cores (the CNNs and HOG+LightGBM on the 67 synthetic
classes dominate; ``--models cnn`` or ``--synth-count 0`` for less). Needs
../shared/data (or ``MEDOCR_DATA``) for the MNIST rows; without it the other rows run.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

import bench_classify  # noqa: E402


def main() -> None:
    argv = sys.argv[1:]
    if "--record" in argv:
        argv.remove("--record")
    else:
        argv.append("--no-record")
    bench_classify.main(argv)


if __name__ == "__main__":
    main()
