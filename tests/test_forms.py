import cv2
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from medocr.cli import main
from medocr.errors import TemplateError
from medocr.preprocess.deskew import deskew
from medocr.preprocess.forms import Registration, extract_fields, register
from medocr.synth.certificate import generate_certificate
from medocr.synth.runner import encode_image
from medocr.templates import load_template
from medocr.templates.draw import find_print_font
from medocr.types import Page

NOT_THE_FORM = "not the fr-deces-volet-medical@1.0.0 form"


def iou(a, b):
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


@pytest.fixture(scope="module")
def certificates():
    return [generate_certificate(41, i) for i in range(4)]


def test_registered_field_boxes_match_the_truth(certificates):
    template = load_template()
    for cert in certificates:
        crops = extract_fields(Page(cert.image, "cert.png"), template)
        assert [c.name for c in crops] == [f.name for f in template.fields]
        for crop, truth in zip(crops, cert.truth["fields"], strict=True):
            assert iou(crop.bbox, truth["box"]) > 0.9, crop.name
            assert crop.registration_score > 0.6


def test_crops_are_rectified_and_map_back_to_the_page(certificates):
    template = load_template()
    cert = certificates[0]
    truth = Registration(np.asarray(cert.truth["transform"]), 1.0, 0, 0)
    crops = extract_fields(Page(cert.image, "cert.png"), template, registration=truth)
    for crop, field in zip(crops, template.fields, strict=True):
        x0, y0, x1, y1 = field.box
        assert crop.image.shape == (y1 - y0 + 36, x1 - x0 + 24)
        corner = cv2.perspectiveTransform(np.float64([[12, 18]]).reshape(-1, 1, 2), crop.to_page)
        expected = cv2.perspectiveTransform(np.float64([[x0, y0]]).reshape(-1, 1, 2), truth.matrix)
        assert corner.reshape(2) == pytest.approx(expected.reshape(2), abs=1e-6)


def test_blank_fields_give_blank_crops(certificates):
    cert = next(
        c
        for c in certificates  # interval_1b empty, and no cause text running into it
        if not c.truth["fields"][4]["text"] and not c.truth["writer"]["overflow"]
    )
    crops = extract_fields(Page(cert.image, "cert.png"))
    inner = crops[4].image[30:-30, 30:-30]
    assert (inner < np.percentile(cert.image, 50) - 60).mean() < 0.002  # fax specks at most


def test_boxes_of_a_deskewed_page_are_in_original_pixels(certificates):
    cert = certificates[1]
    page = Page(cert.image, "cert.png")
    straight = deskew(page)
    direct = extract_fields(page)
    via_deskew = extract_fields(straight)
    for a, b in zip(direct, via_deskew, strict=True):
        assert iou(a.bbox, b.bbox) > 0.9


def _blank_page(rng):
    return np.clip(rng.normal(235, 6, (2339, 1654)), 0, 255).astype(np.uint8)


def _photo(rng):
    base = rng.uniform(0, 255, (12, 9)).astype(np.float32)
    photo = cv2.resize(base, (1654, 2339), interpolation=cv2.INTER_CUBIC)
    photo = np.clip(photo + rng.normal(0, 20, photo.shape), 0, 255).astype(np.uint8)
    for _ in range(40):
        centre = tuple(int(v) for v in rng.integers(0, [1654, 2339]))
        cv2.circle(photo, centre, int(rng.integers(20, 200)), int(rng.integers(0, 255)), -1)
    return photo


def _other_form(rng):
    image = Image.new("L", (1654, 2339), 255)
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype(find_print_font(False), 30)
    draw.text(
        (120, 100),
        "DÉCLARATION DE NAISSANCE",
        font=ImageFont.truetype(find_print_font(True), 40),
        fill=0,
    )
    words = [
        "nom",
        "prénom",
        "adresse",
        "date",
        "lieu",
        "naissance",
        "père",
        "mère",
        "commune",
        "signature",
    ]
    for y in range(250, 2200, 70):
        draw.text((120, y), " ".join(rng.choice(words, 8)) + " :", font=font, fill=0)
        draw.line((900, y + 35, 1550, y + 35), fill=0, width=2)
    return np.asarray(image)


@pytest.mark.parametrize("make", [_blank_page, _photo, _other_form])
def test_a_page_that_is_not_the_form_is_refused(make):
    page = Page(make(np.random.default_rng(0)), "wrong.png")
    with pytest.raises(TemplateError, match=f"wrong.png \\(page 0\\): {NOT_THE_FORM}"):
        register(page)


def test_fields_command(tmp_path, capsys, certificates):
    good = tmp_path / "good.png"
    good.write_bytes(encode_image(certificates[2].image, "png", 200))
    wrong = tmp_path / "wrong.png"
    wrong.write_bytes(encode_image(_blank_page(np.random.default_rng(1)), "png", 200))
    out = tmp_path / "out"
    assert main(["fields", str(good), str(wrong), "--out", str(out), "--debug"]) == 1
    captured = capsys.readouterr()
    assert "good.png page 0: 14 fields" in captured.out
    assert f"error: {wrong} (page 0): {NOT_THE_FORM}" in captured.err
    names = sorted(p.name for p in out.iterdir())
    assert "good-p0-cause_1a.png" in names and "good-p0-fields.json" in names
    assert "good-p0-debug.png" in names and not any(n.startswith("wrong") for n in names)
    debug = cv2.imread(str(out / "good-p0-debug.png"))
    assert debug.shape == (2339, 1654, 3)
