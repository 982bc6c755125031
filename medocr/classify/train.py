"""Train a character classifier on one data source and write its bundle and results.

``medocr train classifier`` is a thin wrapper over :func:`train_classifier`:

1. :func:`load_splits` reads the source and makes the train / validation / test splits
   (``mnist-digits`` and ``sklearn-digits``: shuffled with ``split_seed``, then cut
   ``1 - test_fraction`` / ``test_fraction``, and ``val_fraction`` of the training part
   held out for early stopping; a built dataset: its own splits);
2. the classifier is trained with early stopping on the validation split;
3. it is evaluated on the validation and test splits (accuracy, macro-F1, confusion
   matrix) and timed (training seconds, inference characters/s);
4. ``OUT/model/`` receives the bundle, ``OUT/results.json`` the metrics and curves,
   ``OUT/confusion.png`` the test confusion matrix.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from medocr.classify import defaults
from medocr.classify.base import CharClassifier, Progress
from medocr.classify.data import (
    SYNTH_ATTRIBUTION,
    CharData,
    load_mnist_digits,
    load_sklearn_digits,
    restrict_classes,
    shuffle_split,
)
from medocr.classify.features import HogParams
from medocr.errors import MedocrError
from medocr.fileio import write_atomic

KINDS = ("hog-lgbm", "cnn")
NAMED_SOURCES = ("mnist-digits", "sklearn-digits")
#: Defaults that differ between the two kinds.
DEFAULTS: dict[str, dict[str, float]] = {
    "hog-lgbm": {"learning_rate": 0.2, "patience": 20},
    "cnn": {"learning_rate": 1e-3, "patience": 5},
}


@dataclass
class ClassifierTrainConfig:
    """Settings of one classifier training run (see ``medocr train classifier --help``).

    Parameters
    ----------
    kind : str
        ``hog-lgbm`` or ``cnn``.
    data : str
        ``mnist-digits`` (default file), a ``digits.npz`` path, ``sklearn-digits``, or a
        folder built by ``medocr dataset build`` with character units.
    out : str
        Run folder (created).
    seed : int
        Training seed (weights, shuffling, augmentation, LightGBM).
    split_seed : int
        Seed of the train/test shuffle of the digit sets (fixed, so that the test split
        does not move with `seed`).
    test_fraction, val_fraction : float
        Test share of a digit set; validation share of the training part (any source
        without its own validation split).
    epochs : int
        CNN: maximum epochs.
    max_rounds : int
        HOG+LightGBM: maximum boosting rounds.
    patience : int, optional
        Early-stopping patience (epochs or rounds; default 5 / 20).
    learning_rate : float, optional
        Default 1e-3 (CNN, Adam) / 0.2 (LightGBM).
    batch_size : int
        CNN batch size.
    size : int
        Side of the square the characters are normalised into.
    hog_cells : tuple of int
        HOG cell sizes (concatenated descriptors).
    hog_bins : int
        HOG orientation bins.
    hog_signed : bool
        Signed HOG gradients (0..360 degrees).
    deskew : bool
        Shear characters upright in the normalisation.
    augment_copies : int
        HOG+LightGBM: augmented copies of each training character added (the CNN
        augments every batch instead).
    min_count : int
        Built datasets: classes with fewer training characters are left out.
    max_train : int, optional
        Use at most this many training characters (first ones after shuffling).
    steps_per_epoch : int, optional
        CNN: cap on steps per epoch (quick runs).
    threads : int
        LightGBM threads.
    notes : dict
        Recorded as is (e.g. the command line).
    """

    kind: str
    data: str
    out: str
    seed: int = 0
    split_seed: int = 0
    test_fraction: float = 0.2
    val_fraction: float = 0.1
    epochs: int = 30
    max_rounds: int = 500
    patience: int | None = None
    learning_rate: float | None = None
    batch_size: int = 64
    size: int = defaults.SIZE
    hog_cells: tuple[int, ...] = defaults.HOG_CELLS
    hog_bins: int = defaults.HOG_BINS
    hog_signed: bool = defaults.HOG_SIGNED
    deskew: bool = defaults.DESKEW
    augment_copies: int = defaults.AUGMENT_COPIES
    min_count: int = 5
    max_train: int | None = None
    steps_per_epoch: int | None = None
    threads: int = 1
    notes: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise MedocrError(f"unknown classifier kind {self.kind!r} (expected one of {KINDS})")
        defaults = DEFAULTS[self.kind]
        if self.patience is None:
            self.patience = int(defaults["patience"])
        if self.learning_rate is None:
            self.learning_rate = float(defaults["learning_rate"])


@dataclass(frozen=True, eq=False)
class Splits:
    """Train, validation and test characters of one source, and what was left out."""

    train: CharData
    val: CharData
    test: CharData
    source: str
    dropped: dict[str, int]

    def summary(self) -> dict[str, Any]:
        """JSON-ready description of the splits."""
        return {
            "source": self.source,
            "attribution": self.train.attribution,
            "train": len(self.train),
            "val": len(self.val),
            "test": len(self.test),
            "classes": sorted(set(self.train.labels.tolist())),
            "dropped": self.dropped,
        }


def load_char_dataset(dataset_dir: str | Path, split: str) -> CharData:
    """Load the labelled character units of one split of a built dataset.

    Parameters
    ----------
    dataset_dir : str or Path
        A folder made by ``medocr dataset build`` (with the ``char`` level).
    split : str
        Split name (``train``, ``val``, ``test``).

    Returns
    -------
    CharData
        uint8 ``(N, 32, 32)`` characters fitted by
        :func:`medocr.dataset.units.char_array`, single-character labels.

    Raises
    ------
    MedocrError
        Not a built dataset.
    """
    from medocr.dataset.readers import char_arrays

    images, labels = char_arrays(dataset_dir, split)
    return CharData(images, labels, f"{Path(dataset_dir).name}/{split}", SYNTH_ATTRIBUTION)


def load_splits(
    spec: str,
    *,
    split_seed: int = 0,
    test_fraction: float = 0.2,
    val_fraction: float = 0.1,
    min_count: int = 5,
    max_train: int | None = None,
) -> Splits:
    """Read a data source and make its train / validation / test splits.

    Parameters
    ----------
    spec : str
        ``mnist-digits``, a ``.npz`` path, ``sklearn-digits`` or a built dataset folder.
    split_seed : int
        Shuffle seed of the digit sets (and of a validation split carved out of train).
    test_fraction, val_fraction : float
        See :class:`ClassifierTrainConfig`.
    min_count : int
        Built datasets: smallest training count of a kept class.
    max_train : int, optional
        Keep at most this many training characters.

    Returns
    -------
    Splits

    Raises
    ------
    MedocrError
        Unknown source, missing file, or no training characters.
    """
    dropped: dict[str, int] = {}
    path = Path(spec)
    if spec in NAMED_SOURCES or path.suffix == ".npz":
        data = load_sklearn_digits() if spec == "sklearn-digits" else _mnist(spec)
        train, test = shuffle_split(
            data, (1 - test_fraction, test_fraction), split_seed, ("train", "test")
        )
        train, val = shuffle_split(
            train, (1 - val_fraction, val_fraction), split_seed + 1, ("train", "val")
        )
    elif path.is_dir():
        train, val, test = (load_char_dataset(path, s) for s in ("train", "val", "test"))
        if len(val) == 0:
            train, val = shuffle_split(
                train, (1 - val_fraction, val_fraction), split_seed + 1, ("train", "val")
            )
        kept = restrict_classes(train, min_count)
        dropped["train: classes under min_count"] = len(train) - len(kept)
        train, classes = kept, np.unique(kept.labels)
        val, test = (_known(part, classes, dropped) for part in (val, test))
    else:
        raise MedocrError(
            f"{spec}: unknown data source (expected mnist-digits, sklearn-digits, a .npz "
            "file or a dataset folder built by `medocr dataset build`)"
        )
    if max_train is not None and len(train) > max_train:
        train = train.take(np.arange(max_train))
    if len(train) == 0:
        raise MedocrError(f"{spec}: no training characters")
    return Splits(train, val, test, spec, dropped)


def _mnist(spec: str) -> CharData:
    return load_mnist_digits(None if spec == "mnist-digits" else spec)


def _known(data: CharData, classes: np.ndarray, dropped: dict[str, int]) -> CharData:
    keep = np.isin(data.labels, classes)
    dropped[f"{data.name.rsplit('/', 1)[-1]}: classes not trained"] = int((~keep).sum())
    return data.take(keep)


def make_classifier(config: ClassifierTrainConfig) -> CharClassifier:
    """Return an untrained classifier of ``config.kind`` with the run's settings."""
    if config.kind == "hog-lgbm":
        from medocr.classify.hog_lgbm import HogLgbmClassifier

        hog = HogParams(
            config.size, config.hog_cells, nbins=config.hog_bins, signed=config.hog_signed
        )
        return HogLgbmClassifier(
            hog,
            deskew=config.deskew,
            augment_copies=config.augment_copies,
            learning_rate=float(config.learning_rate or 0.2),
            max_rounds=config.max_rounds,
            patience=int(config.patience or 20),
            threads=config.threads,
        )
    from medocr.classify.cnn import CnnClassifier, CnnConfig

    return CnnClassifier(
        CnnConfig(size=config.size),
        deskew=config.deskew,
        epochs=config.epochs,
        patience=int(config.patience or 5),
        batch_size=config.batch_size,
        learning_rate=float(config.learning_rate or 1e-3),
    )


def fit_and_measure(
    classifier: CharClassifier,
    splits: Splits,
    *,
    seed: int = 0,
    progress: Progress | None = None,
    steps_per_epoch: int | None = None,
) -> dict[str, Any]:
    """Train `classifier` on `splits` and measure it.

    Returns
    -------
    dict
        ``train_seconds``, ``val`` and ``test`` metrics (see
        :meth:`CharClassifier.evaluate`), ``chars_per_second`` (inference on the test
        split, or the validation split when there is no test split, normalisation
        included) and the training ``curves``.
    """
    extra = {"steps_per_epoch": steps_per_epoch} if steps_per_epoch else {}
    started = time.perf_counter()
    classifier.fit(  # type: ignore[attr-defined]
        splits.train.images,
        splits.train.labels,
        splits.val.images,
        splits.val.labels,
        seed=seed,
        progress=progress,
        **extra,
    )
    seconds = time.perf_counter() - started
    timed = splits.test if len(splits.test) else splits.val
    started = time.perf_counter()
    classifier.predict_proba(timed.images)
    rate = len(timed) / max(time.perf_counter() - started, 1e-9)
    return {
        "train_seconds": seconds,
        "chars_per_second": rate,
        "val": classifier.evaluate(splits.val.images, splits.val.labels),
        "test": classifier.evaluate(splits.test.images, splits.test.labels),
        "curves": classifier.history,
    }


def bundle_bytes(folder: str | Path) -> int:
    """Total size in bytes of the files of a bundle folder."""
    return sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file())


def train_classifier(
    config: ClassifierTrainConfig, progress: Progress | None = None
) -> dict[str, Any]:
    """Run one training (see the module docstring) and return its results.

    Parameters
    ----------
    config : ClassifierTrainConfig
        The run's settings.
    progress : callable, optional
        Receives progress lines (the CLI prints them to stderr).

    Returns
    -------
    dict
        What ``OUT/results.json`` holds: config, data summary, metrics, curves, timings,
        bundle path and size.
    """
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    say = progress or (lambda _message: None)
    splits = load_splits(
        config.data,
        split_seed=config.split_seed,
        test_fraction=config.test_fraction,
        val_fraction=config.val_fraction,
        min_count=config.min_count,
        max_train=config.max_train,
    )
    say(
        f"data: {len(splits.train)} train, {len(splits.val)} val, {len(splits.test)} test "
        f"characters, {len(set(splits.train.labels.tolist()))} classes"
    )
    classifier = make_classifier(config)
    measured = fit_and_measure(
        classifier,
        splits,
        seed=config.seed,
        progress=progress,
        steps_per_epoch=config.steps_per_epoch,
    )
    metrics = {
        split: {k: measured[split][k] for k in ("count", "accuracy", "macro_f1")}
        for split in ("val", "test")
    }
    training = {
        "data": splits.summary(),
        "seed": config.seed,
        "split_seed": config.split_seed,
        "seconds": round(measured["train_seconds"], 2),
        **config.notes,
    }
    bundle = out / "model"
    classifier.save(bundle, training=training, metrics=metrics)  # type: ignore[attr-defined]
    results = {
        "kind": classifier.kind,
        "config": {**asdict(config), "hog_cells": list(config.hog_cells)},
        "data": splits.summary(),
        **measured,
        "model_bytes": bundle_bytes(bundle),
        "bundle": str(bundle),
    }
    write_atomic(
        out / "results.json", json.dumps(results, indent=1, ensure_ascii=False).encode("utf-8")
    )
    if measured["test"]["count"]:
        from medocr.classify.plots import plot_confusion

        title = f"{classifier.kind} on {Path(config.data).name}: test"
        plot_confusion(measured["test"], out / "confusion.png", title)
    return results
