"""Attention encoder-decoder recognizer: tiny models, a few steps (marked tf)."""

import json
import shutil

import numpy as np
import pytest

from medocr.errors import MedocrError, ModelError
from medocr.recognize import attention
from medocr.recognize.attention_incremental import decoder_weights, greedy_batch
from medocr.types import EncodedLine

pytestmark = pytest.mark.tf


def _toy_image(text: str) -> np.ndarray:
    """float32 ``(16, 12 * len + 8)`` ink: ``a`` a block in the top half, ``b`` in the bottom."""
    image = np.zeros((16, 12 * len(text) + 8), np.float32)
    for index, char in enumerate(text):
        x = 4 + 12 * index
        rows = slice(2, 8) if char == "a" else slice(9, 15)
        image[rows, x : x + 8] = 1.0
    return image


def test_teacher_forcing_inputs_and_targets():
    config = attention.AttentionConfig.preset("tiny", 32, 5)  # 4 characters, end 4, start 5
    tokens, targets = attention.teacher_forcing([np.array([1, 2]), np.array([3])], config, 4)
    assert tokens.tolist() == [[5, 1, 2, 0], [5, 3, 0, 0]]
    assert targets.tolist() == [[1, 2, 4, -1], [3, 4, -1, -1]]
    masks = attention.frame_masks(np.array([2, 3]), 4)
    assert masks.tolist() == [[1, 1, 0, 0], [1, 1, 1, 0]]


def test_unknown_preset_and_bad_heads_are_refused():
    with pytest.raises(ValueError, match="unknown preset 'huge': choose one of small, tiny"):
        attention.AttentionConfig.preset("huge", 32, 5)
    config = attention.AttentionConfig(height=32, num_classes=5, d_model=10, heads=4)
    with pytest.raises(ValueError, match="d_model 10 is not a multiple of heads 4"):
        attention.build_decoder(config)


def test_a_tiny_model_learns_a_toy_line_set():
    """Teacher forcing + the masked loss learn to read 16 toy lines in 150 steps."""
    import keras

    rng = np.random.default_rng(0)
    texts = ["".join(rng.choice(list("ab"), rng.integers(2, 5))) for _ in range(16)]
    images = [_toy_image(text) for text in texts]
    width = max(image.shape[1] for image in images)
    batch = np.zeros((len(texts), 16, width, 1), np.float32)
    for row, image in enumerate(images):
        batch[row, :, : image.shape[1], 0] = image
    config = attention.AttentionConfig(
        height=16, num_classes=3, filters=(8, 16, 16, 16, 16), dense=32, lstm=16,
        dropout=0.0, d_model=32, heads=2, blocks=1, ffn=32, max_length=8,
    )  # fmt: skip
    keras.utils.set_random_seed(0)
    model = attention.build_model(config)
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss=attention.loss_fn(3, 0.0))
    labels = [np.array(["ab".index(c) for c in text]) for text in texts]
    tokens, targets = attention.teacher_forcing(labels, config, multiple=8)
    frames = attention.memory_frames(np.array([image.shape[1] for image in images]))
    mask = attention.frame_masks(frames, int(attention.memory_frames(np.array([width]))[0]))
    for _ in range(150):
        loss = model.train_on_batch([batch, mask, tokens], targets)
    assert loss < 0.05
    encoder, decoder = attention.split_model(model)
    # 150 steps leave BatchNormalization's moving averages behind: read with batch statistics
    memory = np.asarray(encoder(batch, training=True))
    readings = greedy_batch(decoder_weights(decoder), config, memory, mask)
    assert ["".join("ab"[i] for i in reading) for reading in readings] == texts


@pytest.fixture(scope="module")
def tiny_runs(tmp_path_factory):
    """A tiny CRNN run, and an attention run whose encoder starts from it (2 epochs each)."""
    from medocr.synth.lines import write_line_set
    from medocr.training.recognizer import DataSource, TrainConfig, Trainer

    root = tmp_path_factory.mktemp("attention")
    train = write_line_set(root / "train", 24, seed=1)
    val = write_line_set(root / "val", 8, seed=2)
    base = TrainConfig(
        sources=[DataSource("synth", str(train), str(val))],
        out_dir=str(root / "crnn"),
        preset="tiny",
        height=32,
        batch_size=4,
        steps_per_epoch=3,
        epochs=1,
        min_char_count=1,
        extra_chars="0123456789/abcdefghijklmnopqrstuvwxyz",  # dates can be written
    )
    Trainer(base).run()
    from dataclasses import replace

    config = replace(
        base, out_dir=str(root / "attention"), arch="attention", epochs=2,
        init=str(root / "crnn" / "best"),
    )  # fmt: skip
    results = Trainer(config).run()
    return root, config, results


def test_attention_run_writes_a_bundle_that_loads_by_kind(tiny_runs):
    from medocr.bundles import read_meta
    from medocr.recognize.attention_runtime import AttentionRecognizer
    from medocr.recognize.runtime import Recognizer, load_recognizer

    root, _, results = tiny_runs
    assert [h["epoch"] for h in results["history"]] == [1, 2]
    meta = read_meta(root / "attention" / "best", "attention-seq2seq")
    assert meta["architecture"]["num_classes"] == len(meta["alphabet"]["chars"]) + 1
    attention_model = load_recognizer(root / "attention" / "best")
    assert isinstance(attention_model, AttentionRecognizer)
    assert attention_model.family == "attention"
    assert isinstance(load_recognizer(root / "crnn" / "best"), Recognizer)
    crnn = Recognizer.load(root / "crnn" / "best", backend="tensorflow")
    encoder, _ = attention.split_model(attention_model.model)
    assert encoder.get_layer("conv0").get_weights()[0].shape == (3, 3, 1, 4)
    assert attention_model.config.filters == crnn.config.filters


def test_the_encoder_starts_from_the_crnn(tiny_runs, tmp_path):
    """--init with a CRNN bundle copies its body (convolutions, projection, BiLSTMs)."""
    from medocr.recognize.runtime import Recognizer

    root, _, _ = tiny_runs
    crnn = Recognizer.load(root / "crnn" / "best", backend="tensorflow")
    model, config = attention.start_model("tiny", 32, crnn.alphabet.num_classes, crnn)
    encoder, _ = attention.split_model(model)
    for name in ("conv0", "bn4", "project", "bilstm1"):
        for copied, original in zip(
            encoder.get_layer(name).get_weights(),
            crnn.model.get_layer(name).get_weights(),
            strict=True,
        ):
            np.testing.assert_array_equal(copied, original)
    assert config.lstm == crnn.config.lstm


def test_predict_gives_encoded_lines_and_greedy_readings(tiny_runs):
    from medocr.recognize.attention_runtime import AttentionRecognizer

    root, _, _ = tiny_runs
    recognizer = AttentionRecognizer.load(root / "attention" / "best")
    lines = [np.full((40, 120), 255, np.uint8), np.full((30, 300), 200, np.uint8)]
    encoded = recognizer.predict(lines, batch_size=1)
    assert [line.memory.shape[0] for line in encoded] == [24, 80]  # ceil(96/4), ceil(320/4)
    assert all(isinstance(line, EncodedLine) for line in encoded)
    memory = np.repeat(encoded[0].memory[None], 2, axis=0)
    log_probs, weights = recognizer.step(
        memory, np.ones((2, 24), np.float32), np.full((2, 1), encoded[0].start, np.int32)
    )
    assert log_probs.shape == (2, recognizer.alphabet.num_classes)
    np.testing.assert_allclose(np.exp(log_probs).sum(axis=1), 1.0, atol=1e-4)
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, atol=1e-4)
    readings = recognizer.read_greedy(lines, batch_size=1)
    assert len(readings) == 2 and all(len(text) <= 80 for text in readings)
    # the batched greedy reads what the one-line greedy search reads, from the same memory
    # (batch_size=1 as `encoded`: a line padded to a wider one's width gets a slightly
    # different memory, which flips the near-ties of this untrained model's readings)
    from medocr.decode import attention_greedy

    assert readings == [attention_greedy(line).text for line in encoded]


def test_foreign_altered_and_onnx_requests_are_refused(tiny_runs, tmp_path):
    from medocr.recognize.attention_runtime import AttentionRecognizer
    from medocr.recognize.runtime import Recognizer, load_recognizer

    root, _, _ = tiny_runs
    with pytest.raises(ModelError, match="bundle kind is 'crnn-ctc', expected 'attention-seq2seq'"):
        AttentionRecognizer.load(root / "crnn" / "best")
    with pytest.raises(ModelError, match="bundle kind is 'attention-seq2seq', expected 'crnn-ctc'"):
        Recognizer.load(root / "attention" / "best")
    with pytest.raises(
        ModelError, match="no encoder.onnx, decoder_step.onnx and decoder.npz in this bundle"
    ):
        AttentionRecognizer.load(root / "attention" / "best", backend="onnx")
    copy = tmp_path / "altered"
    shutil.copytree(root / "attention" / "best", copy)
    with open(copy / "model.keras", "ab") as stream:
        stream.write(b"x")
    with pytest.raises(ModelError, match="model.keras does not match its sha256"):
        load_recognizer(copy)
    foreign = tmp_path / "foreign"
    shutil.copytree(root / "attention" / "best", foreign)
    meta = json.loads((foreign / "meta.json").read_text(encoding="utf-8"))
    from medocr.bundles import write_meta

    write_meta(foreign, "hog-lgbm", {k: v for k, v in meta.items() if k not in ("kind",)})
    with pytest.raises(ModelError, match="bundle kind 'hog-lgbm' is not a line recognizer"):
        load_recognizer(foreign)


def test_onnx_export_matches_tensorflow(tiny_runs, tmp_path):
    """encoder.onnx + decoder_step.onnx read exactly as the Keras model does."""
    from medocr.recognize.attention_runtime import AttentionRecognizer
    from medocr.recognize.export import export_onnx

    root, _, _ = tiny_runs
    bundle = tmp_path / "bundle"
    shutil.copytree(root / "attention" / "best", bundle)
    report = export_onnx(bundle)
    assert report["max_abs_diff"] < 1e-4 and report["onnx_bytes"] > 0
    onnx = AttentionRecognizer.load(bundle)  # auto: ONNX Runtime when the files are there
    keras_model = AttentionRecognizer.load(bundle, backend="tensorflow")
    assert onnx.session is not None and onnx.model is None
    rng = np.random.default_rng(3)
    lines = [rng.integers(0, 256, (36, w), dtype=np.uint8) for w in (90, 260, 410)]
    assert onnx.read_greedy(lines) == keras_model.read_greedy(lines)
    first, second = onnx.predict(lines)[1], keras_model.predict(lines)[1]
    np.testing.assert_allclose(first.memory, second.memory, atol=1e-4)
    prefixes = np.array([[first.start, 1, 2], [first.start, 3, 4]], np.int32)
    mask = np.ones((2, len(first.memory)), np.float32)
    memory = np.repeat(first.memory[None], 2, axis=0)
    for onnx_out, keras_out in zip(
        first.step(memory, mask, prefixes), second.step(memory, mask, prefixes), strict=True
    ):
        np.testing.assert_allclose(onnx_out, keras_out, atol=1e-4)


def test_the_incremental_step_equals_the_keras_decoder(tiny_runs):
    """Cached numpy decoding gives the Keras decoder's log-probabilities and attention."""
    from medocr.recognize.attention_incremental import IncrementalStep
    from medocr.recognize.attention_runtime import AttentionRecognizer

    root, _, _ = tiny_runs
    recognizer = AttentionRecognizer.load(root / "attention" / "best", backend="tensorflow")
    rng = np.random.default_rng(5)
    memory = rng.normal(size=(40, recognizer.config.d_model)).astype(np.float32)
    mask = np.ones((3, 40), np.float32)
    mask[:, 30:] = 0  # padding frames are not attended
    step = IncrementalStep(recognizer.decoder_weights, recognizer.config, memory)
    tokens = np.concatenate(
        [np.full((3, 1), recognizer.config.start), rng.integers(0, 20, (3, 6))], axis=1
    ).astype(np.int32)
    for length in (1, 2, 7):  # longer prefixes reuse the cached shorter ones
        expected = recognizer.step(np.repeat(memory[None], 3, 0), mask, tokens[:, :length])
        got = step(np.repeat(memory[None], 3, 0), mask, tokens[:, :length])
        for a, b in zip(got, expected, strict=True):
            np.testing.assert_allclose(a, b, atol=1e-5)
    assert got[1][:, 30:].max() < 1e-6
    fresh = IncrementalStep(recognizer.decoder_weights, recognizer.config, memory)
    np.testing.assert_allclose(fresh(memory[None], mask[:1], tokens[:1])[0], got[0][:1], atol=1e-5)
    with pytest.raises(ValueError, match=r"this step reads a line of memory \(40, 16\)"):
        step(np.zeros((1, 39, 16), np.float32), mask[:1, :39], tokens[:1, :2])


def test_an_attention_bundle_cannot_start_a_crnn(tiny_runs):
    from dataclasses import replace

    from medocr.training.recognizer import Trainer

    root, config, _ = tiny_runs
    init = str(root / "attention" / "best")
    wrong = replace(config, arch="crnn", out_dir=str(root / "x"), init=init)
    with pytest.raises(MedocrError, match="an attention bundle cannot start a CRNN"):
        Trainer(wrong).run()
    with pytest.raises(MedocrError, match="unknown arch 'rnn': choose one of crnn, attention"):
        replace(config, arch="rnn")


def test_the_pipeline_reads_a_certificate_with_an_attention_bundle(tiny_runs, certificate_dir):
    """Every field kind goes through the attention decoders; nothing fails."""
    from medocr.pipeline import Pipeline

    root, _, _ = tiny_runs
    pipeline = Pipeline(model=str(root / "attention" / "best"), calibrate=False)
    result = pipeline.read(certificate_dir / "cert-000000.png")[0]
    assert result.fields and all(field.error is None for field in result.fields)
    assert result.steps["model"].startswith("attention@dev")
    written = [f for f in result.fields if f.kind in ("cause", "interval") and f.lines]
    assert written and all(isinstance(f.text, str) for f in written)


def test_the_method_comparison_has_attention_rows(tiny_runs, certificate_dir):
    from medocr.evaluate.compare import certificate_items, crnn_runs, family_decoders
    from medocr.pipeline import Pipeline

    root, _, _ = tiny_runs
    pipeline = Pipeline(model=str(root / "attention" / "best"), calibrate=False)
    items = certificate_items(certificate_dir, pipeline, limit=1)
    names = [run.name for run in crnn_runs(items, pipeline, with_pipeline=True)]
    assert names == [
        "Attention greedy", "Attention beam", "Attention word beam",
        "Attention word beam + bigram", "medocr pipeline, attention (per-kind decoders)",
    ]  # fmt: skip
    with pytest.raises(ValueError, match="unknown recognizer family 'hmm'; expected one of ctc"):
        family_decoders("hmm", pipeline.lexicon)


def test_freeze_encoder_keeps_the_crnn_body(tiny_runs):
    from dataclasses import replace

    from medocr.training.recognizer import Trainer

    root, config, _ = tiny_runs
    frozen = Trainer(replace(config, out_dir=str(root / "frozen"), freeze_encoder=True))
    frozen._load_sources()
    encoder, decoder = attention.split_model(frozen._model())
    assert not encoder.get_layer("conv0").trainable and not encoder.get_layer("bilstm1").trainable
    assert encoder.get_layer("memory").trainable and decoder.trainable
    wrong = Trainer(replace(config, out_dir=str(root / "x"), arch="crnn", freeze_encoder=True,
                            init=str(root / "crnn" / "best")))  # fmt: skip
    wrong._load_sources()
    with pytest.raises(MedocrError, match="--freeze-encoder needs --arch attention and --init"):
        wrong._model()


def test_the_memory_carries_each_frames_position():
    frame_positions = attention._layers()[3]()
    memory = np.zeros((2, 5, 8), np.float32)
    encoded = np.asarray(frame_positions(memory))
    assert encoded.shape == (2, 5, 8)
    np.testing.assert_allclose(encoded[0], encoded[1])
    np.testing.assert_allclose(encoded[0, :, 0], np.sin(np.arange(5)), atol=1e-6)
    np.testing.assert_allclose(encoded[0, :, 1], np.cos(np.arange(5)), atol=1e-6)
    assert len({tuple(np.round(row, 4)) for row in encoded[0]}) == 5  # each frame its own


def test_warm_up_raises_the_learning_rate_to_its_peak(tmp_path):
    from medocr.training.recognizer import TrainConfig, Trainer

    class Rate:
        value = None

        def assign(self, value):
            self.value = value

    class Optimizer:
        learning_rate = Rate()

    trainer = Trainer(TrainConfig([], str(tmp_path), learning_rate=1e-3, warmup_steps=4))
    seen = []
    for done in range(6):
        trainer._warm_up(Optimizer, done)
        seen.append(Optimizer.learning_rate.value)
    assert seen == pytest.approx([2.5e-4, 5e-4, 7.5e-4, 1e-3, 1e-3, 1e-3])
    Optimizer.learning_rate.value = None
    Trainer(TrainConfig([], str(tmp_path), warmup_steps=0))._warm_up(Optimizer, 0)
    assert Optimizer.learning_rate.value is None  # no warm-up: the rate is left alone


def test_onnx_files_that_disagree_with_meta_json_are_refused(tiny_runs, tmp_path):
    import io

    from medocr.bundles import write_bundle_file
    from medocr.recognize.attention_runtime import AttentionRecognizer
    from medocr.recognize.export import export_onnx

    root, _, _ = tiny_runs
    bundle = tmp_path / "bundle"
    shutil.copytree(root / "attention" / "best", bundle)
    export_onnx(bundle)
    assert AttentionRecognizer.load(bundle, backend="onnx").session is not None
    weights = dict(np.load(bundle / "decoder.npz"))
    weights["logits/kernel"] = weights["logits/kernel"][:, :-1]  # one class fewer
    buffer = io.BytesIO()
    np.savez(buffer, **weights)
    write_bundle_file(bundle, "decoder.npz", buffer.getvalue())  # as an export would
    with pytest.raises(ModelError, match=r"decoder.npz logits \(16, \d+\); meta.json says"):
        AttentionRecognizer.load(bundle, backend="onnx")
