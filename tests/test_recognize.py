"""CRNN recognizer: tiny models, a few training steps (marked tf: they import TensorFlow)."""

import json

import numpy as np
import pytest

from medocr.bundles import read_meta
from medocr.errors import MedocrError, ModelError
from medocr.recognize.alphabet import Alphabet, build_alphabet
from medocr.recognize.crnn import CRNNConfig, frame_count, pad_batch, prepare_line
from medocr.training.recognizer import DataSource

pytestmark = pytest.mark.tf


def test_frame_count_matches_the_network():
    from medocr.recognize.crnn import build_model

    model = build_model(CRNNConfig.preset("tiny", 32, 5))
    for width in (4, 5, 17, 64, 101):
        out = model(np.zeros((1, 32, width, 1), np.float32))
        assert out.shape[1] == frame_count(width)
    assert list(frame_count(np.array([4, 5, 17]))) == [1, 2, 5]


def test_prepare_and_pad():
    line = np.full((20, 50), 255, np.uint8)
    line[5:15, 10:20] = 0
    prepared = prepare_line(line, 32)
    assert prepared.shape == (32, 80) and prepared.dtype == np.float32
    assert prepared.max() == pytest.approx(1.0) and prepared.min() == pytest.approx(0.0)
    batch, widths = pad_batch([prepared, prepared[:, :40]])
    assert batch.shape == (2, 32, 80, 1) and list(widths) == [80, 40]
    assert batch[1, :, 40:].max() == 0.0
    with pytest.raises(ValueError, match="non-empty uint8"):
        prepare_line(np.zeros((0, 5), np.uint8), 32)


def test_alphabet_extension_keeps_old_indices():
    base = Alphabet(tuple("abc"))
    grown = build_alphabet(["abd", "dde"], min_count=1, extra="", base=base)
    assert grown.chars[:3] == ("a", "b", "c") and set(grown.chars[3:]) == {"d", "e"}
    assert build_alphabet(["aab"], min_count=2, extra="z").chars == ("a", "z")


def test_data_source_parsing(tmp_path):
    train = tmp_path / "t.jsonl"
    train.write_text("", encoding="utf-8")
    source = DataSource.parse(f"synth={train}@2.5")
    assert (source.name, source.train, source.val, source.weight) == (
        "synth",
        str(train),
        None,
        2.5,
    )
    with pytest.raises(MedocrError, match="expected NAME=TRAIN.jsonl"):
        DataSource.parse("nothing")
    with pytest.raises(MedocrError, match="missing.jsonl not found"):
        DataSource.parse(f"x={tmp_path / 'missing.jsonl'}")


def _line_set(folder, count, seed):
    from medocr.synth.lines import write_line_set

    return write_line_set(folder, count, seed=seed)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """Train a tiny model for 2 epochs of 3 steps on synthetic lines; return the run folder."""
    from medocr.training.recognizer import TrainConfig, Trainer

    root = tmp_path_factory.mktemp("run")
    train = _line_set(root / "train", 24, 1)
    val = _line_set(root / "val", 8, 2)
    config = TrainConfig(
        sources=[DataSource("synth", str(train), str(val))],
        out_dir=str(root / "out"),
        preset="tiny",
        height=32,
        batch_size=4,
        steps_per_epoch=3,
        epochs=2,
        min_char_count=1,
        extra_chars="abcdefghijklmnopqrstuvwxyz",
    )
    results = Trainer(config).run()
    return root, config, results


def test_training_writes_checkpoint_results_and_bundle(tiny_run):
    root, _, results = tiny_run
    out = root / "out"
    assert results["epoch"] == 2 and len(results["history"]) == 2
    saved = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert saved["history"] == json.loads(json.dumps(results["history"]))
    assert (out / "checkpoint" / "checkpoint").exists()
    meta = read_meta(out / "best", "crnn-ctc")
    # the best epoch is the one with the lowest validation CER, and the bundle saved as
    # best is the model that scored it
    from medocr.recognize.runtime import Recognizer
    from medocr.training.recognizer import Trainer

    best = saved["history"][saved["best_epoch"] - 1]
    assert saved["best"] == best["mean_val_cer"] == min(h["mean_val_cer"] for h in saved["history"])
    assert meta["metrics"]["val_cer_greedy"] == best["val_cer"]
    saved_best = Recognizer.load(out / "best", backend="tensorflow")
    trainer = Trainer(tiny_run[1])
    trainer._load_sources()
    trainer.model_config = saved_best.config
    rescored = trainer.validate(saved_best.model, trainer.val_encoded["synth"])
    assert rescored == pytest.approx(best["val_cer"]["synth"], abs=1e-9)
    assert meta["input_height"] == 32 and meta["training"]["data"][0]["name"] == "synth"
    assert list((out / "logs").iterdir())


def test_resume_continues_after_the_last_epoch(tiny_run):
    from dataclasses import replace

    from medocr.training.recognizer import Trainer

    root, config, _ = tiny_run
    results = Trainer(replace(config, epochs=3)).run()
    assert [h["epoch"] for h in results["history"]] == [1, 2, 3]


def test_resumed_run_draws_other_batches(tiny_run, monkeypatch):
    import medocr.training.recognizer as train

    seeds = []
    original = train.line_dataset

    def recording(*args, seed=None, **kwargs):
        seeds.append(seed)
        return original(*args, seed=seed, **kwargs)

    monkeypatch.setattr(train, "line_dataset", recording)
    _, config, _ = tiny_run
    trainer = train.Trainer(config)
    trainer._load_sources()
    trainer._train_data(0)
    trainer._train_data(0)
    trainer._train_data(2)
    assert seeds[0] == seeds[1] == config.seed, "a fresh run keeps its seed"
    assert seeds[2] != seeds[0], "a run resumed after epoch 2 draws other batches"


def test_weight_averaging_keeps_the_mean_of_epoch_ends_and_resumes(tiny_run, monkeypatch):
    from dataclasses import replace

    import medocr.training.recognizer as train

    root, config, _ = tiny_run
    seen = []  # the model's weights at the end of each epoch, before averaging
    original = train.Trainer._average

    def recording(self, model, results, epoch, writer):
        seen.append([w.copy() for w in model.get_weights()])
        improved = original(self, model, results, epoch, writer)
        assert all(  # the model goes on training from its own weights
            np.array_equal(a, b) for a, b in zip(model.get_weights(), seen[-1], strict=True)
        )
        return improved

    monkeypatch.setattr(train.Trainer, "_average", recording)
    averaged = replace(config, out_dir=str(root / "averaged"), epochs=2, average_from=2)
    results = train.Trainer(averaged).run()
    assert "average" not in results["history"][0]
    assert results["history"][1]["average"]["epochs"] == 1
    # one epoch folded in: the mean is the model itself, and scores the same
    assert results["history"][1]["average"]["val_cer"] == results["history"][1]["val_cer"]
    results = train.Trainer(replace(averaged, epochs=3)).run()  # resumed: goes on averaging
    assert results["history"][2]["average"]["epochs"] == 2
    with np.load(root / "averaged" / "average.npz") as saved:
        assert int(saved["epoch"]) == 3 and int(saved["count"]) == 2
        for index, (first, second) in enumerate(zip(seen[0], seen[1], strict=True)):
            if np.issubdtype(first.dtype, np.floating):
                expected = (first.astype(np.float64) + second) / 2
                np.testing.assert_allclose(saved[f"w{index}"], expected, rtol=1e-12)
    meta = read_meta(root / "averaged" / "average", "crnn-ctc")
    best = results["history"][results["average_best_epoch"] - 1]["average"]
    assert results["average_best"] == best["mean_val_cer"]
    assert meta["metrics"]["val_cer_greedy"] == best["val_cer"]
    assert meta["training"]["averaged_epochs"] == best["epochs"]


def test_bundle_predicts_frame_probs(tiny_run):
    from medocr.recognize.runtime import Recognizer

    root, _, _ = tiny_run
    recognizer = Recognizer.load(root / "out" / "best")
    lines = [np.full((40, 120), 255, np.uint8), np.full((30, 300), 200, np.uint8)]
    probs = recognizer.predict(lines, batch_size=1)
    assert [p.probs.shape[0] for p in probs] == [frame_count(96), frame_count(320)]
    for p in probs:
        assert p.probs.shape[1] == recognizer.alphabet.num_classes
        assert np.allclose(p.probs.sum(axis=1), 1.0, atol=1e-4)


def test_shifted_readings_are_averaged_frame_by_frame(tiny_run):
    from medocr.recognize.crnn import prepare_line
    from medocr.recognize.runtime import Recognizer, shift_rows

    root, _, _ = tiny_run
    recognizer = Recognizer.load(root / "out" / "best")
    rng = np.random.default_rng(3)
    lines = [rng.integers(0, 256, (40, 160), dtype=np.uint8) for _ in range(3)]
    plain = recognizer.predict(lines)
    again = recognizer.predict(lines, shifts=(0,))
    assert all(np.array_equal(a.probs, b.probs) for a, b in zip(plain, again, strict=True))
    averaged = recognizer.predict(lines, shifts=(-2, 0, 2))
    for image, got, base in zip(lines, averaged, plain, strict=True):
        assert got.probs.shape == base.probs.shape  # the frames do not move
        assert np.allclose(got.probs.sum(axis=1), 1.0, atol=1e-4)
        prepared = prepare_line(image, recognizer.config.height)
        moved = [shift_rows(prepared, s) for s in (-2, 0, 2)]
        assert np.array_equal(moved[2][2:], prepared[:-2]) and not moved[2][:2].any()
        expected = np.mean([recognizer._probabilities([m], 1)[0] for m in moved], axis=0)
        np.testing.assert_allclose(got.probs, expected, atol=1e-6)
    for bad in ((), (recognizer.config.height,)):
        with pytest.raises(ValueError, match="shifts"):
            recognizer.predict(lines, shifts=bad)


def test_widening_counts_the_greedy_characters():
    from medocr.recognize.runtime import MAX_WIDENING, widening

    def probs(best: list[int], classes: int = 4) -> np.ndarray:
        out = np.full((len(best), classes), 0.01, np.float32)
        out[np.arange(len(best)), best] = 1.0
        return out

    blank = 3
    # a (repeated), b, blank, b again, c (repeated), a: 5 characters in 8 frames
    dense = probs([0, 0, 1, blank, 1, 2, 2, 0])
    assert widening(dense, 1.5) == 1.0  # 8 frames >= 1.5 x 5
    assert widening(dense, 1.8) == pytest.approx(9 / 8)  # 9 frames wanted, 8 there
    assert widening(dense, 3.0) == pytest.approx(MAX_WIDENING)  # 15 / 8, capped
    assert widening(probs([blank] * 6), 3.0) == 1.0  # nothing read: as it is


def test_dense_lines_are_read_again_widened(tiny_run, monkeypatch):
    from medocr.recognize import runtime
    from medocr.recognize.runtime import Recognizer, widen

    root, _, _ = tiny_run
    recognizer = Recognizer.load(root / "out" / "best")
    rng = np.random.default_rng(4)
    lines = [rng.integers(0, 256, (40, 160), dtype=np.uint8) for _ in range(3)]
    plain = recognizer.predict(lines, min_frames_per_char=None)
    asked = []

    def dense_middle(probs: np.ndarray, min_frames: float) -> float:
        asked.append(min_frames)
        return 1.3 if len(asked) == 2 else 1.0

    monkeypatch.setattr(runtime, "widening", dense_middle)
    read = recognizer.predict(lines, min_frames_per_char=2.5)
    assert asked == [2.5, 2.5, 2.5]
    wide = recognizer.predict([widen(lines[1], 1.3)], min_frames_per_char=None)[0]
    assert widen(lines[1], 1.3).shape == (40, 208)
    np.testing.assert_allclose(read[1].probs, wide.probs, atol=1e-6)
    assert read[1].probs.shape[0] == frame_count(round(208 * 32 / 40))
    for index in (0, 2):
        np.testing.assert_array_equal(read[index].probs, plain[index].probs)


def test_tampered_bundle_is_refused(tiny_run, tmp_path):
    import shutil

    from medocr.recognize.runtime import Recognizer

    root, _, _ = tiny_run
    copy = tmp_path / "bundle"
    shutil.copytree(root / "out" / "best", copy)
    with open(copy / "model.keras", "ab") as stream:
        stream.write(b"x")
    with pytest.raises(ModelError, match="model.keras does not match its sha256"):
        Recognizer.load(copy)
    with pytest.raises(ModelError, match="no such model bundle folder"):
        Recognizer.load(tmp_path / "nothing")


def test_fine_tuning_extends_the_alphabet(tiny_run):
    from dataclasses import replace

    from medocr.recognize.runtime import Recognizer
    from medocr.training.recognizer import Trainer

    root, config, _ = tiny_run
    base = Recognizer.load(root / "out" / "best")
    tuned = replace(
        config,
        out_dir=str(root / "tuned"),
        init=str(root / "out" / "best"),
        epochs=1,
        extra_chars="€",
    )
    Trainer(tuned).run()
    new = Recognizer.load(root / "tuned" / "best")
    assert new.alphabet.chars[: len(base.alphabet.chars)] == base.alphabet.chars
    assert "€" in new.alphabet.chars
    probe = np.random.default_rng(0).random((1, 32, 64, 1)).astype(np.float32)
    old_conv = base.model.get_layer("conv0").get_weights()[0]
    assert old_conv.shape == new.model.get_layer("conv0").get_weights()[0].shape
    assert new.logits(probe).shape[-1] == base.logits(probe).shape[-1] + 1


def test_onnx_export_matches_tensorflow(tiny_run, tmp_path):
    import shutil

    from medocr.recognize.export import export_onnx
    from medocr.recognize.runtime import Recognizer

    root, _, _ = tiny_run
    bundle = tmp_path / "bundle"
    shutil.copytree(root / "out" / "best", bundle)
    report = export_onnx(bundle)
    assert report["max_abs_diff"] < 1e-4
    assert "model.onnx" in read_meta(bundle)["files"]
    on_onnx = Recognizer.load(bundle)
    on_tf = Recognizer.load(bundle, backend="tensorflow")
    assert on_onnx.session is not None and on_tf.session is None
    lines = [
        np.random.default_rng(i).integers(0, 256, (40, 90 + 37 * i), np.uint8) for i in range(3)
    ]
    for a, b in zip(on_onnx.predict(lines), on_tf.predict(lines), strict=True):
        assert np.abs(a.probs - b.probs).max() < 1e-4


MIRRORED = """
import sys, tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(
    cpu, [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()])
from medocr.training.recognizer import DataSource, TrainConfig, Trainer
train, val, out = sys.argv[1:4]
config = TrainConfig(sources=[DataSource("synth", train, val)], out_dir=out, preset="tiny",
                     height=32, batch_size=4, steps_per_epoch=2, epochs=1, min_char_count=1,
                     strategy="mirrored")
results = Trainer(config).run()
print("replicas", tf.distribute.MirroredStrategy().num_replicas_in_sync, "epochs", results["epoch"])
"""


def test_mirrored_strategy_on_two_logical_cpus(tiny_run, tmp_path):
    import subprocess
    import sys

    root, _, _ = tiny_run
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            MIRRORED,
            str(root / "train" / "lines.jsonl"),
            str(root / "val" / "lines.jsonl"),
            str(tmp_path / "out"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "replicas 2 epochs 1" in done.stdout


def test_onnx_sessions_take_their_threads_from_the_environment(monkeypatch):
    from medocr.recognize.runtime import THREADS_ENV, Recognizer

    monkeypatch.setenv(THREADS_ENV, "1")
    recognizer = Recognizer.load("fr-crnn-small", backend="onnx")
    options = recognizer.session.get_session_options()
    assert options.intra_op_num_threads == 1
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    monkeypatch.setenv(THREADS_ENV, "two")
    with pytest.raises(ValueError, match=f"{THREADS_ENV}='two'"):
        Recognizer.load("fr-crnn-small", backend="onnx")


def test_network_calls_are_bounded_in_lines_and_padded_columns():
    from medocr.recognize.runtime import MAX_BATCH_COLUMNS, batches_by_width

    rng = np.random.default_rng(3)
    for _ in range(200):
        widths = [int(w) for w in rng.integers(4, 2 * MAX_BATCH_COLUMNS, rng.integers(1, 40))]
        order = np.argsort(widths, kind="stable")
        size = int(rng.integers(1, 10))
        chunks = batches_by_width(widths, size)
        assert np.array_equal(np.concatenate(chunks), order)  # every line once, in order
        for chunk in chunks:
            assert 1 <= len(chunk) <= size
            padded = len(chunk) * max(widths[i] for i in chunk)
            assert padded <= MAX_BATCH_COLUMNS or len(chunk) == 1
    with pytest.raises(ValueError, match="batch_size"):
        batches_by_width([5, 6, 7], 0)


def test_averaged_bundle_holds_the_weighted_mean(tiny_run, tmp_path):
    from dataclasses import replace

    from medocr.recognize.runtime import Recognizer
    from medocr.training.average import average_bundles, main
    from medocr.training.recognizer import Trainer

    root, config, _ = tiny_run
    other = root / "other"
    if not (other / "best").exists():
        Trainer(replace(config, out_dir=str(other), epochs=1, seed=5)).run()
    sources = [root / "out" / "best", other / "best"]
    meta = average_bundles(tmp_path / "mean", sources, [3, 1])
    loaded = [Recognizer.load(s, backend="tensorflow") for s in sources]
    mean = Recognizer.load(tmp_path / "mean", backend="tensorflow")
    for got, a, b in zip(
        mean.model.get_weights(), loaded[0].model.get_weights(), loaded[1].model.get_weights(),
        strict=True,
    ):  # fmt: skip
        np.testing.assert_allclose(got, 0.75 * a.astype(np.float64) + 0.25 * b, rtol=1e-6)
    assert [s["weight"] for s in meta["training"]["averaged_from"]] == [0.75, 0.25]
    assert meta["training"]["averaged_from"][0]["model"] == loaded[0].ref
    # another alphabet (a fine-tuning run that added a character) cannot be averaged in
    tuned = root / "tuned" / "best"
    if not tuned.exists():  # made by test_fine_tuning_extends_the_alphabet when it ran first
        Trainer(
            replace(config, out_dir=str(root / "tuned"), init=str(sources[0]), epochs=1,
                    extra_chars="€")
        ).run()  # fmt: skip
    assert main([str(tmp_path / "bad"), str(sources[0]), str(tuned)]) == 2
    assert main([str(tmp_path / "one"), str(sources[0])]) == 2
