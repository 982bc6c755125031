"""The blank form ships as data: registration never depends on the machine's fonts."""

import hashlib
import json
import logging
import shutil
from importlib import resources
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import features

import medocr.synth.fonts as synth_fonts
from medocr.errors import TemplateError
from medocr.preprocess import forms
from medocr.preprocess.forms import extract_fields, register
from medocr.templates import draw, load_template, parse_template, reference
from medocr.templates.reference import (
    form_digest,
    load_reference,
    main,
    reference_form,
    reference_path,
)
from medocr.types import Page

SHIPPED_JSON = "fr_deces_volet_medical.json"


def _fonts_here():
    """sha256 of this machine's print fonts by file name, or None when one is missing."""
    found = {}
    for bold, name in zip((False, True), draw.PRINT_FONTS, strict=True):
        path = draw.find_print_font(bold)
        if path is None:
            return None
        found[name] = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    return found


@pytest.fixture
def fresh_caches(monkeypatch):
    """Empty every form cache for the test; the caches of the session come back after."""
    monkeypatch.setattr(forms, "_FEATURES", {})
    monkeypatch.setattr(reference, "_REFERENCES", {})
    monkeypatch.setattr(draw, "_FORMS", {})
    draw.find_print_font.cache_clear()
    draw._print_font.cache_clear()
    yield
    draw.find_print_font.cache_clear()
    draw._print_font.cache_clear()


@pytest.fixture
def user_copy(tmp_path):
    """The shipped template JSON and its reference image copied to a user folder."""
    folder = resources.files("medocr.templates")
    path = tmp_path / "my_form.json"
    path.write_bytes(folder.joinpath(SHIPPED_JSON).read_bytes())
    image = load_template().reference["image"]
    shutil.copyfile(str(folder.joinpath(image)), tmp_path / image)
    return path


def test_the_shipped_template_carries_a_small_checked_reference():
    template = load_template()
    where = reference_path(template)
    assert where is not None and where.is_file()
    data = where.read_bytes()
    assert len(data) < 300_000
    assert hashlib.sha256(data).hexdigest() == template.reference["sha256"]
    assert template.reference["form_sha256"] == form_digest(template)  # no edit left unrendered
    image = load_reference(template)
    assert image.shape == (template.height_px, template.width_px) and image.dtype == np.uint8
    assert not image.flags.writeable
    assert (image < 128).mean() > 0.01  # printed ink, not a blank page
    assert reference_form(template) is reference_form(template)


def test_the_shipped_reference_equals_a_fresh_render():
    template = load_template()
    fonts = _fonts_here()
    if fonts != template.reference["fonts"]:
        pytest.skip("this machine lacks the print fonts the reference was rendered with")
    fresh = draw.draw_form(template)
    shipped = load_reference(template)
    same_renderer = template.reference["renderer"]["freetype"] == features.version("freetype2")
    if same_renderer:
        np.testing.assert_array_equal(fresh, shipped)
    else:  # another FreeType rasterises glyph edges slightly differently
        diff = np.abs(fresh.astype(int) - shipped.astype(int))
        assert diff.mean() < 0.5 and (diff > 64).mean() < 0.002


def test_registration_is_the_same_without_any_font(certificate_dir, monkeypatch, fresh_caches):
    image = cv2.imread(str(certificate_dir / "cert-000000.png"), cv2.IMREAD_GRAYSCALE)
    page = Page(image, "cert-000000.png")
    template = load_template()
    with_fonts = register(page, template)
    crops_with = extract_fields(page, template, registration=with_fonts)

    monkeypatch.setattr(forms, "_FEATURES", {})
    monkeypatch.setattr(reference, "_REFERENCES", {})
    monkeypatch.setattr(draw, "_FORMS", {})
    monkeypatch.setattr(draw, "FONT_DIRS", ())
    monkeypatch.setattr(synth_fonts, "FONT_DIRS", ())
    draw.find_print_font.cache_clear()
    draw._print_font.cache_clear()
    assert draw.find_print_font(False) is None and draw.find_print_font(True) is None
    # without fonts the form drawn now differs: reading must not draw it
    assert not np.array_equal(draw.draw_form(template), load_reference(template))

    without_fonts = register(page, template)
    np.testing.assert_array_equal(without_fonts.matrix, with_fonts.matrix)
    assert without_fonts.score == with_fonts.score
    assert without_fonts.inliers == with_fonts.inliers
    crops_without = extract_fields(page, template, registration=without_fonts)
    for a, b in zip(crops_with, crops_without, strict=True):
        assert a.bbox == b.bbox
        np.testing.assert_array_equal(a.image, b.image)


def test_a_corrupt_reference_is_refused(user_copy, fresh_caches):
    template = load_template(user_copy)
    image = user_copy.with_name(template.reference["image"])
    data = bytearray(image.read_bytes())
    data[-20] ^= 0xFF
    image.write_bytes(bytes(data))
    with pytest.raises(TemplateError, match="sha256 .* corrupt or replaced"):
        reference_form(template)


def test_a_copied_template_uses_its_copied_reference(user_copy, fresh_caches):
    template = load_template(user_copy)
    np.testing.assert_array_equal(load_reference(template), load_reference(load_template()))


def test_a_template_without_reference_is_drawn_with_a_warning(user_copy, fresh_caches, caplog):
    user_copy.with_name(load_template().reference["image"]).unlink()
    template = load_template(user_copy)
    assert load_reference(template) is None
    with caplog.at_level(logging.WARNING, logger="medocr.templates.reference"):
        form = reference_form(template)
    assert "has no reference image" in caplog.text
    np.testing.assert_array_equal(form, draw.render_form(template))


def test_a_stale_reference_is_ignored(user_copy, fresh_caches, caplog):
    data = json.loads(user_copy.read_text(encoding="utf-8"))
    text = next(e for e in data["elements"] if e["type"] == "text")
    text["text"] = "AUTRE FORMULAIRE"
    user_copy.write_text(json.dumps(data), encoding="utf-8")
    template = load_template(user_copy)
    with caplog.at_level(logging.WARNING, logger="medocr.templates.reference"):
        assert load_reference(template) is None
    assert "stale" in caplog.text
    assert main(["--check", str(user_copy)]) == 1


def test_update_renders_a_reference_for_a_user_template(tmp_path, fresh_caches, capsys):
    if _fonts_here() is None:
        pytest.skip("the print fonts are not installed")
    data = json.loads(resources.files("medocr.templates").joinpath(SHIPPED_JSON).read_text("utf-8"))
    del data["reference"]
    data["id"] = "my-form"
    data["elements"] = data["elements"][:5]
    path = tmp_path / "my_form.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    assert main(["--check", str(path)]) == 1
    assert main(["--update", str(path)]) == 0
    template = load_template(path)
    assert template.reference["image"] == "my_form.reference.png"
    assert list(json.loads(path.read_text("utf-8"))).index("reference") == 5  # after "page"
    np.testing.assert_array_equal(load_reference(template), draw.draw_form(template))
    assert main(["--check", str(path)]) == 0
    assert main(["--update", str(path)]) == 0
    assert "unchanged" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ("form.png", "reference must be an object"),
        ({"image": "../form.png", "sha256": "0" * 64, "form_sha256": "0" * 64}, "file name"),
        ({"image": "form.png", "sha256": "xyz", "form_sha256": "0" * 64}, "64 lowercase hex"),
        ({"sha256": "0" * 64, "form_sha256": "0" * 64}, "missing key reference.image"),
    ],
)
def test_a_malformed_reference_record_is_refused(record, message):
    data = json.loads(resources.files("medocr.templates").joinpath(SHIPPED_JSON).read_text("utf-8"))
    data["reference"] = record
    with pytest.raises(TemplateError, match=message):
        parse_template(data, source="form.json")
