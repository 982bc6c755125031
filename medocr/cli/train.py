"""``medocr train``: train models (``recognizer`` here, ``classifier`` in :mod:`.classify`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from medocr.cli import classify
from medocr.cli._common import EXIT_OK


def add_parser(subparsers: Any) -> None:
    """Register ``train`` and its models on the ``medocr`` sub-parsers."""
    train = subparsers.add_parser("train", help="train models (recognizer)")
    models = train.add_subparsers(dest="train_command", metavar="MODEL", required=True)
    recognizer = models.add_parser(
        "recognizer",
        help="train or fine-tune a line recognizer (CTC CRNN or attention)",
        description="Train a line recognizer (--arch crnn: the CTC CRNN, the default; "
        "--arch attention: the attention encoder-decoder, whose encoder --init can start "
        "from a CRNN bundle) on a weighted mix of JSONL line sets. Checkpoints every "
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
        help="model size (default small, for CPU; attention has tiny and small)",
    )
    recognizer.add_argument(
        "--arch",
        default="crnn",
        choices=("crnn", "attention"),
        help="recognizer family (default crnn)",
    )
    recognizer.add_argument(
        "--minutes",
        type=float,
        default=None,
        help="wall-clock budget: stop (validated, checkpointed) once it is spent",
    )
    recognizer.add_argument(
        "--freeze-encoder",
        action="store_true",
        help="attention with --init only: keep the encoder body from the bundle as it is "
        "and train the decoder (and the map to d_model) alone: about twice the lines/s",
    )
    recognizer.add_argument(
        "--label-smoothing",
        type=float,
        default=0.1,
        help="attention only: label smoothing of the cross-entropy (default 0.1)",
    )
    recognizer.add_argument(
        "--warmup-steps",
        type=int,
        default=0,
        help="raise the learning rate linearly from 0 over the run's first N steps "
        "(default 0; a fresh attention decoder wants a few hundred)",
    )
    recognizer.add_argument(
        "--average-from",
        type=int,
        default=None,
        metavar="EPOCH",
        help="from this epoch of the run on, also keep the running mean of the weights at "
        "each epoch's end (stochastic weight averaging), validate it, and save it as a "
        "bundle in OUT/average when its mean validation CER is the lowest so far",
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
    classify.add_parser(models)


def _cmd_train_recognizer(args: argparse.Namespace) -> int:
    from medocr.training.recognizer import DataSource, TrainConfig, Trainer

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
        arch=args.arch,
        minutes=args.minutes,
        label_smoothing=args.label_smoothing,
        freeze_encoder=args.freeze_encoder,
        warmup_steps=args.warmup_steps,
        average_from=args.average_from,
        notes={"command": "medocr " + " ".join(sys.argv[1:])},
    )
    results = Trainer(config).run()
    best = results["best"]
    print(
        f"train: {results['epoch']} epochs, best mean validation CER "
        f"{best:.4f} at epoch {results['best_epoch']} -> {Path(args.out) / 'best'}"
    )
    if results.get("average_best") is not None:
        print(
            f"train: best mean of weights: validation CER {results['average_best']:.4f} "
            f"at epoch {results['average_best_epoch']} -> {Path(args.out) / 'average'}"
        )
    return EXIT_OK
