"""``medocr train classifier``: train a character classifier baseline (HOG+LightGBM or CNN).

:func:`add_parser` registers it on the ``medocr train`` sub-parsers (:mod:`.train`); the
handler returns the exit status (0 on success), and a :class:`~medocr.errors.MedocrError`
it raises is reported by :func:`medocr.cli.main`. :func:`add_parser` is also importable
as ``add_classifier_parser``, its old name (the old module ``medocr.classify.cli`` is gone).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from medocr.classify import defaults
from medocr.cli._common import EXIT_OK, open_fraction, say

__all__ = ["add_classifier_parser", "add_parser"]


def _cells(text: str) -> tuple[int, ...]:
    try:
        cells = tuple(int(part) for part in text.split(","))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers, got {text!r}"
        ) from exc
    if not cells or min(cells) < 2:
        raise argparse.ArgumentTypeError(f"cell sizes must be >= 2, got {text!r}")
    return cells


def add_parser(train_subparsers: Any) -> argparse.ArgumentParser:
    """Add ``classifier`` to the sub-parsers of ``medocr train``; return its parser."""
    parser = train_subparsers.add_parser(
        "classifier",
        help="train a character classifier baseline (HOG+LightGBM or small CNN)",
        description="Train a character classifier on one data source with early stopping "
        "on a validation split, evaluate it on the test split, and write the bundle to "
        "OUT/model, the metrics and training curves to OUT/results.json and the test "
        "confusion matrix to OUT/confusion.png. Progress goes to stderr.",
    )
    parser.add_argument(
        "--kind",
        required=True,
        choices=("hog-lgbm", "cnn"),
        help="hog-lgbm: HOG features + LightGBM multiclass; cnn: small Keras CNN "
        "(< 500k parameters) trained with augmentation",
    )
    parser.add_argument(
        "--data",
        required=True,
        metavar="SOURCE",
        help="mnist-digits ($MEDOCR_DATA/mnist-digits/digits.npz), a "
        "path to such a digits.npz, sklearn-digits (scikit-learn's load_digits), or a "
        "dataset folder built by `medocr dataset build` with character units (its own "
        "train/val/test splits)",
    )
    parser.add_argument("--out", required=True, help="run folder (created)")
    parser.add_argument(
        "--seed", type=int, default=0, help="training seed: weights, shuffling (default 0)"
    )
    parser.add_argument(
        "--split-seed",
        type=int,
        default=0,
        help="shuffle seed of the train/test split of the digit sets (default 0)",
    )
    parser.add_argument(
        "--test-fraction",
        type=open_fraction,
        default=0.2,
        help="test share of a digit set (default 0.2)",
    )
    parser.add_argument(
        "--val-fraction",
        type=open_fraction,
        default=0.1,
        help="share of the training part held out for early stopping, when the source "
        "has no validation split (default 0.1)",
    )
    parser.add_argument("--epochs", type=int, default=30, help="cnn: maximum epochs (default 30)")
    parser.add_argument(
        "--max-rounds",
        type=int,
        default=500,
        help="hog-lgbm: maximum boosting rounds (default 500)",
    )
    parser.add_argument(
        "--patience",
        type=int,
        default=None,
        help="early stopping: epochs (cnn, default 5) or rounds (hog-lgbm, default 20) "
        "without improvement of the validation loss",
    )
    parser.add_argument(
        "--learning-rate",
        type=float,
        default=None,
        help="Adam learning rate (cnn, default 1e-3) or boosting shrinkage (hog-lgbm, default 0.2)",
    )
    parser.add_argument(
        "--batch-size", type=int, default=64, help="cnn: images per step (default 64)"
    )
    parser.add_argument(
        "--steps-per-epoch",
        type=int,
        default=None,
        help="cnn: cap on steps per epoch, for quick runs (default: one pass)",
    )
    parser.add_argument(
        "--size",
        type=int,
        default=defaults.SIZE,
        help=f"side of the square characters are normalised into (default {defaults.SIZE})",
    )
    parser.add_argument(
        "--hog-cells",
        type=_cells,
        default=defaults.HOG_CELLS,
        metavar="C[,C...]",
        help="hog-lgbm: HOG cell sizes in pixels, one descriptor each, concatenated; "
        f"each must divide --size (default {','.join(map(str, defaults.HOG_CELLS))})",
    )
    parser.add_argument(
        "--hog-bins",
        type=int,
        default=defaults.HOG_BINS,
        help=f"hog-lgbm: orientation bins per cell (default {defaults.HOG_BINS})",
    )
    parser.add_argument(
        "--hog-signed",
        action=argparse.BooleanOptionalAction,
        default=defaults.HOG_SIGNED,
        help="hog-lgbm: signed gradient orientations, 0..360 degrees, instead of 0..180 "
        f"(default {'on' if defaults.HOG_SIGNED else 'off'})",
    )
    parser.add_argument(
        "--deskew",
        action=argparse.BooleanOptionalAction,
        default=defaults.DESKEW,
        help="shear each character upright (slant from its moments) before the model "
        f"(default {'on' if defaults.DESKEW else 'off'})",
    )
    parser.add_argument(
        "--augment-copies",
        type=int,
        default=defaults.AUGMENT_COPIES,
        help="hog-lgbm: also train on this many randomly shifted/rotated/zoomed copies of "
        f"each character (default {defaults.AUGMENT_COPIES}; the cnn augments every batch)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="hog-lgbm: LightGBM threads (default 1; 0 = OpenMP default, slow when "
        "other processes share the cores)",
    )
    parser.add_argument(
        "--min-count",
        type=int,
        default=5,
        help="dataset folders: leave out classes with fewer training characters (default 5)",
    )
    parser.add_argument(
        "--max-train",
        type=int,
        default=None,
        help="use at most this many training characters (default: all)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")
    parser.set_defaults(func=_cmd_train_classifier)
    return parser


#: The name this function had in ``medocr.classify.cli``.
add_classifier_parser = add_parser


def _cmd_train_classifier(args: argparse.Namespace) -> int:
    from medocr.classify.train import ClassifierTrainConfig, train_classifier

    config = ClassifierTrainConfig(
        kind=args.kind,
        data=args.data,
        out=args.out,
        seed=args.seed,
        split_seed=args.split_seed,
        test_fraction=args.test_fraction,
        val_fraction=args.val_fraction,
        epochs=args.epochs,
        max_rounds=args.max_rounds,
        patience=args.patience,
        learning_rate=args.learning_rate,
        batch_size=args.batch_size,
        size=args.size,
        hog_cells=args.hog_cells,
        hog_bins=args.hog_bins,
        hog_signed=args.hog_signed,
        deskew=args.deskew,
        augment_copies=args.augment_copies,
        min_count=args.min_count,
        max_train=args.max_train,
        steps_per_epoch=args.steps_per_epoch,
        threads=args.threads,
        notes={"command": "medocr " + " ".join(sys.argv[1:])},
    )
    results = train_classifier(config, progress=None if args.quiet else say)
    test = results["test"] if results["test"]["count"] else results["val"]
    split = "test" if results["test"]["count"] else "val"
    print(
        f"train classifier: {results['kind']} in {results['train_seconds']:.1f}s, {split} "
        f"accuracy {test['accuracy']:.4f}, macro-F1 {test['macro_f1']:.4f} on "
        f"{test['count']} characters -> {results['bundle']} (results in "
        f"{args.out}/results.json)"
    )
    return EXIT_OK
