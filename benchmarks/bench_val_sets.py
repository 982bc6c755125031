"""Benchmark: greedy CER of several recognizer bundles on every real validation set.

Compares bundles side by side on the same lines: each `val.jsonl` of ``../shared/data``
that has one (writers never seen in training), and ``synth-cut``, the lines the reading
pipeline cuts from fresh synthetic certificates (``medocr synth --seed 3``, the set of
``bench_recognizer.py``). Greedy decoding, TensorFlow backend (the ONNX copy gives the
same probabilities). The table goes to RESULTS.md, section "Greedy CER on every
validation set".

    python benchmarks/bench_val_sets.py --bundle shipped=fr-crnn-small \
        --bundle other=PATH [--data ../shared/data] [--certificates 100] [--shifts -2 0 2] \
        [--frames-per-char 0 2.5 3 3.5]

Each bundle is scored reading every line in one plain pass and as ``Recognizer.predict``
reads by default (dense lines widened to 3 frames per character); ``--frames-per-char``
scores other settings (the grid that chose the default).

An earlier shipped version is a bundle again with ``git show REV:PATH`` of each of its
files (RESULTS.md's 0.3.0 row: revision 0d810c3, ``medocr/data/models/fr-crnn-small/*``).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from bench_height import greedy_cer  # noqa: E402
from bench_recognizer import certificate_lines, real_lines  # noqa: E402
from results import record, use_data  # noqa: E402

from medocr.recognize.runtime import MAX_WIDENING, MIN_FRAMES_PER_CHAR, Recognizer  # noqa: E402

REAL_SETS = ("poilus", "lectaurep", "copiste", "peraire", "cremma-mss19")


def line_sets(data: Path, certificates: int) -> dict[str, tuple[list[np.ndarray], list[str]]]:
    """Every validation set: name -> (uint8 line images, texts)."""
    sets = {}
    for name in REAL_SETS:
        path = data / f"{name}-lines" / "val.jsonl"
        if path.exists():
            sets[f"{name}-val"] = real_lines(path, 0)
        else:
            print(f"bench_val_sets: {path} missing, skipped", file=sys.stderr)
    if certificates:
        sets["synth-cut"] = certificate_lines(certificates)
    return sets


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--bundle",
        action="append",
        required=True,
        metavar="LABEL=BUNDLE",
        help="a bundle to score (path or shipped name); repeat",
    )
    parser.add_argument("--data", default=os.environ.get("MEDOCR_DATA", "../shared/data"))
    parser.add_argument(
        "--certificates",
        type=int,
        default=100,
        help="synthetic certificates for synth-cut (0: skip)",
    )
    parser.add_argument(
        "--shifts",
        type=int,
        nargs="+",
        default=None,
        metavar="PX",
        help="also score each bundle with test-time augmentation: the probabilities of the "
        "line moved by each of these pixels (model height) averaged, e.g. -2 0 2",
    )
    parser.add_argument(
        "--frames-per-char",
        type=float,
        nargs="+",
        default=[0.0, MIN_FRAMES_PER_CHAR],
        metavar="F",
        help="score each bundle reading dense lines widened to F frames per character "
        f"(Recognizer.predict's min_frames_per_char; 0: one plain pass); default: 0 and "
        f"{MIN_FRAMES_PER_CHAR:g}, the default reading",
    )
    parser.add_argument("--no-record", action="store_true", help="print, do not write RESULTS")
    args = parser.parse_args()
    use_data(args.data)  # the sampler's CIM-10 words come from --data
    data = Path(args.data)
    if not data.is_dir():
        sys.exit(f"bench_val_sets: {data} not found (set --data or MEDOCR_DATA)")
    sets = line_sets(data, args.certificates)
    rows = []
    for spec in args.bundle:
        label, _, bundle = spec.partition("=")
        recognizer = Recognizer.load(bundle or label, backend="tensorflow")
        variants = [
            (f"{label}, {f'{frames:g} frames/char' if frames else 'one pass'}", (0,), frames)
            for frames in args.frames_per_char
        ]
        if args.shifts:
            frames = args.frames_per_char[-1]
            shown = f"{label}, shifts {' '.join(map(str, args.shifts))}"
            variants.append(
                (shown + (f", {frames:g} frames/char" if frames else ""), args.shifts, frames)
            )
        for name_shown, shifts, frames in variants:
            scores = {
                name: greedy_cer(recognizer, images, truths, tuple(shifts), frames or None)
                for name, (images, truths) in sets.items()
            }
            print(
                f"{name_shown} ({recognizer.ref}): "
                + ", ".join(f"{k} {v:.2%}" for k, v in scores.items()),
                flush=True,
            )
            rows.append((name_shown, recognizer.ref, scores))
    header = "| bundle | model | " + " | ".join(f"{k} ({len(v[1])})" for k, v in sets.items())
    lines = [header + " |", "|---" * (len(sets) + 2) + "|"]
    for label, ref, scores in rows:
        lines.append(
            f"| {label} | {ref} | " + " | ".join(f"{v:.2%}" for v in scores.values()) + " |"
        )
    body = (
        "\n".join(lines) + "\n\nGreedy CER; in parentheses, lines per set. 'one pass': every line "
        "read as it comes; 'F frames/char': a line with fewer frames per character (its "
        "greedy reading's length) read again widened to F (at most "
        f"{MAX_WIDENING:g}x; `Recognizer.predict`'s default). synth-cut: "
        f"lines cut by the pipeline from {args.certificates} synthetic certificates (seed 3)."
    )
    print(body)
    if not args.no_record:
        record("val-sets", "Greedy CER on every validation set", body)


if __name__ == "__main__":
    main()
