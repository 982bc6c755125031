"""Backend-agnostic CRNN training: Keras 3 on JAX, TensorFlow or PyTorch, fed from numpy.

:mod:`medocr.training.recognizer` is the TensorFlow trainer (``tf.data``, ``tf.function``,
distribution strategies). This one needs only Keras and numpy, so it runs where
TensorFlow does not: the lent GPU machine has JAX but no TensorFlow
(``KERAS_BACKEND=jax``). It reads a packed line file (:mod:`medocr.dataset.packed`), makes
augmented batches in worker processes, and trains for a wall-clock budget:

- batches come in a few fixed width buckets with a fixed label length, so a compiling
  backend (JAX, XLA) traces each shape once;
- lines are drawn from the sources in proportion to their weights (each source's lines
  equally likely), then grouped by width;
- the loss is ``keras.ops.ctc_loss`` with the blank last; a line CTC cannot align is
  never drawn (its frames are counted before it is chosen);
- the learning rate warms up linearly, then follows a cosine to 5 % over the budget;
- every ``validate_every`` seconds the model is validated (greedy CER on each validation
  source of the packed file) and the best model is written as a bundle in ``OUT/best``;
  ``OUT/results.json`` keeps the curves. ``OUT/last.keras`` holds the last weights.

The bundle is the same as the TensorFlow trainer's: ``model.keras`` loads with any
backend (checked by a test: JAX-trained weights predict identically in TensorFlow).

Run it as ``python -m medocr.training.portable PACK --out D`` (``--help`` lists the
options); ``scripts/gpu-recipe.sh`` is the prepared GPU run.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import sys
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from medocr.dataset.packed import PackedLines
from medocr.fileio import atomic_path, write_text_atomic
from medocr.recognize.alphabet import Alphabet, build_alphabet
from medocr.recognize.crnn import (
    CRNNConfig,
    build_model,
    frame_count,
    prepare_line,
    softmax,
    start_model,
)
from medocr.synth.augment import augment_line
from medocr.training import warmup_rate

WIDTH_BUCKETS = (256, 512, 768, 1024, 1536, 2048)
SLANT_ROOM = 16  # pixels of width the augmentation's slant may add
RESULTS = "results.json"


@dataclass
class PortableConfig:
    """Everything a portable training run depends on (recorded in results.json).

    Parameters
    ----------
    packed : str
        Packed line file (``medocr.dataset.packed``); its ``val`` sources validate.
    out_dir : str
        Output folder (``best/`` bundle, ``last.keras``, ``results.json``).
    weights : dict
        Sampling weight per training source name (missing sources: weight 1).
    preset : str
        Architecture preset (``medocr.recognize.crnn.PRESETS``), unless `init`.
    init : str, optional
        Bundle to start from (path or shipped name); its architecture is kept.
    minutes : float
        Wall-clock training budget (validation included).
    max_steps : int, optional
        Stop after this many steps even within the budget.
    batch_size : int
        Lines per batch.
    learning_rate : float
        Peak learning rate (Adam, gradient norm clipped at 5).
    warmup_steps : int
        Linear warm-up steps.
    validate_every : float
        Seconds between validations.
    max_val_lines : int
        Lines per validation source (drawn once with `seed`).
    workers : int
        Batch-making processes (0: in the training process).
    buckets : tuple of int
        Batch widths in pixels: each is one compiled shape. Few wide buckets suit a
        GPU (padding is cheap, compiling is not); more narrow ones suit a CPU.
    seed : int
        Draws of lines and augmentations, and Keras' initialisation.
    min_char_count : int
        A character enters the alphabet after this many occurrences in the training lines.
    """

    packed: str
    out_dir: str
    weights: dict[str, float] = field(default_factory=dict)
    preset: str = "small"
    init: str | None = None
    minutes: float = 9.0
    max_steps: int | None = None
    batch_size: int = 64
    learning_rate: float = 1e-3
    warmup_steps: int = 200
    validate_every: float = 60.0
    max_val_lines: int = 300
    workers: int = 4
    buckets: tuple[int, ...] = WIDTH_BUCKETS
    seed: int = 0
    min_char_count: int = 2


def bucket_of(width: int, buckets: tuple[int, ...] = WIDTH_BUCKETS) -> int:
    """Width of the narrowest bucket that holds a line `width` px wide plus its slant.

    Lines wider than the last bucket are squeezed into it.
    """
    for bucket in buckets:
        if width + SLANT_ROOM <= bucket:
            return bucket
    return buckets[-1]


def ctc_fits(label: np.ndarray, width: int) -> bool:
    """Whether CTC can align `label` to a line `width` px wide (a blank between repeats)."""
    repeats = int(np.sum(label[1:] == label[:-1])) if len(label) > 1 else 0
    return int(frame_count(width)) >= len(label) + repeats


# ----------------------------------------------------------------------------- batches

_WORKER: dict[str, Any] = {}


def init_worker(packed: PackedLines, labels: list[np.ndarray], height: int) -> None:
    """Give this process the lines and labels :func:`make_batch` reads (pool initializer)."""
    cv2.setNumThreads(1)
    _WORKER.update(packed=packed, labels=labels, height=height)


def make_batch(task: tuple[int, np.ndarray, int, bool]) -> tuple[np.ndarray, np.ndarray]:
    """Build one batch in a worker.

    Parameters
    ----------
    task : tuple
        ``(bucket width, line indices (B,), seed, augment)``.

    Returns
    -------
    images : numpy.ndarray
        uint8 ``(B, H, bucket width, 1)`` ink x 255, zero-padded (a quarter of the
        float32 bytes through the process pipe; :func:`as_ink` converts).
    targets : numpy.ndarray
        float32 ``(B, 2 + bucket width // 4)``: frame count, label length, then the
        label padded with 0 (see :func:`ctc_targets`).
    """
    width, indices, seed, augment = task
    packed: PackedLines = _WORKER["packed"]
    height: int = _WORKER["height"]
    rng = np.random.default_rng(seed)
    images = np.zeros((len(indices), height, width, 1), np.uint8)
    widths = np.zeros(len(indices), np.int32)
    for row, index in enumerate(indices):
        image = packed.image(int(index))
        if augment:
            image = augment_line(image, rng)
        line = prepare_line(image, height)
        if line.shape[1] > width:
            line = cv2.resize(line, (width, height), interpolation=cv2.INTER_AREA)
        images[row, :, : line.shape[1], 0] = np.rint(line * 255.0).astype(np.uint8)
        widths[row] = line.shape[1]
    labels = [_WORKER["labels"][int(i)] for i in indices]
    return images, ctc_targets(widths, labels, width)


def as_ink(images: np.ndarray) -> np.ndarray:
    """float32 ink in [0, 1] from the uint8 batches of :func:`make_batch` (same shape)."""
    return images.astype(np.float32) * np.float32(1.0 / 255.0)


def ctc_targets(widths: np.ndarray, labels: list[np.ndarray], bucket_width: int) -> np.ndarray:
    """Pack frame counts, label lengths and labels into one float32 ``(B, 2 + L)`` array.

    ``L = bucket_width // 4`` (a label never has more characters than frames); labels
    are padded with 0. Keras hands the loss one ``y_true`` array: this is it.
    """
    targets = np.zeros((len(labels), 2 + bucket_width // 4), np.float32)
    targets[:, 0] = frame_count(widths)
    for row, label in enumerate(labels):
        targets[row, 1] = len(label)
        targets[row, 2 : 2 + len(label)] = label
    return targets


def ctc_loss_fn(blank: int) -> Any:
    """Keras loss ``(targets (B, 2 + L), logits (B, T, C)) -> (B,)`` CTC, blank `blank`.

    Non-finite per-line losses count as 0 so that one line cannot poison a step.
    """
    from keras import ops

    def ctc(y_true: Any, y_pred: Any) -> Any:
        y_true = ops.cast(y_true, "int32")
        frames, lengths, labels = y_true[:, 0], y_true[:, 1], y_true[:, 2:]
        losses = ops.ctc_loss(labels, y_pred, lengths, frames, mask_index=blank)
        return ops.where(ops.isfinite(losses), losses, ops.zeros_like(losses))

    return ctc


class BatchPlan:
    """Which lines go into which batch: weighted by source, grouped by width bucket.

    Parameters
    ----------
    packed : PackedLines
        The lines.
    labels : list of numpy.ndarray
        Encoded label of every packed line (empty: never drawn).
    weights : dict
        Weight per training source name.
    batch_size : int
        Lines per batch.
    seed : int
        Randomness.
    buckets : tuple of int
        Batch widths in pixels, increasing.
    """

    def __init__(
        self,
        packed: PackedLines,
        labels: list[np.ndarray],
        weights: dict[str, float],
        batch_size: int,
        seed: int,
        buckets: tuple[int, ...] = WIDTH_BUCKETS,
    ) -> None:
        self.batch_size = batch_size
        self.buckets = buckets
        self.rng = np.random.default_rng(seed)
        self.seed = seed
        probability = np.zeros(len(packed), np.float64)
        for name, indices in packed.indices("train").items():
            usable = [
                i
                for i in indices
                if len(labels[i]) and ctc_fits(labels[i], min(packed.widths[i], buckets[-1]))
            ]
            if usable:
                probability[usable] = weights.get(name, 1.0) / len(usable)
        chosen = np.array([bucket_of(int(w), buckets) for w in packed.widths])
        self.members = [np.flatnonzero((chosen == b) & (probability > 0)) for b in buckets]
        self.member_p = [
            probability[m] / probability[m].sum() if len(m) else m for m in self.members
        ]
        mass = np.array([probability[m].sum() for m in self.members])
        self.bucket_p = mass / mass.sum()
        self.drawn = 0

    def next_task(self) -> tuple[int, np.ndarray, int, bool]:
        """Draw the next batch: ``(bucket width, line indices, augmentation seed, True)``."""
        bucket = int(self.rng.choice(len(self.buckets), p=self.bucket_p))
        indices = self.rng.choice(
            self.members[bucket], size=self.batch_size, p=self.member_p[bucket]
        )
        self.drawn += 1
        return self.buckets[bucket], indices, self.seed * 1_000_003 + self.drawn, True


def validation_tasks(
    indices: np.ndarray,
    widths: np.ndarray,
    batch_size: int,
    buckets: tuple[int, ...] = WIDTH_BUCKETS,
) -> list[tuple[int, np.ndarray, int, bool]]:
    """Unaugmented batches covering `indices`, each in its width bucket (last one short)."""
    tasks = []
    order = np.asarray(indices)[np.argsort(widths[indices], kind="stable")]
    by_bucket: dict[int, list[int]] = {}
    for index in order:
        by_bucket.setdefault(bucket_of(int(widths[index]), buckets), []).append(int(index))
    for bucket, members in sorted(by_bucket.items()):
        for start in range(0, len(members), batch_size):
            tasks.append((bucket, np.array(members[start : start + batch_size]), 0, False))
    return tasks


# ----------------------------------------------------------------------------- trainer


class PortableTrainer:
    """One portable training run (see the module docstring); :meth:`run` does it all."""

    def __init__(self, config: PortableConfig) -> None:
        self.config = config
        self.out = Path(config.out_dir)
        self.out.mkdir(parents=True, exist_ok=True)
        self.packed = PackedLines.load(config.packed)
        self.height = self.packed.height

    def _alphabet_and_model(self) -> tuple[Alphabet, Any, CRNNConfig]:
        cfg = self.config
        train_lines = np.concatenate(list(self.packed.indices("train").values()))
        texts = [str(self.packed.texts[i]) for i in train_lines]
        base = None
        if cfg.init:
            from medocr.recognize.runtime import Recognizer

            base = Recognizer.load(cfg.init, backend="tensorflow")
            if base.config.height != self.height:
                raise ValueError(
                    f"{cfg.init} reads {base.config.height}-px lines but {cfg.packed} "
                    f"holds {self.height}-px lines: pack again with --height"
                )
        alphabet = build_alphabet(texts, cfg.min_char_count, "", base.alphabet if base else None)
        model, model_config = start_model(cfg.preset, self.height, alphabet.num_classes, base)
        return alphabet, model, model_config

    def run(self) -> dict[str, Any]:
        """Train for the budget; return the results (also in ``OUT/results.json``)."""
        import keras

        cfg = self.config
        began = time.perf_counter()
        keras.utils.set_random_seed(cfg.seed)
        alphabet, model, model_config = self._alphabet_and_model()
        labels = label_arrays(self.packed.texts, alphabet)
        plan = BatchPlan(self.packed, labels, cfg.weights, cfg.batch_size, cfg.seed, cfg.buckets)
        val_tasks = self._validation_tasks(labels)
        optimizer = keras.optimizers.Adam(cfg.learning_rate, clipnorm=5.0)
        model.compile(optimizer=optimizer, loss=ctc_loss_fn(alphabet.blank))
        results = self._fresh_results(alphabet, model, plan)
        pool = batch_pool(cfg.workers, self.packed, labels, self.height)
        budget = cfg.minutes * 60.0
        try:
            self._loop(
                model,
                optimizer,
                alphabet,
                model_config,
                plan,
                val_tasks,
                pool,
                results,
                began,
                budget,
            )
        finally:
            if pool is not None:
                pool.terminate()
        with atomic_path(self.out / "last.keras") as staged:
            model.save(staged)
        self._write_results(results)
        return results

    def _loop(
        self,
        model: Any,
        optimizer: Any,
        alphabet: Alphabet,
        model_config: CRNNConfig,
        plan: BatchPlan,
        val_tasks: dict[str, list[tuple[int, np.ndarray, int, bool]]],
        pool: Any,
        results: dict[str, Any],
        began: float,
        budget: float,
    ) -> None:
        cfg = self.config
        batches = batch_stream(pool, plan, 2 * max(1, cfg.workers))
        step, lines, losses = 0, 0, []
        train_began = time.perf_counter()
        last_validation = train_began
        while True:
            elapsed = time.perf_counter() - began
            if elapsed >= budget or (cfg.max_steps is not None and step >= cfg.max_steps):
                break
            images, targets = next(batches)
            optimizer.learning_rate.assign(self._learning_rate(step, elapsed / budget))
            losses.append(float(model.train_on_batch(as_ink(images), targets)))
            step, lines = step + 1, lines + len(images)
            now = time.perf_counter()
            if step % 50 == 0:
                print(
                    f"portable: step {step}, loss {np.mean(losses[-50:]):.3f}, "
                    f"{lines / (now - train_began):.0f} lines/s, {budget - elapsed:.0f}s left",
                    file=sys.stderr,
                    flush=True,
                )
            last_step = (cfg.max_steps is not None and step >= cfg.max_steps) or (
                now - began >= budget - self._validation_cost(results)
            )
            due = now - last_validation >= cfg.validate_every and step >= 100
            if due or last_step:
                val = {n: self.validate(model, alphabet, t, pool) for n, t in val_tasks.items()}
                self._record(results, step, lines, losses, now - train_began, val, optimizer)
                if results["improved"]:
                    self._save_best(model, alphabet, model_config, results)
                self._write_results(results)
                last_validation = time.perf_counter()
                results["validation_seconds"] = last_validation - now
                if last_step:
                    break

    def _validation_cost(self, results: dict[str, Any]) -> float:
        return float(results.get("validation_seconds", 0.0)) * 1.2

    def _learning_rate(self, step: int, progress: float) -> float:
        peak = self.config.learning_rate
        warm = warmup_rate(peak, step, self.config.warmup_steps)
        if warm is not None:
            return warm
        return peak * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))

    def _validation_tasks(
        self, labels: list[np.ndarray]
    ) -> dict[str, list[tuple[int, np.ndarray, int, bool]]]:
        rng = np.random.default_rng(self.config.seed)
        tasks = {}
        for name, indices in self.packed.indices("val").items():
            usable = np.array([i for i in indices if len(labels[i])], np.int64)
            if len(usable) > self.config.max_val_lines:
                usable = np.sort(rng.permutation(usable)[: self.config.max_val_lines])
            if len(usable):
                tasks[name] = validation_tasks(
                    usable, self.packed.widths, self.config.batch_size, self.config.buckets
                )
        return tasks

    def validate(
        self,
        model: Any,
        alphabet: Alphabet,
        tasks: list[tuple[int, np.ndarray, int, bool]],
        pool: Any,
    ) -> float:
        """Greedy CER of `model` on the lines of `tasks` (batches padded to full size)."""
        from medocr.decode import greedy
        from medocr.evaluate.metrics import cer
        from medocr.types import FrameProbs

        truths, guesses = [], []
        built = pool.imap(make_batch, tasks) if pool is not None else map(make_batch, tasks)
        for (_, indices, _, _), (images, targets) in zip(tasks, built, strict=True):
            short = self.config.batch_size - len(images)
            padded = np.concatenate(
                [as_ink(images), np.zeros((short, *images.shape[1:]), np.float32)]
            )
            probs = softmax(np.asarray(model.predict_on_batch(padded))[: len(images)])
            for row, index in enumerate(indices):
                frames = np.ascontiguousarray(probs[row, : int(targets[row, 0])])
                guesses.append(greedy(FrameProbs(frames, alphabet)).text)
                truths.append(str(self.packed.texts[index]))
        return float(cer(truths, guesses))

    def _fresh_results(self, alphabet: Alphabet, model: Any, plan: BatchPlan) -> dict[str, Any]:
        import keras

        counts = {name: int(len(indices)) for name, indices in self.packed.indices("train").items()}
        results = {
            "config": asdict(self.config),
            "backend": keras.backend.backend(),
            "alphabet": alphabet.to_dict(),
            "parameters": int(model.count_params()),
            "train_lines": counts,
            "bucket_share": [round(float(p), 4) for p in plan.bucket_p],
            "history": [],
            "best": None,
            "best_step": 0,
            "improved": False,
        }
        print(
            f"portable: {keras.backend.backend()} backend, {model.count_params():,} parameters, "
            f"{sum(counts.values()):,} training lines from {len(counts)} sources",
            file=sys.stderr,
            flush=True,
        )
        return results

    def _record(
        self,
        results: dict[str, Any],
        step: int,
        lines: int,
        losses: list[float],
        seconds: float,
        val: dict[str, float],
        optimizer: Any,
    ) -> None:
        import keras

        mean_cer = float(np.mean(list(val.values()))) if val else float(np.mean(losses[-50:]))
        results["history"].append(
            {
                "step": step,
                "lines": lines,
                "seconds": round(seconds, 1),
                "lines_per_s": lines / seconds,
                "loss": float(np.mean(losses[-100:])),
                "val_cer": val,
                "mean_val_cer": mean_cer,
                "learning_rate": float(keras.ops.convert_to_numpy(optimizer.learning_rate)),
            }
        )
        results["improved"] = results["best"] is None or mean_cer < results["best"]
        if results["improved"]:
            results["best"], results["best_step"] = mean_cer, step
        shown = ", ".join(f"{k} {v:.4f}" for k, v in val.items())
        print(
            f"portable: step {step}, {lines:,} lines, val CER {shown}"
            f"{' (best)' if results['improved'] else ''}",
            file=sys.stderr,
            flush=True,
        )

    def _save_best(
        self, model: Any, alphabet: Alphabet, model_config: CRNNConfig, results: dict[str, Any]
    ) -> None:
        from medocr.recognize.runtime import save_recognizer

        best = results["history"][-1]
        training = {
            "config": asdict(self.config),
            "trainer": f"medocr.training.portable ({results['backend']} backend)",
            "data": data_summary(self.packed, self.config.weights),
            "step": best["step"],
            "lines_seen": best["lines"],
            "command": " ".join(sys.argv),
        }
        plain = build_model(model_config)  # the weights alone: no optimizer state in the bundle
        plain.set_weights(model.get_weights())
        save_recognizer(
            self.out / "best",
            plain,
            alphabet,
            model_config,
            training=training,
            metrics={"val_cer_greedy": best["val_cer"]},
        )

    def _write_results(self, results: dict[str, Any]) -> None:
        write_text_atomic(self.out / RESULTS, json.dumps(results, indent=1, ensure_ascii=False))


def data_summary(packed: PackedLines, weights: dict[str, float]) -> list[dict[str, Any]]:
    """Training sources as the TensorFlow trainer records them (the model card lists them).

    Parameters
    ----------
    packed : PackedLines
        The training file.
    weights : dict
        Sampling weight per source name (missing: 1).

    Returns
    -------
    list of dict
        Per training source: name, train and val files, weight, attribution (empty),
        train_lines, train_documents, val_lines.
    """
    val = packed.indices("val")
    summary = []
    for name, indices in packed.indices("train").items():
        summary.append(
            {
                "name": name,
                "train": packed.source_path(name, "train"),
                "val": packed.source_path(name, "val") if name in val else None,
                "weight": weights.get(name, 1.0),
                "attribution": "",
                "train_lines": int(len(indices)),
                "train_documents": len({str(d) for d in packed.documents[indices]}),
                "val_lines": int(len(val.get(name, ()))),
            }
        )
    return summary


def label_arrays(texts: np.ndarray, alphabet: Alphabet) -> list[np.ndarray]:
    """int32 label of each text; empty (never drawn) for a blank text or one `alphabet` lacks."""
    empty = np.zeros(0, np.int32)
    labels = []
    for raw in texts:
        text = str(raw)
        usable = text.strip() and not alphabet.unknown(text)
        labels.append(np.array(alphabet.encode(text), np.int32) if usable else empty)
    return labels


def batch_pool(workers: int, packed: PackedLines, labels: list[np.ndarray], height: int) -> Any:
    """Start `workers` spawned batch makers; with 0, make batches here (returns None)."""
    if workers <= 0:
        init_worker(packed, labels, height)
        return None
    context = multiprocessing.get_context("spawn")
    return context.Pool(workers, initializer=init_worker, initargs=(packed, labels, height))


def batch_stream(pool: Any, plan: BatchPlan, ahead: int) -> Iterator[Any]:
    """Endless batches; with a pool, `ahead` of them are being made at any time.

    (``Pool.imap`` would drain the endless task iterator at once: no back-pressure.)
    """
    if pool is None:
        yield from map(make_batch, iter(plan.next_task, None))
        return
    pending = deque(pool.apply_async(make_batch, (plan.next_task(),)) for _ in range(ahead))
    while True:
        batch = pending.popleft().get()
        pending.append(pool.apply_async(make_batch, (plan.next_task(),)))
        yield batch


# ----------------------------------------------------------------------------- command line


def main(argv: list[str] | None = None) -> int:
    """``python -m medocr.training.portable``: train a CRNN from a packed line file."""
    parser = argparse.ArgumentParser(
        prog="python -m medocr.training.portable",
        description="Train the CRNN with Keras 3 on any backend (KERAS_BACKEND=jax|tensorflow|"
        "torch) from a packed line file (medocr dataset pack). Writes OUT/best (a recognizer "
        "bundle), OUT/last.keras and OUT/results.json.",
    )
    parser.add_argument("packed", help="packed line file (.npz) from `medocr dataset pack`")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument(
        "--weight",
        action="append",
        default=[],
        metavar="NAME=W",
        help="sampling weight of a training source (repeat; default 1 each)",
    )
    parser.add_argument("--preset", default="small", help="architecture preset (default small)")
    parser.add_argument("--init", help="bundle to start from (path or shipped name)")
    parser.add_argument("--minutes", type=float, default=9.0, help="wall-clock budget (9)")
    parser.add_argument("--max-steps", type=int, help="stop after this many steps")
    parser.add_argument("--batch-size", type=int, default=64, help="lines per batch (64)")
    parser.add_argument("--learning-rate", type=float, default=1e-3, help="peak rate (1e-3)")
    parser.add_argument("--warmup-steps", type=int, default=200, help="warm-up steps (200)")
    parser.add_argument("--validate-every", type=float, default=60.0, help="seconds (60)")
    parser.add_argument("--max-val-lines", type=int, default=300, help="per val source (300)")
    parser.add_argument("--workers", type=int, default=4, help="batch-making processes (4)")
    parser.add_argument(
        "--buckets",
        default=",".join(map(str, WIDTH_BUCKETS)),
        help="batch widths in px, comma-separated (each is one compiled shape; "
        f"default {','.join(map(str, WIDTH_BUCKETS))})",
    )
    parser.add_argument("--seed", type=int, default=0, help="randomness (0)")
    args = parser.parse_args(argv)
    weights = {}
    for spec in args.weight:
        name, _, value = spec.partition("=")
        try:
            weights[name] = float(value)
        except ValueError:
            parser.error(f"--weight {spec!r}: expected NAME=NUMBER")
    config = PortableConfig(
        packed=args.packed,
        out_dir=args.out,
        weights=weights,
        preset=args.preset,
        init=args.init,
        minutes=args.minutes,
        max_steps=args.max_steps,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        warmup_steps=args.warmup_steps,
        validate_every=args.validate_every,
        max_val_lines=args.max_val_lines,
        workers=args.workers,
        buckets=_buckets(parser, args.buckets),
        seed=args.seed,
    )
    results = PortableTrainer(config).run()
    print(json.dumps({"best": results["best"], "best_step": results["best_step"]}))
    return 0


def _buckets(parser: argparse.ArgumentParser, spec: str) -> tuple[int, ...]:
    try:
        buckets = tuple(sorted(int(part) for part in spec.split(",")))
    except ValueError:
        parser.error(f"--buckets {spec!r}: expected comma-separated pixel widths")
    if not buckets or buckets[0] < 16:
        parser.error(f"--buckets {spec!r}: widths must be at least 16 px")
    return buckets


if __name__ == "__main__":
    sys.exit(main())
