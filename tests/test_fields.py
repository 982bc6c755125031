"""Field readers (medocr.fields) on synthetic crops and hand-built frame probabilities.

Frame probabilities are built character by character: one frame on each character
(0.96, or split with a confusion), then one blank frame, so the right readings can be
worked out by hand.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math

import numpy as np
import pytest
from helpers import spelled

from medocr.bundles import resolve
from medocr.calibration import Calibration, KindCalibration
from medocr.config import DEFAULT_THRESHOLDS
from medocr.fields import (
    OUT_OF_GRAMMAR_NATS,
    CauseReader,
    CheckboxReader,
    DateReader,
    FieldInput,
    FieldReader,
    IntervalReader,
    LineGeometry,
    PlainReader,
    Routing,
)
from medocr.recognize.alphabet import Alphabet
from medocr.types import FIELD_KINDS, CertificateResult, FieldCrop, FrameProbs, LineImage

ALPHABET = Alphabet(tuple(sorted(set("0123456789 /abcdefghijlmnorsuvxyz"))))
GEOMETRY = LineGeometry(height=48, padding=(0.5, 0.3))
LINE_BOX = (100, 200, 500, 240)


def spell(text: str, confusions: dict[int, tuple[str, float]] | None = None) -> FrameProbs:
    """Frames spelling `text` in :data:`ALPHABET` (:func:`helpers.spelled`)."""
    return spelled(ALPHABET, text, confusions)


def crop(kind: str, image: np.ndarray | None = None, name: str = "f") -> FieldCrop:
    pixels = np.full((60, 420), 235, np.uint8) if image is None else image
    return FieldCrop(name, kind, (90, 190, 510, 250), pixels)


def field(kind: str, *probs: FrameProbs, ink: int = 0) -> FieldInput:
    """A field of `kind` with one line per `probs` (line images are blank paper)."""
    lines = tuple(
        LineImage(np.full((40, 400), 235, np.uint8), LINE_BOX, "f", i) for i in range(len(probs))
    )
    return FieldInput(crop(kind), lines, probs, ink)


def checkbox(ticked: bool) -> np.ndarray:
    """A 60x60 checkbox crop with an 18 px margin around its printed frame, maybe crossed."""
    box = np.full((60, 60), 235, np.uint8)
    box[18:42, [18, 41]] = 30
    box[[18, 41], 18:42] = 30
    if ticked:
        for i in range(22, 38):
            box[i, i - 1 : i + 2] = 20
            box[i, 59 - i - 1 : 59 - i + 2] = 20
    return box


CALIBRATION = Calibration({
    # Raw confidence -> probability of being right: halved below 0.5, then up to 0.9.
    "interval": KindCalibration([0.0, 0.5, 1.0], [0.0, 0.25, 0.9], {"0.01": 0.8}, 100),
    "interval:empty": KindCalibration([0.0, 1.0], [0.0, 1.0], {"0.01": 0.7}, 50),
    "checkbox": KindCalibration([0.0, 1.0], [0.0, 0.5], {"0.01": None}, 40),
})  # fmt: skip


# --- the input ------------------------------------------------------------------------------


def test_field_input_needs_one_probability_matrix_per_line():
    one = field("cause", spell("ab"))
    assert len(one.lines) == len(one.probs) == 1
    with pytest.raises(ValueError, match=r"field f: 1 lines but 0 frame probabilities"):
        FieldInput(one.crop, one.lines, ())
    with pytest.raises(ValueError, match=r"ink_pixels must be >= 0, got -1"):
        FieldInput(one.crop, ink_pixels=-1)


def test_a_reader_refuses_a_field_of_another_kind():
    wrong = r"CauseReader reads cause fields, not field f of kind 'date'"
    with pytest.raises(ValueError, match=wrong):
        CauseReader(Routing(), GEOMETRY, decoder="greedy").read(field("date", spell("1")))
    with pytest.raises(ValueError, match=r"CheckboxReader reads checkbox fields"):
        CheckboxReader(Routing(), margin=(18, 18)).read(field("cause"))


def test_every_reader_follows_the_protocol():
    readers = [
        CauseReader(Routing(), GEOMETRY, decoder="greedy"),
        IntervalReader(Routing(), GEOMETRY, ["2 jours"]),
        DateReader(Routing(), GEOMETRY, ["12/03/2021"]),
        PlainReader(Routing(), GEOMETRY),
        CheckboxReader(Routing(), margin=(18, 18)),
    ]
    assert sorted(r.kind for r in readers) == sorted(FIELD_KINDS)
    for reader in readers:
        assert isinstance(reader, FieldReader)
        settings = reader.settings()
        assert json.loads(json.dumps(settings, allow_nan=False)) == settings


# --- checkboxes -----------------------------------------------------------------------------


def test_checkbox_reader_sees_a_cross_and_routes_it():
    reader = CheckboxReader(Routing(thresholds={"checkbox": 0.9}), margin=(18, 18))
    ticked = reader.read(FieldInput(crop("checkbox", checkbox(True))))
    assert ticked.text == "X" and ticked.value["checked"] and ticked.value["ink"] > 0.3
    assert ticked.confidence > 0.99 and ticked.route == "accept" and ticked.kind == "checkbox"
    blank = reader.read(FieldInput(crop("checkbox", checkbox(False))))
    assert blank.text == "" and blank.value == {"checked": False, "ink": 0.0}
    assert blank.route == "accept" and blank.bbox == (90, 190, 510, 250)
    # Ink at the threshold itself: p = 0.5 either way, below any useful threshold.
    half = CheckboxReader(Routing(), ink_threshold=ticked.value["ink"], margin=(18, 18))
    doubt = half.read(FieldInput(crop("checkbox", checkbox(True))))
    assert doubt.confidence == pytest.approx(0.5, abs=1e-3) and doubt.route == "review"
    assert reader.settings() == {
        "ink_threshold": 0.06, "margin": [18, 18], "calibrated": False,
        "accept_at": {"empty": 0.9, "written": 0.9},
    }  # fmt: skip


def test_checkbox_confidence_goes_through_the_calibration():
    reader = CheckboxReader(Routing(calibration=CALIBRATION), margin=(18, 18))
    ticked = reader.read(FieldInput(crop("checkbox", checkbox(True))))
    assert ticked.text == "X" and ticked.confidence == pytest.approx(0.5, abs=1e-3)
    assert ticked.route == "review"  # the calibration never accepts checkboxes at 1 %
    assert reader.settings()["accept_at"] == {"empty": None, "written": None}
    with pytest.raises(ValueError, match="ink_threshold must be strictly between 0 and 1"):
        CheckboxReader(Routing(), ink_threshold=1.0)


# --- grammar readers ------------------------------------------------------------------------


def test_interval_reader_snaps_a_misread_letter_to_the_grammar():
    probs = spell("2 jours", {4: ("v", 0.56)})  # the u is read as v: "2 jovrs"
    assert PlainReader(Routing(), GEOMETRY).decode(probs).text == "2 jovrs"
    reader = IntervalReader(Routing(thresholds={"interval": 0.5}), GEOMETRY,
                            ["2 jours", "3 jours", "2 mois", "20 jours"])  # fmt: skip
    result = reader.read(field("interval", probs))
    assert result.text == "2 jours" and result.route == "accept"
    assert result.value["days"] == 2.0 and result.value["unit"] == "day"
    assert result.hypothesis.text == "2 jours" and len(result.lines) == 1
    words = result.lines[0].words
    assert [w for w, _ in words] == ["2", "jours"]
    (_, first), (_, second) = words
    assert LINE_BOX[0] <= first[0] < first[2] <= second[0] < second[2] <= LINE_BOX[2]
    assert first[1::2] == second[1::2] == (LINE_BOX[1], LINE_BOX[3])


def test_a_reading_far_outside_the_grammar_is_kept_and_reviewed():
    probs = spell("xyz")
    reader = IntervalReader(Routing(thresholds={"interval": 0.0}), GEOMETRY, ["2 jours"])
    result = reader.read(field("interval", probs))
    assert result.text == "xyz" and result.value is None
    assert result.route == "review"  # even at threshold 0: it does not parse
    closed = reader.decode(probs)
    assert closed.text == "xyz"
    settings = reader.settings()
    assert settings["decoder"] == "beam+grammar" and settings["spellings"] == 1
    assert settings["out_of_grammar_nats"] == OUT_OF_GRAMMAR_NATS
    expected = hashlib.sha256(b"2 jours").hexdigest()
    assert settings["spellings_sha256"] == expected


def test_date_reader_gives_the_iso_date_over_two_lines():
    reader = DateReader(Routing(), GEOMETRY, ["12/03/2021", "12/08/2021", "13/03/2021"])
    result = reader.read(field("date", spell("12/03/2021"), spell("")))
    assert result.text == "12/03/2021" and result.value == {"date": "2021-03-12"}
    assert len(result.lines) == 2 and result.lines[1].text == ""


# --- cause and plain readers, routing, empty fields ----------------------------------------


def test_cause_reader_decoders_and_their_settings():
    probs = spell("abces", {1: ("d", 0.55)})  # greedy reads "adces"
    greedy = CauseReader(Routing(), GEOMETRY, decoder="greedy")
    assert greedy.decode(probs).text == "adces"
    assert greedy.settings()["decoder"] == "greedy" and "beam_width" not in greedy.settings()
    words = CauseReader(Routing(), GEOMETRY, lexicon=["abces", "cancer"], lm_weight=0.7)
    assert words.decode(probs).text == "abces"
    settings = words.settings()
    assert settings["decoder"] == "wordbeam" and settings["lm"] is None
    assert "lm_weight" not in settings and settings["oov_penalty"] == -1.5
    with pytest.raises(ValueError, match="the wordbeam decoder needs a lexicon"):
        CauseReader(Routing(), GEOMETRY)
    with pytest.raises(ValueError, match="decoder must be one of wordbeam, beam, greedy"):
        CauseReader(Routing(), GEOMETRY, decoder="magic")


def test_routing_takes_config_then_calibration_then_defaults():
    routing = Routing(calibration=CALIBRATION)
    assert routing.threshold("interval", "2 jours") == 0.8  # no interval:written: plain entry
    assert routing.threshold("interval", "") == 0.7  # interval:empty fitted
    assert routing.threshold("cause") == DEFAULT_THRESHOLDS["cause"]  # not fitted
    assert routing.threshold("checkbox") == math.inf
    assert routing.confidence("interval", 0.75, "2 jours") == pytest.approx(0.575)
    assert routing.confidence("cause", 0.75, "x") == 0.75
    assert Routing({"interval": 0.3}, CALIBRATION).threshold("interval", "") == 0.3
    assert routing.settings("interval") == {
        "accept_at": {"empty": 0.7, "written": 0.8}, "calibrated": True
    }  # fmt: skip


def test_calibrated_confidence_decides_the_route_of_a_written_field():
    probs = spell("2 jours", {4: ("v", 0.56)})
    raw = IntervalReader(Routing(), GEOMETRY, ["2 jours"]).read(field("interval", probs))
    calibrated = IntervalReader(Routing(calibration=CALIBRATION), GEOMETRY, ["2 jours"])
    result = calibrated.read(field("interval", probs))
    assert result.text == raw.text == "2 jours"
    expected = float(np.interp(raw.confidence, [0.0, 0.5, 1.0], [0.0, 0.25, 0.9]))
    assert result.confidence == pytest.approx(expected, abs=1e-5)
    assert result.route == ("accept" if expected >= 0.8 else "review")


def test_a_field_without_lines_is_empty_with_the_ink_as_doubt():
    reader = IntervalReader(Routing(calibration=CALIBRATION), GEOMETRY, ["2 jours"],
                            empty_ink=400)  # fmt: skip
    quiet = reader.read(field("interval", ink=100))
    assert quiet.text == "" and quiet.confidence == pytest.approx(0.75) and quiet.route == "accept"
    inky = reader.read(field("interval", ink=280))
    assert inky.confidence == pytest.approx(0.3) and inky.route == "review"
    assert reader.read(field("interval", ink=4000)).confidence == 0.0
    plain = PlainReader(Routing(), GEOMETRY).read(FieldInput(crop("text")))
    assert plain.text == "" and plain.confidence == 1.0 and plain.kind == "text"


# --- the pipeline's readers and what results record ----------------------------------------


@pytest.fixture(scope="module")
def shipped():
    from medocr.pipeline import Pipeline

    return Pipeline()


def test_pipeline_has_one_reader_per_kind_made_from_its_config():
    from medocr.pipeline import Pipeline

    pipeline = Pipeline(cause_decoder="beam", beam_width=8, thresholds={"date": 0.4},
                        checkbox_ink=0.1, calibrate=False)  # fmt: skip
    assert sorted(pipeline.readers) == sorted(FIELD_KINDS)
    assert all(pipeline.reader(kind).kind == kind for kind in FIELD_KINDS)
    cause = pipeline.reader("cause").settings()
    assert cause["decoder"] == "beam" and cause["beam_width"] == 8
    assert pipeline.reader("date").settings()["accept_at"] == {"empty": 0.4, "written": 0.4}
    assert pipeline.reader("checkbox").settings()["ink_threshold"] == 0.1
    with pytest.raises(KeyError, match="no reader for field kind 'signature'"):
        pipeline.reader("signature")


def test_steps_record_the_configuration_and_the_hashes(shipped):
    from medocr.pipeline import template_sha256

    steps = shipped.steps
    assert steps["config"] == json.loads(json.dumps(shipped.config.to_dict()))
    assert steps["model"] == shipped.recognizer.ref
    assert steps["model"].endswith("+" + steps["model_sha256"][:12])
    assert steps["lexicon_sha256"] == shipped.lexicon.sha256
    assert steps["lexicon"].endswith("+" + steps["lexicon_sha256"][:12])
    assert steps["template_sha256"] == template_sha256(shipped.template)
    calibration = (resolve("fr-crnn-small") / "calibration.json").read_bytes()
    assert steps["calibration_sha256"] == hashlib.sha256(calibration).hexdigest()
    assert steps["cause_decoder"] == "wordbeam+bigram"
    readers = steps["readers"]
    assert readers["cause"]["lm"] == "bigram" and readers["cause"]["lm_weight"] == 0.3
    assert readers["interval"]["spellings"] == len(shipped.interval_values)
    for kind in FIELD_KINDS:
        used = readers[kind]["accept_at"]
        for state, text in (("empty", ""), ("written", "x")):
            threshold = shipped.threshold(kind, text)
            assert used[state] == (threshold if math.isfinite(threshold) else None)
    # Stored in a result, the steps survive JSON, and each result has its own copy.
    result = CertificateResult("a.png", 0, steps["template"], (), steps=steps)
    assert CertificateResult.from_dict(json.loads(result.to_json())) == result


def test_steps_say_when_confidences_are_raw():
    from medocr.pipeline import Pipeline

    steps = Pipeline(calibrate=False, thresholds={"cause": 0.5}).steps
    assert steps["calibration"] == "none (raw confidences)" and steps["calibration_sha256"] is None
    assert steps["config"]["thresholds"] == {"cause": 0.5}
    assert steps["readers"]["cause"]["accept_at"] == {"empty": 0.5, "written": 0.5}
    assert not any(steps["readers"][kind]["calibrated"] for kind in FIELD_KINDS)


def test_template_hash_follows_the_definition_not_the_source(shipped):
    from medocr.pipeline import template_sha256

    template = shipped.template
    moved = dataclasses.replace(template, source="/elsewhere/form.json")
    assert template_sha256(moved) == template_sha256(template)
    first = dataclasses.replace(template.fields[0], lines=template.fields[0].lines + 1)
    changed = dataclasses.replace(template, fields=(first, *template.fields[1:]))
    assert template_sha256(changed) != template_sha256(template)


def test_a_line_with_no_possible_reading_goes_to_review_whatever_the_threshold():
    """A decoder's empty ``-inf`` reading is never accepted, even with a threshold of 0."""
    import math

    from medocr.types import Hypothesis

    class NoReading(PlainReader):
        def decode(self, probs: FrameProbs) -> Hypothesis:
            return Hypothesis(text="", log_score=-math.inf)

    reader = NoReading(Routing(thresholds={"text": 0.0}), GEOMETRY)
    result = reader.read(field("text", spell("ab")))
    assert (result.text, result.confidence, result.route) == ("", 0.0, "review")
    read = PlainReader(Routing(thresholds={"text": 0.0}), GEOMETRY).read(field("text", spell("ab")))
    assert read.route == "accept"  # the same field, read, passes that threshold


def test_word_boxes_spread_the_frames_over_the_line():
    probs = spell("2 jours")
    frames = len(probs.probs)
    reader = IntervalReader(Routing(), GEOMETRY, ["2 jours"])
    hyp = reader.decode(probs)
    line = LineImage(np.full((40, 400), 235, np.uint8), LINE_BOX, "f", 0)
    origin = LINE_BOX[0] - round(0.5 * 40)  # the framed line starts half a height before
    plain = GEOMETRY.word_boxes(hyp, line, frames)
    widened = GEOMETRY.word_boxes(hyp, line, 2 * frames)  # the same spans, twice the frames
    assert [w for w, _ in plain] == [w for w, _ in widened] == ["2", "jours"]
    (_, a), (_, b) = plain[1], widened[1]  # "jours": the line's frames twice as dense
    assert a[2] > LINE_BOX[0] + 20 and abs((b[2] - origin) - (a[2] - origin) / 2) <= 1
