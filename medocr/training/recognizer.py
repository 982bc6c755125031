"""Train (or fine-tune) the CRNN line recognizer with CTC; checkpoints, resume, early stopping.

Data: any mix of JSONL line sets (``{"image", "text", "document"}``), each with a
sampling weight and an optional validation set. Each epoch is a fixed number of steps
drawn from the weighted mix; after it, the model is validated on every validation set
separately (greedy CER), a checkpoint is written (model + optimizer + epoch: a rerun with
the same output folder resumes), the best model so far is saved as a bundle in
``OUT/best``, the learning rate is halved after a plateau, and training stops early when
the mean validation CER has not improved for ``patience`` epochs. Curves go to
``OUT/results.json`` and TensorBoard logs to ``OUT/logs``.

Weight averaging (``average_from``, stochastic weight averaging without its learning-rate
cycle): from that epoch of the run on, the weights at the end of each epoch are folded into
a running mean (BatchNorm statistics included), which is validated like the model and
saved as a bundle in ``OUT/average`` whenever its mean validation CER is the lowest so far.
The mean and its count live in ``OUT/average.npz`` (written after the checkpoint), so a
resumed run goes on averaging.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from medocr.dataset.readers import EncodedLines, encode_records, line_dataset, read_line_set
from medocr.errors import MedocrError
from medocr.fileio import write_atomic, write_text_atomic
from medocr.recognize.alphabet import Alphabet, build_alphabet
from medocr.recognize.crnn import frame_count, softmax, start_model
from medocr.training import warmup_rate

RESULTS = "results.json"
AVERAGE = "average.npz"
#: Recognizer families a run can train: the CTC CRNN, the attention encoder-decoder.
ARCHES = ("crnn", "attention")


@dataclass(frozen=True)
class DataSource:
    """One training source: a JSONL line set, its weight, its validation set, attribution."""

    name: str
    train: str
    val: str | None = None
    weight: float = 1.0
    attribution: str = ""

    @classmethod
    def parse(cls, spec: str) -> DataSource:
        """Parse ``NAME=TRAIN.jsonl[,VAL.jsonl][@WEIGHT]`` (the ``--data`` option)."""
        if "=" not in spec:
            raise MedocrError(f"--data {spec!r}: expected NAME=TRAIN.jsonl[,VAL.jsonl][@WEIGHT]")
        name, rest = spec.split("=", 1)
        weight = 1.0
        if "@" in rest:
            rest, raw_weight = rest.rsplit("@", 1)
            try:
                weight = float(raw_weight)
            except ValueError as exc:
                raise MedocrError(
                    f"--data {spec!r}: weight {raw_weight!r} is not a number"
                ) from exc
        train, _, val = rest.partition(",")
        for path in (train, val):
            if path and not Path(path).is_file():
                raise MedocrError(f"--data {spec!r}: {path} not found")
        return cls(name, train, val or None, weight)


@dataclass
class TrainConfig:
    """Everything a training run depends on (recorded in results.json and the bundle)."""

    sources: list[DataSource]
    out_dir: str
    preset: str = "small"
    height: int = 48
    batch_size: int = 32
    steps_per_epoch: int = 500
    epochs: int = 60
    learning_rate: float = 1e-3
    patience: int = 6
    seed: int = 0
    init: str | None = None
    max_val_lines: int = 600
    min_char_count: int = 2
    extra_chars: str = ""
    strategy: str | None = None
    arch: str = "crnn"
    minutes: float | None = None
    label_smoothing: float = 0.1
    freeze_encoder: bool = False
    warmup_steps: int = 0
    average_from: int | None = None
    notes: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.arch not in ARCHES:
            raise MedocrError(f"unknown arch {self.arch!r}: choose one of {', '.join(ARCHES)}")


def _strategy(name: str | None) -> Any:
    import tensorflow as tf

    if name in (None, "default"):
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multiworker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise MedocrError(f"unknown strategy {name!r}: default, mirrored or multiworker")


class Trainer:
    """One training run (see the module docstring); :meth:`run` does it all."""

    def __init__(self, config: TrainConfig) -> None:
        self.config = config
        self.out = Path(config.out_dir)
        self.out.mkdir(parents=True, exist_ok=True)
        self.results_path = self.out / RESULTS
        self._reader: Any = None  # Recognizer over the model being trained (validation)
        self._mean: list[np.ndarray] | None = None  # running mean of the weights (float64)
        self._mean_count = 0  # epochs folded into it

    # ----- data -------------------------------------------------------------------------
    def _load_sources(self) -> None:
        from medocr.recognize.runtime import load_recognizer

        cfg = self.config
        self.train_sets = [read_line_set(s.train, s.name) for s in cfg.sources]
        self.val_sets = {s.name: read_line_set(s.val, s.name) for s in cfg.sources if s.val}
        texts = [r.text for ls in self.train_sets for r in ls.records]
        self.base = load_recognizer(cfg.init, backend="tensorflow") if cfg.init else None
        if self.base is not None and cfg.arch == "crnn" and self.base.family != "ctc":
            raise MedocrError(f"--init {cfg.init}: an attention bundle cannot start a CRNN")
        if self.base is not None and self.base.config.height != cfg.height:
            print(
                f"train: using the height of {cfg.init} ({self.base.config.height} px)",
                file=sys.stderr,
            )
            self.config = cfg = replace(cfg, height=self.base.config.height)
        self.alphabet = build_alphabet(
            texts, cfg.min_char_count, cfg.extra_chars, self.base.alphabet if self.base else None
        )
        self.encoded = [encode_records(ls.records, self.alphabet) for ls in self.train_sets]
        self.val_encoded = {}
        for name, line_set in self.val_sets.items():
            enc = encode_records(line_set.records, self.alphabet)
            keep = np.random.default_rng(cfg.seed).permutation(len(enc.records))
            keep = sorted(keep[: cfg.max_val_lines])
            self.val_encoded[name] = EncodedLines(
                [enc.records[i] for i in keep], [enc.labels[i] for i in keep], enc.dropped
            )

    def _train_data(self, start_epoch: int) -> Any:
        """Weighted mix of the augmented training sources.

        A run resumed after epoch `start_epoch` draws other batches than its first epochs
        did (the seeds move on with it), so an interrupted run does not see the same
        lines and augmentations twice.
        """
        import tensorflow as tf

        from medocr.synth.augment import augment_line

        cfg = self.config
        parts = [
            line_dataset(
                enc,
                cfg.height,
                cfg.batch_size,
                training=True,
                augment=augment_line,
                seed=cfg.seed + i + 1000 * start_epoch,
            )
            for i, enc in enumerate(self.encoded)
        ]
        weights = np.array([s.weight for s in cfg.sources], np.float64)
        return tf.data.Dataset.sample_from_datasets(
            parts, list(weights / weights.sum()), seed=cfg.seed + 1000 * start_epoch
        )

    # ----- model ------------------------------------------------------------------------
    def _model(self) -> Any:
        from medocr.recognize import attention

        cfg = self.config
        start = attention.start_model if cfg.arch == "attention" else start_model
        model, self.model_config = start(
            cfg.preset, cfg.height, self.alphabet.num_classes, self.base
        )
        if cfg.freeze_encoder:
            if cfg.arch != "attention" or self.base is None:
                raise MedocrError("--freeze-encoder needs --arch attention and --init")
            for layer in attention.split_model(model)[0].layers:
                # the CRNN body stays as it was (BatchNorms too); the new map to d_model learns
                layer.trainable = layer.name == "memory"
        return model

    # ----- loop -------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        """Train until `epochs` or early stopping; return the results (also in results.json)."""
        import keras
        import tensorflow as tf

        cfg = self.config
        keras.utils.set_random_seed(cfg.seed)
        self._load_sources()
        strategy = _strategy(cfg.strategy)
        with strategy.scope():
            model = self._model()
            optimizer = keras.optimizers.Adam(cfg.learning_rate, clipnorm=5.0)
            optimizer.build(model.trainable_variables)
        epoch_var = tf.Variable(0, dtype=tf.int64)
        checkpoint = tf.train.Checkpoint(model=model, optimizer=optimizer, epoch=epoch_var)
        manager = tf.train.CheckpointManager(checkpoint, str(self.out / "checkpoint"), 2)
        results = self._resume(manager, checkpoint)
        self._read_average(results["epoch"])
        optimizer.learning_rate.assign(results["learning_rate"])
        step = self._train_step(model, optimizer, strategy)
        data = iter(strategy.experimental_distribute_dataset(self._train_data(results["epoch"])))
        writer = tf.summary.create_file_writer(str(self.out / "logs"))
        self._announce(model, results)
        deadline = time.perf_counter() + cfg.minutes * 60 if cfg.minutes else None
        while results["epoch"] < cfg.epochs and not results["stopped_early"]:
            if deadline is not None and time.perf_counter() >= deadline:
                print(f"train: the {cfg.minutes:g}-minute budget is spent", file=sys.stderr)
                break
            epoch = results["epoch"] + 1
            loss, seconds, lines = self._epoch(step, data, epoch, strategy, optimizer, deadline)
            val = {name: self.validate(model, enc) for name, enc in self.val_encoded.items()}
            self._record(results, epoch, loss, lines / seconds, val, optimizer)
            with writer.as_default(step=epoch):
                tf.summary.scalar("loss", loss)
                for name, score in val.items():
                    tf.summary.scalar(f"val_cer/{name}", score)
            if results["improved"]:
                self._save_best(model, results, "best")
            progress = results["improved"]
            if cfg.average_from is not None and epoch >= cfg.average_from:
                progress = self._average(model, results, epoch, writer)
            self._plateau(results, progress, optimizer)
            epoch_var.assign(epoch)
            manager.save()
            self._write_results(results)
            if self._mean is not None:
                self._write_average(epoch)
        return results

    # ----- weight averaging ---------------------------------------------------------------
    def _read_average(self, epoch: int) -> None:
        """Take up the running mean of a resumed run (``OUT/average.npz``), if any."""
        self._mean, self._mean_count = None, 0
        path = self.out / AVERAGE
        if self.config.average_from is None or not path.exists():
            return
        with np.load(path) as saved:
            if int(saved["epoch"]) > epoch:
                print(
                    f"train: {path} is ahead of the checkpoint; averaging starts again",
                    file=sys.stderr,
                )
                return
            count = int(saved["count"])
            self._mean = [saved[f"w{i}"] for i in range(len(saved.files) - 2)]
            self._mean_count = count

    def _average(self, model: Any, results: dict[str, Any], epoch: int, writer: Any) -> bool:
        """Fold this epoch's weights into the mean; validate it and keep the best mean.

        Returns True when the mean's validation CER is the lowest so far.
        """
        import tensorflow as tf

        weights = model.get_weights()
        if self._mean is None:
            self._mean, self._mean_count = [w.astype(np.float64) for w in weights], 1
        else:
            self._mean_count += 1
            for mean, w in zip(self._mean, weights, strict=True):
                mean += (w - mean) / self._mean_count
        model.set_weights(
            [
                m.astype(w.dtype) if np.issubdtype(w.dtype, np.floating) else w
                for m, w in zip(self._mean, weights, strict=True)
            ]
        )
        val = {name: self.validate(model, enc) for name, enc in self.val_encoded.items()}
        mean_cer = float(np.mean(list(val.values()))) if val else 0.0
        entry = results["history"][-1]
        entry["average"] = {"epochs": self._mean_count, "val_cer": val, "mean_val_cer": mean_cer}
        best = results.get("average_best")
        improved = best is None or mean_cer < best
        if improved:
            results["average_best"], results["average_best_epoch"] = mean_cer, epoch
            self._save_best(model, results, "average")
        model.set_weights(weights)
        with writer.as_default(step=epoch):
            for name, score in val.items():
                tf.summary.scalar(f"average_val_cer/{name}", score)
        shown = ", ".join(f"{k} {v:.4f}" for k, v in val.items())
        print(
            f"train: epoch {epoch}: mean of {self._mean_count} epochs' weights, val CER "
            f"{shown}{' (best)' if improved else ''}",
            file=sys.stderr,
        )
        return improved

    def _write_average(self, epoch: int) -> None:
        """Save the running mean after the checkpoint (atomically, as ``OUT/average.npz``)."""
        import io

        buffer = io.BytesIO()
        arrays: dict[str, Any] = {f"w{i}": m for i, m in enumerate(self._mean or [])}
        arrays["epoch"], arrays["count"] = np.array(epoch), np.array(self._mean_count)
        np.savez(buffer, **arrays)
        write_atomic(self.out / AVERAGE, buffer.getvalue())

    def _resume(self, manager: Any, checkpoint: Any) -> dict[str, Any]:
        fresh = {
            "config": _config_dict(self.config),
            "alphabet": self.alphabet.to_dict(),
            "epoch": 0,
            "learning_rate": self.config.learning_rate,
            "history": [],
            "best": None,
            "best_epoch": 0,
            "stale": 0,
            "stopped_early": False,
            "improved": False,
            "data": self._data_summary(),
        }
        if manager.latest_checkpoint and self.results_path.exists():
            results = json.loads(self.results_path.read_text(encoding="utf-8"))
            if results["alphabet"] != fresh["alphabet"]:
                raise MedocrError(f"{self.out}: holds a run with another alphabet; use a new --out")
            checkpoint.restore(manager.latest_checkpoint)
            print(f"train: resuming {self.out} after epoch {results['epoch']}", file=sys.stderr)
            return results
        return fresh

    def _data_summary(self) -> list[dict[str, Any]]:
        summary = []
        for source, line_set, enc in zip(
            self.config.sources, self.train_sets, self.encoded, strict=True
        ):
            val = self.val_encoded.get(source.name)
            summary.append(
                {
                    "name": source.name,
                    "train": source.train,
                    "val": source.val,
                    "weight": source.weight,
                    "attribution": source.attribution,
                    "train_lines": len(enc.records),
                    "train_documents": len({r.document for r in enc.records}),
                    "dropped": enc.dropped,
                    "bad_rows": len(line_set.errors),
                    "val_lines": len(val.records) if val else 0,
                }
            )
        return summary

    def _announce(self, model: Any, results: dict[str, Any]) -> None:
        lines = sum(len(e.records) for e in self.encoded)
        print(
            f"train: {model.count_params():,} parameters, alphabet of "
            f"{len(self.alphabet.chars)} characters, {lines:,} training lines from "
            f"{len(self.encoded)} sources, starting at epoch {results['epoch'] + 1}",
            file=sys.stderr,
        )

    def _train_step(self, model: Any, optimizer: Any, strategy: Any) -> Any:
        if self.config.arch == "attention":
            return _attention_train_step(
                model, optimizer, strategy, self.model_config, self.config.label_smoothing
            )
        return _train_step(model, optimizer, strategy)

    def _epoch(
        self,
        step: Any,
        data: Any,
        epoch: int,
        strategy: Any,
        optimizer: Any,
        deadline: float | None = None,
    ) -> tuple[float, float, int]:
        """One epoch of `steps_per_epoch` steps (cut short at the `deadline`, if any)."""
        cfg = self.config
        losses, lines, began = [], 0, time.perf_counter()
        for index in range(cfg.steps_per_epoch):
            if deadline is not None and index and time.perf_counter() >= deadline:
                break
            self._warm_up(optimizer, (epoch - 1) * cfg.steps_per_epoch + index)
            images, widths, labels = next(data)
            losses.append(float(step(images, widths, labels)))
            per_replica = strategy.run(_batch_size, args=(widths,))
            lines += int(strategy.reduce("SUM", per_replica, axis=None))
            if (index + 1) % 10 == 0 or index + 1 == cfg.steps_per_epoch:
                _progress(
                    epoch,
                    index + 1,
                    cfg.steps_per_epoch,
                    losses[-10:],
                    lines,
                    time.perf_counter() - began,
                )
        return float(np.mean(losses)), time.perf_counter() - began, lines

    def _warm_up(self, optimizer: Any, done: int) -> None:
        """During the first `warmup_steps` steps, set the rate to its share of the peak."""
        steps = self.config.warmup_steps
        rate = warmup_rate(self.config.learning_rate, done, steps)
        if rate is not None:
            optimizer.learning_rate.assign(rate)
        elif done == steps and steps:
            optimizer.learning_rate.assign(self.config.learning_rate)

    def validate(self, model: Any, encoded: EncodedLines) -> float:
        """Greedy-decoding CER of `model` on a validation set."""
        from medocr.evaluate.metrics import cer
        from medocr.recognize.runtime import Recognizer

        if self.config.arch == "attention":
            return self._validate_attention(model, encoded)
        if self._reader is None or self._reader.model is not model:  # traced once per model
            self._reader = Recognizer(model, self.alphabet, self.model_config, {})
        truths, guesses = [], []
        data = line_dataset(encoded, self.config.height, 64, training=False)
        for images, widths, labels in data:
            probs = softmax(self._reader.logits(images.numpy()))
            frames = np.asarray(frame_count(widths.numpy()))
            for row in range(probs.shape[0]):
                guesses.append(_greedy_text(probs[row, : frames[row]], self.alphabet))
                truths.append(self.alphabet.decode([i for i in labels[row].numpy() if i >= 0]))
        return cer(truths, guesses)

    def _validate_attention(self, model: Any, encoded: EncodedLines) -> float:
        """Greedy CER of an attention model (batched greedy decoding)."""
        from medocr.evaluate.metrics import cer
        from medocr.recognize.attention import frame_masks, memory_frames
        from medocr.recognize.attention_incremental import greedy_batch
        from medocr.recognize.attention_runtime import AttentionRecognizer

        if self._reader is None or self._reader.model is not model:  # traced once per model
            self._reader = AttentionRecognizer(model, self.alphabet, self.model_config, {})
        self._reader._weights = None  # the weights of this epoch
        truths, guesses = [], []
        for images, widths, labels in line_dataset(encoded, self.config.height, 64, training=False):
            memory = self._reader.encode(images.numpy())
            mask = frame_masks(memory_frames(widths.numpy()), memory.shape[1])
            readings = greedy_batch(self._reader.decoder_weights, self.model_config, memory, mask)
            for row, tokens in enumerate(readings):
                guesses.append(self.alphabet.decode(tokens))
                truths.append(self.alphabet.decode([i for i in labels[row].numpy() if i >= 0]))
        return cer(truths, guesses)

    def _record(
        self,
        results: dict[str, Any],
        epoch: int,
        loss: float,
        rate: float,
        val: dict[str, float],
        optimizer: Any,
    ) -> None:
        mean_cer = float(np.mean(list(val.values()))) if val else -loss
        entry = {
            "epoch": epoch,
            "loss": loss,
            "lines_per_s": rate,
            "val_cer": val,
            "mean_val_cer": mean_cer,
            "learning_rate": _learning_rate(optimizer),
        }
        results["history"].append(entry)
        results["epoch"] = epoch
        results["improved"] = results["best"] is None or mean_cer < results["best"]
        if results["improved"]:
            results["best"], results["best_epoch"] = mean_cer, epoch
        shown = ", ".join(f"{k} {v:.4f}" for k, v in val.items())
        print(
            f"train: epoch {epoch}: loss {loss:.3f}, {rate:.1f} lines/s, val CER {shown}"
            f"{' (best)' if results['improved'] else ''}",
            file=sys.stderr,
        )

    def _plateau(self, results: dict[str, Any], improved: bool, optimizer: Any) -> None:
        """Count epochs without progress: halve the rate every second one, stop at patience.

        Progress is a new lowest mean validation CER: of the model, or of the mean of the
        weights once averaging has begun (the model that would be shipped).
        """
        if improved:
            results["stale"] = 0
        else:
            results["stale"] += 1
            if results["stale"] % 2 == 0:
                optimizer.learning_rate.assign(_learning_rate(optimizer) * 0.5)
            results["stopped_early"] = results["stale"] >= self.config.patience
        results["learning_rate"] = _learning_rate(optimizer)

    def _save_best(self, model: Any, results: dict[str, Any], folder: str) -> None:
        """Save `model` as a bundle in ``OUT/folder`` with the epoch's figures."""
        from medocr.recognize.attention_runtime import save_attention
        from medocr.recognize.runtime import save_recognizer

        best = results["history"][-1]
        val_cer = best["val_cer"]
        training = {
            "config": _config_dict(self.config),
            "data": results["data"],
            "epoch": best["epoch"],
            "command": self.config.notes.get("command", ""),
        }
        if folder == "average":
            training["averaged_epochs"] = best["average"]["epochs"]
            val_cer = best["average"]["val_cer"]
        save = save_attention if self.config.arch == "attention" else save_recognizer
        save(
            self.out / folder,
            model,
            self.alphabet,
            self.model_config,
            training=training,
            metrics={"val_cer_greedy": val_cer},
        )

    def _write_results(self, results: dict[str, Any]) -> None:
        write_text_atomic(self.results_path, json.dumps(results, indent=1, ensure_ascii=False))


def _progress(
    epoch: int, done: int, total: int, recent: list[float], lines: int, seconds: float
) -> None:
    """One progress line on stderr: step, recent loss, lines/s, time left in the epoch."""
    rate = lines / seconds if seconds else 0.0
    left = seconds / done * (total - done)
    end = "\n" if done == total or not sys.stderr.isatty() else ""
    sys.stderr.write(
        f"\rtrain: epoch {epoch} step {done}/{total}, loss {np.mean(recent):.3f}, "
        f"{rate:.1f} lines/s, {left:.0f}s left  {end}"
    )
    sys.stderr.flush()


def _learning_rate(optimizer: Any) -> float:
    """Return the optimizer's current learning rate (also under a distribution strategy)."""
    import keras

    return float(keras.ops.convert_to_numpy(optimizer.learning_rate))


def _config_dict(config: TrainConfig) -> dict[str, Any]:
    data = asdict(config)
    data["sources"] = [asdict(s) for s in config.sources]
    return data


def _batch_size(widths: Any) -> Any:
    import tensorflow as tf

    return tf.shape(widths)[0]


def _train_step(model: Any, optimizer: Any, strategy: Any) -> Any:
    import tensorflow as tf

    def one(images: Any, widths: Any, labels: Any) -> Any:
        frames = frame_count(widths)
        mask = labels >= 0
        sparse = tf.SparseTensor(
            tf.where(mask), tf.boolean_mask(labels, mask), tf.cast(tf.shape(labels), tf.int64)
        )
        with tf.GradientTape() as tape:
            logits = model(images, training=True)
            losses = tf.nn.ctc_loss(
                sparse, logits, None, frames, logits_time_major=False, blank_index=-1
            )
            finite = tf.math.is_finite(losses)
            loss = tf.reduce_sum(tf.where(finite, losses, 0.0)) / tf.maximum(
                tf.reduce_sum(tf.cast(finite, tf.float32)), 1.0
            )
        grads = tape.gradient(loss, model.trainable_variables)
        # a sample CTC cannot align must not poison the weights
        grads = [tf.where(tf.math.is_finite(g), g, tf.zeros_like(g)) for g in grads]
        optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
        return loss

    @tf.function(reduce_retracing=True)
    def step(images: Any, widths: Any, labels: Any) -> Any:
        per_replica = strategy.run(one, args=(images, widths, labels))
        return strategy.reduce("MEAN", per_replica, axis=None)

    return step


def _attention_train_step(
    model: Any, optimizer: Any, strategy: Any, config: Any, smoothing: float
) -> Any:
    """Teacher-forced step: labels ``(B, L)`` padded with -1 become decoder inputs/targets."""
    import tensorflow as tf

    from medocr.recognize.attention import loss_fn

    loss_of = loss_fn(config.num_classes, smoothing)

    def one(images: Any, widths: Any, labels: Any) -> Any:
        batch = tf.shape(labels)[0]
        lengths = tf.reduce_sum(tf.cast(labels >= 0, tf.int32), axis=1)
        padded = tf.concat([labels, -tf.ones([batch, 1], labels.dtype)], axis=1)
        at_end = tf.range(tf.shape(padded)[1])[None, :] == lengths[:, None]
        targets = tf.where(at_end, tf.cast(config.end, labels.dtype), padded)
        start = tf.fill([batch, 1], tf.cast(config.start, labels.dtype))
        tokens = tf.cast(tf.concat([start, tf.maximum(labels, 0)], axis=1), tf.int32)
        total = frame_count(tf.shape(images)[2])
        mask = tf.sequence_mask(frame_count(widths), total, tf.float32)
        with tf.GradientTape() as tape:
            logits = model([images, mask, tokens], training=True)
            loss = tf.reduce_mean(loss_of(targets, logits))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
        return loss

    @tf.function(reduce_retracing=True)
    def step(images: Any, widths: Any, labels: Any) -> Any:
        per_replica = strategy.run(one, args=(images, widths, labels))
        return strategy.reduce("MEAN", per_replica, axis=None)

    return step


def _greedy_text(probs: np.ndarray, alphabet: Alphabet) -> str:
    from medocr.decode import greedy
    from medocr.types import FrameProbs

    return greedy(FrameProbs(np.ascontiguousarray(probs), alphabet)).text
