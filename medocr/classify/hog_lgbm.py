"""HOG features + LightGBM multiclass: the classical character classifier baseline.

The bundle (kind ``hog-lgbm``) holds ``model.txt``, LightGBM's native text format
(``Booster.save_model``, read back with ``lightgbm.Booster(model_file=...)``: no pickle),
and ``meta.json`` with the classes, the input size, the HOG parameters, the boosting
parameters, the training summary (data and attributions) and the metrics.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from medocr.bundles import read_meta, resolve
from medocr.classify import defaults
from medocr.classify.base import (
    CharClassifier,
    Progress,
    check_training_data,
    encode_labels,
    validation_split,
)
from medocr.classify.data import augment_chars
from medocr.classify.features import HogParams, hog_features
from medocr.errors import ModelError

KIND = "hog-lgbm"
MODEL_FILE = "model.txt"


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class HogLgbmClassifier(CharClassifier):
    """HOG descriptor of the normalised character, classified by gradient-boosted trees.

    Parameters
    ----------
    hog : HogParams, optional
        Descriptor layout; its ``size`` is the input square (default ``HogParams()``).
    deskew : bool
        Shear characters upright before the descriptor (see ``normalize_char``).
    augment_copies : int
        Train on this many randomly shifted, rotated and zoomed copies of each character
        as well as the character itself.
    learning_rate : float
        Boosting shrinkage.
    num_leaves : int
        Leaves per tree.
    max_rounds : int
        Upper bound on boosting rounds (each adds one tree per class).
    patience : int
        Stop when the validation multi-logloss (the first metric; multi-error is recorded
        too) has not improved for this many rounds.
    min_data_in_leaf : int
        Smallest leaf (lowered automatically for tiny training sets).
    feature_fraction : float
        Share of the features each tree may use.
    lambda_l2 : float
        L2 penalty on leaf values. Without it, training on 67 classes of synthetic
        characters (rare classes, tiny hessians) diverged from the first rounds.
    max_bin : int
        Histogram bins per feature.
    threads : int
        LightGBM threads (default 1; 0 is OpenMP's default, which was ten times slower
        than one thread on the 2-core development machine while other processes ran).
    """

    kind = KIND

    def __init__(
        self,
        hog: HogParams | None = None,
        *,
        deskew: bool = defaults.DESKEW,
        augment_copies: int = defaults.AUGMENT_COPIES,
        learning_rate: float = 0.1,
        num_leaves: int = 31,
        max_rounds: int = 1000,
        patience: int = 30,
        min_data_in_leaf: int = 20,
        feature_fraction: float = 0.5,
        lambda_l2: float = 1.0,
        max_bin: int = 63,
        threads: int = 1,
    ) -> None:
        self.hog = hog or HogParams()
        super().__init__(self.hog.size, deskew)
        self.augment_copies = int(augment_copies)
        self.params: dict[str, Any] = {
            "learning_rate": learning_rate,
            "num_leaves": num_leaves,
            "min_data_in_leaf": min_data_in_leaf,
            "feature_fraction": feature_fraction,
            "lambda_l2": lambda_l2,
            "max_bin": max_bin,
        }
        self.max_rounds = max_rounds
        self.patience = patience
        self.threads = threads
        self.booster: Any = None
        self.best_iteration = 0
        self.leaf_size = min_data_in_leaf  # as used by the last fit

    def features(self, X: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:  # noqa: N803
        """Return the HOG vectors float32 ``(N, F)`` of images of any size."""
        return hog_features(self.prepare(X), self.hog)

    def fit(
        self,
        X: np.ndarray,  # noqa: N803
        y: Sequence[object] | np.ndarray,
        X_val: np.ndarray | None = None,  # noqa: N803
        y_val: Sequence[object] | np.ndarray | None = None,
        *,
        seed: int = 0,
        progress: Progress | None = _stderr,
        log_every: int = 25,
    ) -> HogLgbmClassifier:
        """Train with early stopping on a validation set.

        Parameters
        ----------
        X : numpy.ndarray
            uint8 ``(N, H, W)`` training characters, dark ink on light paper.
        y : sequence
            ``(N,)`` labels (str or int; stored as str). The classes are the sorted
            distinct labels.
        X_val, y_val : optional
            Validation set for early stopping (default: 10% of X held out, seeded).
        seed : int
            Seed of the held-out split and of LightGBM.
        progress : callable or None
            Receives a line every `log_every` rounds (default: stderr).
        log_every : int
            Rounds between progress lines.

        Returns
        -------
        HogLgbmClassifier
            `self`, trained (``booster``, ``best_iteration``, ``history``).

        Raises
        ------
        ValueError
            Bad shapes, fewer than 2 classes, or validation labels unknown to training.
        """
        import lightgbm as lgb

        X, labels = check_training_data(X, y)  # noqa: N806
        X, labels, X_val, y_val = validation_split(X, labels, X_val, y_val, seed)  # noqa: N806
        classes = tuple(sorted(set(labels.tolist())))
        if len(classes) < 2:
            raise ValueError(f"need at least 2 classes to train, got {list(classes)}")
        train_y = encode_labels(labels, classes)
        val_y = encode_labels(y_val, classes, "y_val")
        params = {
            **self._lgb_params(len(classes), seed),
            "min_data_in_leaf": min(
                self.params["min_data_in_leaf"], max(2, X.shape[0] // (4 * len(classes)))
            ),
        }
        prepared = self.prepare(X)
        if self.augment_copies:
            rng = np.random.default_rng(seed)
            copies = [augment_chars(prepared, rng) for _ in range(self.augment_copies)]
            prepared = np.concatenate([prepared, *copies])
            train_y = np.tile(train_y, self.augment_copies + 1)
        train_set = lgb.Dataset(hog_features(prepared, self.hog), train_y, params=params)
        val_set = lgb.Dataset(self.features(X_val), val_y, reference=train_set)
        curves: dict[str, Any] = {}
        started = time.perf_counter()
        callbacks: list[Any] = [
            lgb.early_stopping(self.patience, first_metric_only=True, verbose=False),
            lgb.record_evaluation(curves),
        ]
        if progress is not None:
            callbacks.append(_progress_callback(progress, log_every, started))
        booster = lgb.train(
            params,
            train_set,
            num_boost_round=self.max_rounds,
            valid_sets=[train_set, val_set],
            valid_names=["train", "val"],
            callbacks=callbacks,
        )
        self.booster, self.classes = booster, classes
        self.best_iteration = int(booster.best_iteration or booster.current_iteration())
        self.leaf_size = int(params["min_data_in_leaf"])
        self.history = {
            f"{name}_{metric}": [float(v) for v in values]
            for name, by_metric in curves.items()
            for metric, values in by_metric.items()
        }
        if progress is not None:
            rounds = len(self.history.get("val_multi_logloss", []))
            progress(
                f"hog-lgbm: best round {self.best_iteration} of {rounds} "
                f"({time.perf_counter() - started:.1f}s)"
            )
        return self

    def _lgb_params(self, num_class: int, seed: int) -> dict[str, Any]:
        return {
            "objective": "multiclass",
            "num_class": num_class,
            "metric": ["multi_logloss", "multi_error"],
            "learning_rate": self.params["learning_rate"],
            "num_leaves": self.params["num_leaves"],
            "feature_fraction": self.params["feature_fraction"],
            "lambda_l2": self.params["lambda_l2"],
            "max_bin": self.params["max_bin"],
            "seed": seed,
            "deterministic": True,
            "force_row_wise": True,
            "num_threads": self.threads,
            "verbose": -1,
        }

    def predict_proba(self, X: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:  # noqa: N803
        """Return class probabilities.

        Parameters
        ----------
        X : numpy.ndarray or sequence of numpy.ndarray
            uint8 ``(N, H, W)``, or a sequence of uint8 ``(h, w)`` images of any sizes;
            dark ink on light paper.

        Returns
        -------
        numpy.ndarray
            float32 ``(N, C)``, columns in the order of ``classes``, rows summing to 1.
        """
        self._check_fitted()
        if len(X) == 0:
            return np.zeros((0, len(self.classes)), np.float32)
        raw = self.booster.predict(self.features(X), num_iteration=self.best_iteration)
        proba = np.asarray(raw, np.float64).reshape(len(X), len(self.classes))
        return (proba / proba.sum(axis=1, keepdims=True)).astype(np.float32)

    def save(
        self,
        folder: str | Path,
        *,
        training: dict[str, Any] | None = None,
        metrics: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Write the bundle (``model.txt`` + ``meta.json``), replacing `folder` atomically.

        Parameters
        ----------
        folder : str or Path
            Destination folder.
        training, metrics : dict, optional
            Training summary (data, attributions, command) and measured metrics.

        Returns
        -------
        dict
            The metadata written.
        """

        def write(staging: Path) -> None:
            self.booster.save_model(str(staging / MODEL_FILE), num_iteration=self.best_iteration)

        return self._write_bundle(
            folder,
            write,
            {
                "hog": self.hog.to_dict(),
                "lightgbm": {
                    **self.params,
                    "min_data_in_leaf": self.leaf_size,
                    "rounds": self.best_iteration,
                    "max_rounds": self.max_rounds,
                    "patience": self.patience,
                    "augment_copies": self.augment_copies,
                },
                "features": self.hog.n_features,
                "training": training or {},
                "metrics": metrics or {},
            },
        )

    @classmethod
    def load(cls, name_or_path: str | Path) -> HogLgbmClassifier:
        """Load a ``hog-lgbm`` bundle, verifying its files.

        Raises
        ------
        ModelError
            Missing, altered or foreign bundle, an unreadable ``model.txt``, or a model
            whose class or feature count disagrees with ``meta.json``.
        """
        import lightgbm as lgb

        folder = resolve(name_or_path)
        meta = read_meta(folder, KIND)
        try:
            hog = HogParams.from_dict(meta["hog"])
            classes = tuple(str(c) for c in meta["classes"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"{folder}: bad hog-lgbm metadata ({exc})") from exc
        try:
            booster = lgb.Booster(model_file=str(folder / MODEL_FILE))
        except lgb.basic.LightGBMError as exc:
            raise ModelError(f"{folder / MODEL_FILE}: unreadable LightGBM model ({exc})") from exc
        if booster.num_model_per_iteration() != len(classes):
            raise ModelError(
                f"{folder / MODEL_FILE}: {booster.num_model_per_iteration()} classes in the "
                f"model, {len(classes)} in meta.json"
            )
        if booster.num_feature() != hog.n_features:
            raise ModelError(
                f"{folder / MODEL_FILE}: the model reads {booster.num_feature()} features, "
                f"the HOG parameters give {hog.n_features}"
            )
        lgb_meta = meta.get("lightgbm", {})
        model = cls(hog, deskew=bool(meta.get("deskew", False)))
        model.params.update({k: lgb_meta[k] for k in model.params if k in lgb_meta})
        model.booster, model.classes, model.meta = booster, classes, meta
        model.best_iteration = int(booster.current_iteration())
        return model


def _progress_callback(progress: Progress, every: int, started: float) -> Any:
    """LightGBM callback sending one line every `every` rounds to `progress`."""

    def callback(env: Any) -> None:
        round_ = env.iteration + 1
        if round_ % every and round_ != env.end_iteration:
            return
        scores = ", ".join(
            f"{name} {metric} {value:.4f}"
            for name, metric, value, _ in env.evaluation_result_list
            if name == "val"
        )
        progress(f"hog-lgbm: round {round_}: {scores} ({time.perf_counter() - started:.1f}s)")

    callback.order = 25  # type: ignore[attr-defined]  # before early stopping (30)
    return callback
