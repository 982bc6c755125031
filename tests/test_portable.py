"""Packed line files and the backend-agnostic trainer (JAX-trained weights read by TensorFlow)."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from medocr.bundles import read_meta
from medocr.dataset.packed import PackedLines, PackSource, pack_line_sets
from medocr.recognize.alphabet import Alphabet
from medocr.recognize.crnn import frame_count
from medocr.training.portable import (
    BatchPlan,
    as_ink,
    bucket_of,
    ctc_fits,
    init_worker,
    make_batch,
    validation_tasks,
)


@pytest.fixture(scope="module")
def packed_file(tmp_path_factory):
    """A packed file of 20 synthetic training lines and 6 validation lines, 32 px high."""
    from medocr.synth.lines import write_line_set

    root = tmp_path_factory.mktemp("packed")
    train = write_line_set(root / "train", 20, seed=1)
    val = write_line_set(root / "val", 6, seed=2)
    sources = [
        PackSource("synth", str(train)),
        PackSource("other", str(train), limit=5),
        PackSource("synth", str(val), "val"),
    ]
    counts = pack_line_sets(sources, root / "lines.npz", height=32)
    return root / "lines.npz", train, counts


def test_pack_keeps_every_line_and_text(packed_file):
    path, train, counts = packed_file
    assert counts == {"unreadable": 0, "synth:train": 20, "other:train": 5, "synth:val": 6}
    packed = PackedLines.load(path)
    rows = [json.loads(line) for line in train.read_text(encoding="utf-8").splitlines()]
    assert len(packed) == 31 and packed.height == 32
    assert [str(t) for t in packed.texts[:20]] == [r["text"] for r in rows]
    image = packed.image(0)
    assert image.dtype == np.uint8 and image.shape == (32, packed.widths[0])
    by_kind = packed.indices("train")
    assert sorted(by_kind) == ["other", "synth"] and len(by_kind["other"]) == 5
    assert list(packed.indices("val")["synth"]) == list(range(25, 31))


def test_pack_source_spec_and_bad_files(tmp_path, packed_file):
    _, train, _ = packed_file
    source = PackSource.parse(f"x={train}:val#7")
    assert (source.name, source.kind, source.limit) == ("x", "val", 7)
    with pytest.raises(ValueError, match="not found"):
        PackSource.parse(f"x={tmp_path / 'missing.jsonl'}")
    with pytest.raises(ValueError, match="expected NAME="):
        PackSource.parse(str(train))
    other = tmp_path / "other.npz"
    np.savez(other, a=np.zeros(3))
    with pytest.raises(ValueError, match="not a packed line file"):
        PackedLines.load(other)


def test_buckets_and_ctc_feasibility():
    assert bucket_of(100, (256, 512)) == 256
    assert bucket_of(250, (256, 512)) == 512, "room is kept for the slant"
    assert bucket_of(5000, (256, 512)) == 512, "too wide: squeezed into the last bucket"
    assert ctc_fits(np.array([1, 2, 3]), 12) and not ctc_fits(np.array([1, 2, 3]), 8)
    assert not ctc_fits(np.array([1, 1, 1]), 16), "repeats need a blank between them"


def test_batches_have_bucket_shapes_and_ctc_targets(packed_file):
    path, _, _ = packed_file
    packed = PackedLines.load(path)
    alphabet = Alphabet.from_texts(str(t) for t in packed.texts)
    labels = [np.array(alphabet.encode(str(t)), np.int32) for t in packed.texts]
    labels[3] = np.arange(400, dtype=np.int32) % 5  # far too long for its line
    init_worker(packed, labels, packed.height)
    plan = BatchPlan(packed, labels, {"other": 0.0}, 4, seed=0, buckets=(512, 2048))
    drawn = set()
    for _ in range(20):
        width, indices, seed, augment = plan.next_task()
        images, targets = make_batch((width, indices, seed, augment))
        assert images.shape == (4, 32, width, 1) and images.dtype == np.uint8
        assert targets.shape == (4, 2 + width // 4)
        for row, index in enumerate(indices):
            length = len(labels[index])
            assert targets[row, 1] == length
            assert list(targets[row, 2 : 2 + length]) == list(labels[index])
            assert length <= targets[row, 0] <= frame_count(width)
        drawn.update(int(i) for i in indices)
    assert 3 not in drawn, "a line CTC cannot align is never drawn"
    assert not drawn & set(packed.indices("train")["other"]), "weight 0: never drawn"
    ink = as_ink(images)
    assert ink.dtype == np.float32 and ink.min() >= 0.0 and ink.max() <= 1.0
    tasks = validation_tasks(packed.indices("val")["synth"], packed.widths, 4, (512, 2048))
    assert sorted(i for t in tasks for i in t[1]) == list(packed.indices("val")["synth"])
    assert all(not t[3] for t in tasks), "validation lines are not augmented"


def test_portable_trainer_imports_no_tensorflow():
    """The GPU recipe runs it where only JAX and Keras are installed (no TF, PIL, crc32c)."""
    code = (
        "import sys, medocr.training, medocr.training.portable; print([m for m in ("
        "'tensorflow', 'PIL', 'google_crc32c', 'medocr.training.recognizer', "
        "'medocr.dataset.readers') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.tf
def test_portable_trainer_writes_a_bundle(packed_file, tmp_path):
    from medocr.recognize.runtime import Recognizer
    from medocr.training.portable import PortableConfig, PortableTrainer

    path, _, _ = packed_file
    config = PortableConfig(
        packed=str(path),
        out_dir=str(tmp_path / "run"),
        preset="tiny",
        max_steps=3,
        minutes=5,
        batch_size=4,
        workers=0,
        buckets=(512, 2048),
        min_char_count=1,
    )
    results = PortableTrainer(config).run()
    assert results["history"][-1]["step"] == 3 and results["backend"] == "tensorflow"
    assert set(results["history"][-1]["val_cer"]) == {"synth"}
    meta = read_meta(tmp_path / "run" / "best", "crnn-ctc")
    assert meta["training"]["trainer"].startswith("medocr.training.portable")
    assert (tmp_path / "run" / "last.keras").exists()
    probs = Recognizer.load(tmp_path / "run" / "best").predict([PackedLines.load(path).image(0)])
    assert probs[0].probs.shape[1] == meta["architecture"]["num_classes"]


JAX_PREDICT = """
import sys, numpy as np, keras
model = keras.saving.load_model(sys.argv[1], compile=False, safe_mode=True)
x = np.random.default_rng(0).random((2, 32, 120, 1), dtype=np.float32)
np.save(sys.argv[2], np.asarray(model.predict_on_batch(x)))
print(keras.backend.backend())
"""


@pytest.mark.tf
@pytest.mark.slow
def test_jax_trained_bundle_predicts_identically_in_tensorflow(packed_file, tmp_path):
    pytest.importorskip("jax", reason="jax is a dev dependency (setup.cfg [dev])")
    import keras

    path, _, _ = packed_file
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    run = tmp_path / "run"
    command = [sys.executable, "-m", "medocr.training.portable", str(path), "--out", str(run),
               "--preset", "tiny", "--max-steps", "2", "--batch-size", "4", "--workers", "0",
               "--buckets", "512,2048"]  # fmt: skip
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    results = json.loads((run / "results.json").read_text(encoding="utf-8"))
    assert results["backend"] == "jax"
    reference = tmp_path / "jax.npy"
    predict = [sys.executable, "-c", JAX_PREDICT, str(run / "best" / "model.keras"), str(reference)]
    done = subprocess.run(predict, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and done.stdout.strip() == "jax", done.stderr[-2000:]
    model = keras.saving.load_model(run / "best" / "model.keras", compile=False, safe_mode=True)
    x = np.random.default_rng(0).random((2, 32, 120, 1), dtype=np.float32)
    ours = np.asarray(model.predict_on_batch(x))
    assert keras.backend.backend() == "tensorflow"
    np.testing.assert_allclose(ours, np.load(reference), atol=1e-4)


def test_pack_command_and_its_errors(packed_file, tmp_path, capsys):
    from medocr.cli import main

    _, train, _ = packed_file
    out = tmp_path / "cli.npz"
    spec = f"a={train}#4"
    assert main(["dataset", "pack", "--source", spec, "--out", str(out), "--height", "32"]) == 0
    assert "4 lines (0 unreadable skipped)" in capsys.readouterr().out
    assert len(PackedLines.load(out)) == 4 and PackedLines.load(out).height == 32
    missing = tmp_path / "missing.jsonl"
    assert main(["dataset", "pack", "--source", f"a={missing}", "--out", str(out)]) == 2
    assert f"{missing} not found" in capsys.readouterr().err
