import json
import subprocess
import sys

import numpy as np
import pytest

import medocr
from medocr.recognize.alphabet import Alphabet, normalize_text
from medocr.types import (
    CertificateResult,
    CharSpan,
    FieldCrop,
    FieldResult,
    FrameProbs,
    Hypothesis,
    Page,
    WordHypothesis,
)


def test_import_is_light():
    code = (
        "import sys, medocr; heavy = [m for m in ('tensorflow', 'keras', 'cv2', 'PIL', "
        "'lightgbm', 'sklearn') if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_lazy_api_and_version():
    assert medocr.__version__.count(".") == 2
    assert medocr.load_template.__module__ == "medocr.templates"
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        medocr.nope  # noqa: B018


def test_page_checks_dtype_and_shape():
    page = Page(np.zeros((4, 5), np.uint8), "a.png")
    assert page.shape == (4, 5) and np.array_equal(page.transform, np.eye(3))
    with pytest.raises(
        TypeError,
        match=r"Page.image must be a uint8 array of shape \(H, W\), "
        r"got float64 \(4, 5\)",
    ):
        Page(np.zeros((4, 5)), "a.png")
    with pytest.raises(TypeError, match="uint8 array of shape"):
        Page(np.zeros((4, 5, 3), np.uint8), "a.png")
    again = Page.from_dict(page.to_dict(), page.image)
    assert again.to_dict() == page.to_dict()


def test_field_crop_round_trip():
    crop = FieldCrop("cause_1a", "cause", (1, 2, 3, 4), np.zeros((2, 2), np.uint8), 0.9)
    data = json.loads(json.dumps(crop.to_dict()))
    assert FieldCrop.from_dict(data, crop.image).to_dict() == data


def test_results_round_trip_through_json():
    hyp = Hypothesis(
        "AVC ischémique",
        -1.5,
        (CharSpan("A", 0, 2, 0.9),),
        (WordHypothesis("AVC", True, "avc"),),
        (("AVC ischemique", -2.0),),
    )
    field = FieldResult("cause_1a", hyp.text, 0.93, "accept", hyp)
    result = CertificateResult(
        "scan.png",
        0,
        "fr-deces-volet-medical@1.0.0",
        (field,),
        {"read": 0.1},
        {"medocr": medocr.__version__},
    )
    assert CertificateResult.from_dict(json.loads(result.to_json())) == result
    assert "ischémique" in result.to_json()


def test_frame_probs_checks_classes():
    alphabet = Alphabet(("a", "b"))
    FrameProbs(np.full((3, 3), 1 / 3, np.float32), alphabet)
    with pytest.raises(ValueError, match="FrameProbs has 4 classes but the alphabet has 3"):
        FrameProbs(np.zeros((3, 4), np.float32), alphabet)
    with pytest.raises(TypeError, match="float32"):
        FrameProbs(np.zeros((3, 3)), alphabet)


def test_alphabet_encode_decode_and_blank_last():
    alphabet = Alphabet.from_texts(["décès", "AVC’s", "a b"])
    assert alphabet.blank == len(alphabet.chars) == alphabet.num_classes - 1
    labels = alphabet.encode("AVC's décès")
    assert alphabet.decode(labels + [alphabet.blank]) == "AVC's décès"
    assert normalize_text("e\u0301’") == "é'"
    with pytest.raises(ValueError, match="characters not in the alphabet: 'xz'"):
        alphabet.encode("xz")
    assert Alphabet.from_dict(alphabet.to_dict()) == alphabet
