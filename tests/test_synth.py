import copy
import hashlib
import json
from importlib import resources

import cv2
import numpy as np
import pytest

from medocr.errors import MedocrError
from medocr.synth.certificate import TRUTH_SCHEMA, generate_certificate
from medocr.synth.fonts import HandwritingFont, find_handwriting_fonts
from medocr.synth.runner import synthesize
from medocr.synth.text import Vocabulary
from medocr.templates import load_template, parse_template

SEEDS = [(11, i) for i in range(6)]


@pytest.fixture(scope="module")
def certificates():
    return [generate_certificate(seed, index, keep_ink=True) for seed, index in SEEDS]


def _chars(truth):
    for field in truth["fields"]:
        for line in field["lines"]:
            for word in line["words"]:
                yield from word["chars"]


def test_same_seed_same_pixels_and_truth():
    first = generate_certificate(5, 2)
    again = generate_certificate(5, 2)
    other = generate_certificate(5, 3)
    assert np.array_equal(first.image, again.image)
    assert first.truth == again.truth
    assert not np.array_equal(first.image, other.image)


def test_image_and_truth_shape(certificates):
    template = load_template()
    for cert in certificates:
        assert cert.image.dtype == np.uint8
        assert cert.image.shape == (template.height_px, template.width_px)
        assert cert.truth["schema"] == TRUTH_SCHEMA
        assert [f["name"] for f in cert.truth["fields"]] == [f.name for f in template.fields]
        assert np.asarray(cert.truth["transform"]).shape == (3, 3)


def test_texts_of_boxes_concatenate_to_field_text(certificates):
    checked = 0
    for cert in certificates:
        for field in cert.truth["fields"]:
            if field["kind"] == "checkbox":
                assert field["text"] == ("X" if field["value"] else "")
                assert field["lines"] == []
                continue
            lines = []
            for line in field["lines"]:
                words = []
                for word in line["words"]:
                    assert "".join(c["char"] for c in word["chars"]) == word["text"]
                    words.append(word["text"])
                assert " ".join(words) == line["text"]
                lines.append(line["text"])
                checked += 1
            assert "\n".join(lines) == field["text"]
    assert checked > 20


def test_boxes_nest_and_lie_in_the_image(certificates):
    for cert in certificates:
        height, width = cert.image.shape
        for field in cert.truth["fields"]:
            for line in field["lines"]:
                for word in line["words"]:
                    _assert_inside(word["box"], line["box"])
                    for char in word["chars"]:
                        _assert_inside(char["box"], word["box"])
                        x0, y0, x1, y1 = char["box"]
                        assert 0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height


def _assert_inside(inner, outer):
    assert outer[0] <= inner[0] and outer[1] <= inner[1]
    assert inner[2] <= outer[2] and inner[3] <= outer[3]


def test_ink_lies_inside_character_boxes(certificates):
    """All handwriting ink is covered by char (or checkbox mark) boxes; every char box has ink."""
    for cert in certificates:
        ink = cert.ink.astype(np.float64)
        covered = np.zeros(ink.shape, bool)
        boxes = [c["box"] for c in _chars(cert.truth)]
        boxes += [f["mark_box"] for f in cert.truth["fields"] if "mark_box" in f]
        for x0, y0, x1, y1 in boxes:
            covered[max(y0 - 1, 0) : y1 + 1, max(x0 - 1, 0) : x1 + 1] = True
            assert ink[max(y0, 0) : y1, max(x0, 0) : x1].max() > 100, (x0, y0, x1, y1)
        outside = ink[~covered].sum() / ink.sum()
        assert outside < 0.002


def test_ink_shows_in_the_scanned_image(certificates):
    """Where the truth says there is a character, the scan is darker than the paper."""
    for cert in certificates:
        if cert.truth["scan"]["fax"]:
            continue
        paper = np.percentile(cert.image, 90)
        for char in list(_chars(cert.truth))[:40]:
            x0, y0, x1, y1 = char["box"]
            assert cert.image[y0:y1, x0:x1].min() < paper - 30


def test_no_character_is_drawn_without_a_glyph(certificates):
    fonts = {f.name: f for f in find_handwriting_fonts()}
    for cert in certificates:
        font = fonts[cert.truth["writer"]["font"]]
        for char in _chars(cert.truth):
            assert char["char"] in font.charset


def test_font_substitution_never_keeps_a_missing_glyph():
    font = HandwritingFont("unused.ttf", "test", frozenset("abcdeoOE'"))
    assert font.substitute("œdème’") == "oedee'"
    assert font.substitute("Œ b") == "OE b"
    bare = HandwritingFont("unused.ttf", "bare", frozenset("ace"))
    assert bare.substitute("éçà œ") == "eca "


def test_capital_writers_write_capitals():
    for index in range(60):
        cert = generate_certificate(3, index)
        if cert.truth["writer"]["capitals"]:
            texts = [f["text"] for f in cert.truth["fields"] if f["kind"] == "cause"]
            assert any(texts)
            assert all(t == t.upper() for t in texts)
            return
    pytest.fail("no capitals-only writer in 60 certificates")


def test_scan_parameters_cover_the_specified_ranges():
    truths = [generate_certificate(21, i).truth["scan"] for i in range(40)]
    rotations = [t["rotation_deg"] for t in truths]
    assert all(abs(r) <= 8 for r in rotations) and max(rotations) - min(rotations) > 8
    assert all(0.9 <= t["scale"] <= 1.1 for t in truths)
    assert any(t["fax"] for t in truths) and any(t["jpeg_quality"] for t in truths)


def test_a_user_template_can_be_filled():
    text = (
        resources.files("medocr.templates")
        .joinpath("fr_deces_volet_medical.json")
        .read_text(encoding="utf-8")
    )
    data = json.loads(text)
    data = copy.deepcopy(data)
    data["id"] = "short-form"
    data["fields"] = [
        f for f in data["fields"] if f["name"] in ("cause_1a", "interval_1a", "cause_2")
    ]
    data["fields"].append({"name": "comment", "kind": "text", "box": [110, 2000, 900, 2100]})
    template = parse_template(data, source="short.json")
    cert = generate_certificate(4, 0, template=template)
    assert cert.truth["template"]["id"] == "short-form"
    assert [f["name"] for f in cert.truth["fields"]] == [
        "cause_1a",
        "interval_1a",
        "cause_2",
        "comment",
    ]


def test_builtin_vocabulary_without_shared_data(tmp_path, monkeypatch):
    monkeypatch.setenv("MEDOCR_DATA", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    vocabulary = Vocabulary.default()
    assert vocabulary.source == "builtin"
    cert = generate_certificate(1, 0, vocabulary=vocabulary)
    assert cert.truth["vocabulary"] == "builtin"
    assert cert.truth["fields"][1]["text"] or cert.truth["fields"][1]["intended"] == ""


def _digest(folder):
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.glob("cert-*"))
    }


@pytest.mark.slow
def test_synthesize_is_deterministic_across_workers_and_resumes(tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    summary = synthesize(one, 3, seed=9)
    assert summary.written == [0, 1, 2] and not summary.failed
    synthesize(two, 3, seed=9, workers=2)
    assert _digest(one) == _digest(two)
    assert len(_digest(one)) == 6
    again = synthesize(one, 4, seed=9)
    assert again.skipped == [0, 1, 2] and again.written == [3]
    with pytest.raises(MedocrError, match="holds certificates made with other settings \\(seed"):
        synthesize(one, 1, seed=10)
    image = cv2.imread(str(one / "cert-000000.png"), cv2.IMREAD_UNCHANGED)
    assert image.dtype == np.uint8 and image.ndim == 2


def test_synthesize_rejects_bad_arguments(tmp_path):
    with pytest.raises(MedocrError, match="workers \\(0\\) >= 1"):
        synthesize(tmp_path, 1, workers=0)
    with pytest.raises(MedocrError, match="image format 'gif'"):
        synthesize(tmp_path, 1, image_format="gif")


def test_line_augmentation_keeps_every_ink_column_and_its_input():
    from medocr.synth.augment import _crop_jitter, augment_line

    rng = np.random.default_rng(5)
    line = np.full((60, 200), 230, np.uint8)
    line[12:48, 20:180] = 255
    line[25:35, 30:170:7] = 20  # ink strokes well inside the vertical crop margin
    before = line.copy()
    for _ in range(50):
        jittered = _crop_jitter(line, rng)
        height = jittered.shape[0]
        assert round(60 * 0.84) <= height <= round(60 * 1.3)
        # no inward move of the left and right edges, so every ink column survives
        assert 200 <= jittered.shape[1] <= 200 + 2 * 18
        assert np.count_nonzero((jittered < 128).any(axis=0)) == np.count_nonzero(
            (line < 128).any(axis=0)
        )
        out = augment_line(line, rng)
        assert out.dtype == np.uint8 and out.ndim == 2 and min(out.shape) > 0
    assert np.array_equal(line, before)
