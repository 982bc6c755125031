"""The shipped default recognizer: loads by name offline, reads synthetic lines, fine-tunes."""

import numpy as np
import pytest

from medocr.decode import greedy
from medocr.evaluate.metrics import cer
from medocr.recognize.runtime import DEFAULT_MODEL, Recognizer

pytestmark = pytest.mark.tf


@pytest.fixture(scope="module")
def default():
    return Recognizer.load()


def _synthetic_lines(count, seed):
    from medocr.synth.fonts import find_handwriting_fonts
    from medocr.synth.lines import render_line
    from medocr.synth.text import Vocabulary

    fonts, vocabulary = find_handwriting_fonts(), Vocabulary.builtin()
    return [render_line(np.random.default_rng([seed, i]), fonts, vocabulary) for i in range(count)]


def test_default_bundle_is_verified_and_named(default):
    assert default.meta["name"] == DEFAULT_MODEL
    assert default.meta["input_height"] == default.config.height == 48
    assert default.meta["training"]["data"], "the card needs the training data summary"


def test_default_bundle_reads_synthetic_lines_better_than_chance(default):
    lines = _synthetic_lines(24, 11)
    readings = [greedy(p).text for p in default.predict([line.image for line in lines])]
    # A broken input encoding or weight file reads nothing (CER 1.0); the shipped model's
    # measured synthetic CER is in its MODEL_CARD.md.
    assert cer([line.text for line in lines], readings) < 0.9


def test_fine_tuning_from_the_default(tmp_path):
    from medocr.synth.lines import write_line_set
    from medocr.training.recognizer import DataSource, TrainConfig, Trainer

    base = Recognizer.load()
    new_char = next(c for c in "§¤µ€" if c not in base.alphabet.chars)
    train = write_line_set(tmp_path / "train", 8, seed=5)
    config = TrainConfig(
        sources=[DataSource("synth", str(train), str(train))],
        out_dir=str(tmp_path / "out"),
        init=DEFAULT_MODEL,
        batch_size=4,
        steps_per_epoch=1,
        epochs=1,
        min_char_count=1,
        extra_chars=new_char,
        max_val_lines=4,
    )
    Trainer(config).run()
    tuned = Recognizer.load(tmp_path / "out" / "best")
    assert tuned.alphabet.chars[: len(base.alphabet.chars)] == base.alphabet.chars
    assert tuned.alphabet.chars[-1] == new_char
