"""Character classifiers (HOG+LightGBM, CNN), their data, bundles, CLI and segmentation path.

Tiny data rendered here with OpenCV; tests that train Keras models are marked ``tf``.
The real MNIST file is used only when ``$MEDOCR_DATA`` (else ``../shared/data`` beside the
repository) has it, and it is passed explicitly through ``MEDOCR_DATA``.
"""

import json
import os
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from medocr.bundles import read_meta, write_meta
from medocr.classify import load_classifier
from medocr.classify.base import classification_metrics
from medocr.classify.data import (
    CharData,
    augment_chars,
    load_mnist_digits,
    load_sklearn_digits,
    mnist_path,
    normalize_char,
    normalize_chars,
    restrict_classes,
    shuffle_split,
)
from medocr.classify.features import HogParams, hog_features
from medocr.classify.hog_lgbm import HogLgbmClassifier
from medocr.classify.segpath import (
    classifier_alphabet,
    line_char_probs,
    read_field_chars,
    read_line_by_chars,
)
from medocr.classify.train import load_splits
from medocr.cli import main
from medocr.cli.classify import add_classifier_parser
from medocr.errors import MedocrError, ModelError
from medocr.types import FieldCrop, LineImage

SHARED_DATA = (
    Path(os.environ["MEDOCR_DATA"])
    if os.environ.get("MEDOCR_DATA")
    else Path(__file__).resolve().parents[2] / "shared" / "data"
)

FONT = cv2.FONT_HERSHEY_SIMPLEX
LETTERS = "acehiloprst"


def draw_text(words, scale=1.2, thickness=2, gap=3, space=40, height=60, paper=235, ink=30):
    """A line of printed words: letters `gap` px apart, words `space` px apart."""
    canvas = np.full((height, 20 + sum(len(w) for w in words) * 40 + space * len(words)), paper)
    canvas = canvas.astype(np.uint8)
    x = 10
    for word in words:
        for char in word:
            (width, _), _ = cv2.getTextSize(char, FONT, scale, thickness)
            cv2.putText(canvas, char, (x, 42), FONT, scale, ink, thickness, cv2.LINE_AA)
            x += width + gap
        x += space
    return canvas[:, : x - space + 10]


def rendered_chars(chars=LETTERS, per_class=24, seed=0, size=32):
    """Jittered printed characters: uint8 (N, size, size) dark on light, labels (N,)."""
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for char in chars:
        for _ in range(per_class):
            canvas = np.full((size, size), int(rng.integers(200, 250)), np.uint8)
            scale = float(rng.uniform(0.7, 1.0))
            thickness = int(rng.integers(1, 4))
            (width, height), _ = cv2.getTextSize(char, FONT, scale, thickness)
            x = (size - width) // 2 + int(rng.integers(-2, 3))
            y = (size + height) // 2 + int(rng.integers(-2, 3))
            cv2.putText(canvas, char, (x, y), FONT, scale, int(rng.integers(0, 60)), thickness)
            images.append(canvas)
            labels.append(char)
    return np.stack(images), np.array(labels)


@pytest.fixture(scope="module")
def chars():
    return rendered_chars()


@pytest.fixture(scope="module")
def hog_model(chars):
    images, labels = chars
    model = HogLgbmClassifier(HogParams(28, (4, 7)), augment_copies=0, max_rounds=40, patience=10)
    return model.fit(images, labels, seed=1, progress=None)


# ---------------------------------------------------------------- data


def test_normalize_char_crops_the_ink_and_centres_it():
    image = np.full((50, 80), 200, np.uint8)
    image[10:30, 50:60] = 40  # a 20x10 stroke, off-centre
    image[45, 2] = 0  # one-pixel speck: dropped
    out = normalize_char(image, 28)
    assert out.shape == (28, 28) and out.dtype == np.uint8
    ys, xs = np.nonzero(out < 128)
    assert (ys.min(), ys.max() + 1) == (3, 25)  # longer side -> round(0.8 * 28) = 22 px
    assert (xs.min(), xs.max() + 1) == (8, 19)  # 10 px wide -> 11 px, centred
    assert out[0, 0] == 255 and out.min() == 0  # contrast stretched
    assert (normalize_char(np.full((9, 9), 128, np.uint8), 16) == 255).all()  # blank


def test_normalize_chars_accepts_a_list_of_sizes_and_rejects_bad_arrays():
    batch = normalize_chars([np.zeros((5, 9), np.uint8), np.full((30, 12), 255, np.uint8)], 20)
    assert batch.shape == (2, 20, 20)
    with pytest.raises(ValueError, match="must be uint8"):
        normalize_chars(np.zeros((2, 8, 8), np.float32), 20)
    with pytest.raises(ValueError, match="image 1 must be a uint8"):
        normalize_chars([np.zeros((5, 5), np.uint8), np.zeros((5, 5, 3), np.uint8)], 20)
    with pytest.raises(ValueError, match="image 0 is empty"):
        normalize_chars([np.zeros((0, 5), np.uint8)], 20)


def test_deskew_turns_a_slanted_stroke_upright():
    image = np.full((60, 60), 230, np.uint8)
    cv2.line(image, (20, 50), (40, 10), 20, 4)  # leaning right, 27 degrees
    plain, upright = normalize_char(image, 28), normalize_char(image, 28, deskew=True)

    def width(square):
        return np.ptp(np.nonzero(square < 128)[1])

    assert width(plain) > 2 * width(upright) and width(upright) <= 6
    assert (normalize_chars(image[None], 28, deskew=True) == upright).all()


def test_augment_chars_moves_ink_reproducibly():
    squares = normalize_chars(rendered_chars("ab", per_class=3, seed=1)[0], 28)
    first = augment_chars(squares, np.random.default_rng(4))
    again = augment_chars(squares, np.random.default_rng(4))
    assert first.shape == squares.shape and first.dtype == np.uint8
    assert (first == again).all() and (first != squares).any()
    assert (first[:, 0, 0] == 255).all()  # paper fill


def test_shuffle_split_is_seeded_disjoint_and_complete():
    data = CharData(
        np.arange(100, dtype=np.uint8).reshape(100, 1, 1), np.arange(100).astype(str), "n", "-"
    )
    train, test = shuffle_split(data, (0.8, 0.2), 7, ("train", "test"))
    again, _ = shuffle_split(data, (0.8, 0.2), 7)
    other, _ = shuffle_split(data, (0.8, 0.2), 8)
    assert (len(train), len(test)) == (80, 20) and train.name == "n/train"
    assert set(train.labels) | set(test.labels) == set(data.labels)
    assert not set(train.labels) & set(test.labels)
    assert (again.labels == train.labels).all() and (other.labels != train.labels).any()
    with pytest.raises(ValueError, match="sum to 1"):
        shuffle_split(data, (0.8, 0.3), 0)
    kept = restrict_classes(
        CharData(np.zeros((3, 1, 1), np.uint8), np.array(list("aab")), "x", ""), 2
    )
    assert kept.labels.tolist() == ["a", "a"]


def test_sklearn_digits_become_dark_ink_on_light_paper():
    data = load_sklearn_digits()
    assert data.images.shape == (1797, 8, 8) and data.images.dtype == np.uint8
    assert data.images[:, 0, 0].mean() > 240  # corners are paper
    assert data.images.min() == 0 and set(data.labels) == set("0123456789")


def test_mnist_loader_inverts_and_reports_a_missing_file(tmp_path):
    images = np.zeros((4, 28, 28), np.uint8)
    images[:, 10:18, 12:15] = 255  # white ink on black, as shipped
    np.savez(tmp_path / "digits.npz", images=images, labels=np.array([1, 1, 7, 7], np.uint8))
    data = load_mnist_digits(tmp_path / "digits.npz")
    assert data.images[0, 0, 0] == 255 and data.images[0, 12, 13] == 0
    assert data.labels.tolist() == ["1", "1", "7", "7"] and "LeCun" in data.attribution
    with pytest.raises(MedocrError, match="MNIST digits not found"):
        load_mnist_digits(tmp_path / "missing.npz")
    np.savez(tmp_path / "bad.npz", images=images.astype(np.float32), labels=np.zeros(4))
    with pytest.raises(MedocrError, match="expected images uint8"):
        load_mnist_digits(tmp_path / "bad.npz")


@pytest.mark.skipif(
    not (SHARED_DATA / "mnist-digits" / "digits.npz").is_file(),
    reason="shared MNIST digits not available",
)
def test_real_mnist_file_and_its_seeded_split(monkeypatch):
    monkeypatch.setenv("MEDOCR_DATA", str(SHARED_DATA))
    assert mnist_path() == SHARED_DATA / "mnist-digits" / "digits.npz"
    splits = load_splits("mnist-digits", split_seed=0)
    assert (len(splits.train), len(splits.val), len(splits.test)) == (7200, 800, 2000)
    assert set(splits.test.labels) == set("0123456789")
    assert splits.train.images[:, 0, 0].min() == 255  # paper white after inversion


def test_unknown_source_is_a_clear_error(tmp_path):
    with pytest.raises(MedocrError, match="unknown data source"):
        load_splits(str(tmp_path / "nothing-here"))


# ---------------------------------------------------------------- HOG


def test_hog_layout_and_invariance_to_brightness():
    params = HogParams(28, (4, 7), block=2, nbins=9)
    assert params.n_features == 6 * 6 * 36 + 3 * 3 * 36
    images = np.full((2, 28, 28), 255, np.uint8)
    images[:, 6:22, 12:16] = 0
    images[1] = images[1] // 2 + 100  # same shape, less contrast
    features = hog_features(images, params)
    assert features.shape == (2, params.n_features) and features.dtype == np.float32
    assert np.allclose(features[0], features[1], atol=1e-3)  # blocks are normalised
    assert features.max() <= 1.0
    vertical, horizontal = images[:1], images[:1].transpose(0, 2, 1).copy()
    assert not np.allclose(hog_features(vertical, params), hog_features(horizontal, params))
    assert HogParams.from_dict(params.to_dict()) == params
    blocky = HogParams(28, (4, 7), block=2, nbins=9, interpolate=False)
    assert not np.allclose(hog_features(vertical, blocky), hog_features(vertical, params))
    with pytest.raises(ValueError, match="must be >= 2, divide the image size 28"):
        HogParams(28, (6,))
    with pytest.raises(ValueError, match=r"HOG expects images \(N, 28, 28\)"):
        hog_features(np.zeros((1, 32, 32), np.uint8), params)


# ---------------------------------------------------------------- HOG + LightGBM


def test_hog_lgbm_probabilities(hog_model, chars):
    images, labels = chars
    assert hog_model.classes == tuple(sorted(LETTERS))
    fresh, fresh_labels = rendered_chars(per_class=6, seed=9)
    proba = hog_model.predict_proba(fresh)
    assert proba.shape == (len(fresh), len(LETTERS)) and proba.dtype == np.float32
    assert np.allclose(proba.sum(axis=1), 1.0, atol=1e-5) and proba.min() >= 0
    assert (hog_model.predict(fresh) == fresh_labels).mean() > 0.8
    different = hog_model.predict_proba([images[0][2:30, 4:28], images[1]])  # any sizes
    assert different.shape == (2, len(LETTERS))
    assert hog_model.history["val_multi_logloss"][-1] < hog_model.history["val_multi_logloss"][0]


def test_evaluate_reports_accuracy_f1_and_confusion(hog_model):
    fresh, labels = rendered_chars(per_class=4, seed=5)
    result = hog_model.evaluate(fresh, labels)
    assert result["count"] == len(labels) and result["accuracy"] > 0.8
    assert np.asarray(result["confusion"]).sum() == len(labels)
    only = hog_model.evaluate(fresh[labels == "o"], labels[labels == "o"], candidates=["o", "c"])
    assert set(only["labels"]) <= {"o", "c"}
    with pytest.raises(ValueError, match="none of the candidates"):
        hog_model.evaluate(fresh[:2], labels[:2], candidates=["9"])


def test_classification_metrics_by_hand():
    truth = np.array(list("aabb"))
    predicted = np.array(list("abbb"))
    metrics = classification_metrics(truth, predicted)
    assert metrics["accuracy"] == 0.75
    # a: precision 1, recall 0.5 -> F1 2/3; b: precision 2/3, recall 1 -> F1 0.8
    assert metrics["macro_f1"] == pytest.approx((2 / 3 + 0.8) / 2)
    assert metrics["labels"] == ["a", "b"] and metrics["confusion"] == [[1, 1], [0, 2]]


def test_bad_training_inputs_are_value_errors(chars):
    images, labels = chars
    model = HogLgbmClassifier(max_rounds=2)
    with pytest.raises(ValueError, match="must be uint8"):
        model.fit(images.astype(np.float32), labels, progress=None)
    with pytest.raises(ValueError, match=r"must have shape \(N, H, W\)"):
        model.fit(images[0], labels[:1], progress=None)
    with pytest.raises(ValueError, match="images but 3 labels"):
        model.fit(images, labels[:3], progress=None)
    with pytest.raises(ValueError, match="at least 2 classes"):
        model.fit(images[:10], labels[:10], progress=None)
    with pytest.raises(ValueError, match=r"not training classes: \['z'\]"):
        model.fit(images[:60], labels[:60], images[:2], ["a", "z"], progress=None)
    with pytest.raises(ModelError, match="not trained"):
        model.predict_proba(images[:1])


def test_hog_lgbm_bundle_round_trip(hog_model, chars, tmp_path):
    images, _ = chars
    meta = hog_model.save(tmp_path / "hog", training={"data": "rendered"}, metrics={"a": 1})
    assert meta["kind"] == "hog-lgbm" and meta["classes"] == list(hog_model.classes)
    assert meta["hog"]["cells"] == [4, 7] and set(meta["files"]) == {"model.txt"}
    text = (tmp_path / "hog" / "model.txt").read_text()
    assert (
        text.startswith("tree") and b"pickle" not in (tmp_path / "hog" / "model.txt").read_bytes()
    )
    loaded = load_classifier(tmp_path / "hog")
    assert isinstance(loaded, HogLgbmClassifier) and loaded.classes == hog_model.classes
    assert np.array_equal(loaded.predict_proba(images[:50]), hog_model.predict_proba(images[:50]))


def test_bad_bundles_are_model_errors(hog_model, tmp_path):
    folder = tmp_path / "hog"
    hog_model.save(folder)
    with pytest.raises(ModelError, match="not a model bundle"):
        load_classifier(tmp_path)
    with pytest.raises(ModelError, match="no such model bundle folder"):
        load_classifier(tmp_path / "nope")
    broken = tmp_path / "broken"
    shutil.copytree(folder, broken)
    with open(broken / "model.txt", "a") as stream:
        stream.write("\n")
    with pytest.raises(ModelError, match="model.txt does not match its sha256"):
        HogLgbmClassifier.load(broken)
    (broken / "model.txt").write_text("not a lightgbm model\n")
    meta = {k: v for k, v in read_meta(folder).items() if k not in ("files", "kind")}
    write_meta(broken, "hog-lgbm", meta)
    with pytest.raises(ModelError, match="unreadable LightGBM model"):
        HogLgbmClassifier.load(broken)
    other = tmp_path / "other"
    shutil.copytree(folder, other)
    write_meta(other, "hog-lgbm", {**meta, "classes": ["a", "b"]})
    with pytest.raises(ModelError, match="11 classes in the model, 2 in meta.json"):
        HogLgbmClassifier.load(other)
    write_meta(other, "crnn-ctc", meta)
    with pytest.raises(ModelError, match="'crnn-ctc' is not a character classifier"):
        load_classifier(other)
    with pytest.raises(ModelError, match="kind is 'crnn-ctc', expected 'hog-lgbm'"):
        HogLgbmClassifier.load(other)


# ---------------------------------------------------------------- segmentation path


class ScriptedClassifier(HogLgbmClassifier):
    """Answers one-hot rows for a scripted reading, whatever the images."""

    def __init__(self, classes, reading):
        super().__init__()
        self.classes = tuple(classes)
        self.reading = reading

    def predict_proba(self, X):  # noqa: N803
        assert len(X) == len(self.reading)
        out = np.zeros((len(X), len(self.classes)), np.float32)
        out[np.arange(len(X)), [self.classes.index(c) for c in self.reading]] = 1.0
        return out


def test_line_char_probs_inserts_word_breaks():
    line = draw_text(["choc", "sepsis"])
    classifier = ScriptedClassifier("cehiops", "chocsepsis")
    reading = line_char_probs(line, classifier)
    assert reading.alphabet.chars == (*"cehiops", " ")
    assert reading.probs.shape == (11, 8) and len(reading.chars) == 10
    assert reading.rows == (0, 1, 2, 3, 5, 6, 7, 8, 9, 10)
    assert reading.probs[4, 7] == 1.0  # the space row
    assert all(c.bbox[2] <= line.shape[1] for c in reading.chars)


def test_read_line_by_chars_corrects_to_the_lexicon():
    line = draw_text(["choc", "sepsis"])
    classifier = ScriptedClassifier("cehiops", "chocsepsie")  # last letter misread
    hypothesis = read_line_by_chars(line, classifier, ["choc", "sepsis", "sphère"])
    assert hypothesis.text == "choc sepsis"
    assert [w.in_lexicon for w in hypothesis.words] == [True, True]
    blank = read_line_by_chars(np.full((40, 200), 240, np.uint8), classifier, ["choc"])
    assert blank.text == ""
    assert classifier_alphabet(ScriptedClassifier("a ", "")).chars == ("a", " ")
    with pytest.raises(ValueError, match="expected a FieldCrop, a LineImage"):
        line_char_probs(np.zeros((5, 5), np.float32), classifier)


def test_segmentation_path_end_to_end_with_a_trained_classifier(hog_model):
    lexicon = ["choc", "sepsis", "chose", "poche", "colite", "lipase"]
    line = draw_text(["choc", "sepsis"])
    hypothesis = read_line_by_chars(
        LineImage(line, (0, 0, line.shape[1], 60), "l"), hog_model, lexicon
    )
    assert hypothesis.text == "choc sepsis"
    assert all(w.in_lexicon for w in hypothesis.words)
    crop = FieldCrop("cause_1a", "cause", (0, 0, line.shape[1], 60), line)
    assert [h.text for h in read_field_chars([crop], hog_model, lexicon)] == ["choc sepsis"]


# ---------------------------------------------------------------- CNN (TensorFlow)


@pytest.mark.tf
def test_cnn_fit_predict_and_round_trip(chars, tmp_path):
    from medocr.classify.cnn import CnnClassifier, CnnConfig, build_network

    assert build_network(CnnConfig(), 120).count_params() < 500_000
    images, labels = chars
    model = CnnClassifier(CnnConfig(size=20, filters=(8, 16, 16)), epochs=2, batch_size=32)
    model.fit(images, labels, seed=3, progress=None, steps_per_epoch=3)
    assert len(model.history["val_loss"]) == 2
    proba = model.predict_proba(images[:7])
    assert proba.shape == (7, len(LETTERS)) and proba.dtype == np.float32
    assert np.allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    meta = model.save(tmp_path / "cnn")
    assert meta["kind"] == "char-cnn" and set(meta["files"]) == {"model.keras"}
    assert meta["architecture"]["filters"] == [8, 16, 16] and meta["input_size"] == 20
    loaded = load_classifier(tmp_path / "cnn")
    assert loaded.classes == model.classes
    assert np.allclose(loaded.predict_proba(images[:7]), proba, atol=1e-6)
    write_meta(tmp_path / "cnn", "char-cnn", {**meta, "classes": ["a", "b"]})
    with pytest.raises(ModelError, match="11 outputs, 2 classes in meta.json"):
        load_classifier(tmp_path / "cnn")


# ---------------------------------------------------------------- CLI


def test_train_classifier_help_explains_every_option(capsys):
    with pytest.raises(SystemExit):
        main(["train", "classifier", "--help"])
    text = capsys.readouterr().out
    for option in (
        "--kind",
        "--data",
        "--out",
        "--seed",
        "--epochs",
        "--patience",
        "--max-rounds",
        "--hog-cells",
        "--learning-rate",
        "--min-count",
    ):
        assert option in text
    assert "mnist-digits" in text and "sklearn-digits" in text and "results.json" in text
    import argparse

    parser = argparse.ArgumentParser()
    add_classifier_parser(parser.add_subparsers())
    with pytest.raises(SystemExit):
        parser.parse_args(["classifier", "--kind", "svm", "--data", "x", "--out", "y"])


def test_train_classifier_command_hog_lgbm(tmp_path, capsys):
    out = tmp_path / "run"
    status = main(
        [
            "train",
            "classifier",
            "--kind",
            "hog-lgbm",
            "--data",
            "sklearn-digits",
            "--out",
            str(out),
            "--max-train",
            "400",
            "--max-rounds",
            "15",
            "--seed",
            "2",
        ]
    )
    captured = capsys.readouterr()
    assert status == 0 and "hog-lgbm: round" in captured.err
    assert "test accuracy" in captured.out
    results = json.loads((out / "results.json").read_text())
    assert results["data"]["train"] == 400 and results["test"]["count"] == 359
    assert results["test"]["accuracy"] > 0.6 and results["model_bytes"] > 0
    assert results["curves"]["val_multi_logloss"] and (out / "confusion.png").stat().st_size > 0
    model = load_classifier(out / "model")
    assert model.classes == tuple("0123456789")
    assert model.meta["training"]["data"]["attribution"].startswith("UCI")
    assert (
        main(
            [
                "train",
                "classifier",
                "--kind",
                "cnn",
                "--data",
                "nowhere",
                "--out",
                str(tmp_path / "x"),
            ]
        )
        == 2
    )
    assert "unknown data source" in capsys.readouterr().err


@pytest.mark.tf
def test_train_classifier_command_cnn(tmp_path, capsys):
    out = tmp_path / "run"
    status = main(
        [
            "train",
            "classifier",
            "--kind",
            "cnn",
            "--data",
            "sklearn-digits",
            "--out",
            str(out),
            "--max-train",
            "200",
            "--epochs",
            "2",
            "--steps-per-epoch",
            "2",
            "--size",
            "16",
        ]
    )
    assert status == 0 and "cnn: epoch 2" in capsys.readouterr().err
    results = json.loads((out / "results.json").read_text())
    assert len(results["curves"]["val_loss"]) == 2 and results["kind"] == "char-cnn"
    assert load_classifier(out / "model").size == 16


def test_dataset_folder_source(certificate_dir, tmp_path):
    import medocr.classify
    from medocr.classify.train import load_char_dataset
    from medocr.dataset.build import build_dataset
    from medocr.dataset.sources import Source

    build_dataset(
        tmp_path / "ds",
        [Source.parse("certificates", str(certificate_dir))],
        levels=["char"],
        splits=[("train", 1.0)],
        seed=1,
    )
    splits = load_splits(str(tmp_path / "ds"), min_count=4)
    counts = {c: (splits.train.labels == c).sum() for c in set(splits.train.labels)}
    assert min(counts.values()) >= 4 and len(splits.val) > 0
    assert set(splits.val.labels) <= set(counts)
    assert splits.train.images.shape[1:] == (32, 32)
    assert "medocr synth" in splits.summary()["attribution"]
    assert medocr.classify.load_char_dataset is load_char_dataset  # the lazy public name
    train = load_char_dataset(tmp_path / "ds", "train")
    assert train.name == "ds/train" and len(train) == len(train.labels) > 0
