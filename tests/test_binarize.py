import cv2
import numpy as np
import pytest

from medocr.preprocess.binarize import (
    clean_field,
    filter_components,
    ink_points,
    otsu,
    remove_ruling,
    run_lengths,
    sauvola,
)
from medocr.preprocess.forms import crop_field
from medocr.synth.certificate import generate_certificate
from medocr.synth.fonts import find_handwriting_fonts
from medocr.synth.text import Vocabulary
from medocr.templates import load_template
from medocr.templates.draw import render_form


def _strokes(shape=(120, 400)):
    """A known ink mask: a few letter-like strokes, 3 to 5 px wide."""
    ink = np.zeros(shape, np.uint8)
    cv2.line(ink, (40, 30), (40, 90), 1, 4)
    cv2.circle(ink, (90, 65), 22, 1, 4)
    cv2.line(ink, (150, 90), (190, 30), 1, 5)
    cv2.ellipse(ink, (260, 60), (40, 25), 20, 0, 300, 1, 3)
    cv2.line(ink, (320, 40), (380, 80), 1, 4)
    return ink.astype(bool)


def _f1(pred, truth):
    tp = np.sum(pred & truth)
    return 2 * tp / (pred.sum() + truth.sum())


def _page(truth, paper, ink_gray, noise=4.0, seed=0):
    rng = np.random.default_rng(seed)
    image = np.where(truth, ink_gray, paper).astype(np.float32)
    image += rng.normal(0, noise, truth.shape).astype(np.float32)
    return np.clip(image, 0, 255).astype(np.uint8)


def test_otsu_and_sauvola_find_known_ink():
    truth = _strokes()
    image = _page(truth, 225, 60)
    assert _f1(otsu(image), truth) > 0.99
    assert _f1(sauvola(image), truth) > 0.97
    assert otsu(image).dtype == np.bool_ and sauvola(image).shape == truth.shape


def test_blank_paper_has_no_ink():
    blank = _page(np.zeros((80, 300), bool), 230, 0, noise=8.0)
    assert not otsu(blank).any()
    assert not sauvola(blank).any()
    assert not clean_field(blank).any()
    assert not otsu(np.zeros((0, 5), np.uint8)).any()


def test_sauvola_survives_a_strong_illumination_gradient_that_defeats_otsu():
    truth = _strokes((120, 600)) | np.roll(_strokes((120, 600)), 300, axis=1)
    light = np.linspace(250, 95, truth.shape[1], dtype=np.float32)[None, :]
    image = np.clip(np.where(truth, light - 70, light), 0, 255).astype(np.uint8)
    assert _f1(sauvola(image), truth) > 0.95
    assert _f1(otsu(image), truth) < 0.6


@pytest.mark.parametrize("bad", [np.zeros((4, 4), np.float32), np.zeros((4, 4, 3), np.uint8)])
def test_binarisers_reject_non_gray_images(bad):
    with pytest.raises(TypeError, match=r"expected a uint8 grayscale image of shape \(H, W\)"):
        otsu(bad)
    with pytest.raises(TypeError, match=r"expected a uint8 grayscale image of shape \(H, W\)"):
        sauvola(bad)


def test_sauvola_rejects_a_tiny_window():
    with pytest.raises(ValueError, match="sauvola window must be at least 3 pixels, got 1"):
        sauvola(np.zeros((9, 9), np.uint8), window=1)


def test_mask_functions_reject_non_bool_masks():
    with pytest.raises(TypeError, match=r"expected a bool ink mask of shape \(H, W\), got uint8"):
        remove_ruling(np.zeros((9, 9), np.uint8))


def test_clean_field_rejects_an_unknown_method():
    with pytest.raises(ValueError, match="unknown binarisation method 'niblack'"):
        clean_field(np.full((20, 20), 255, np.uint8), method="niblack")


def test_run_lengths_along_rows_and_columns():
    mask = np.array([[1, 1, 0, 1], [0, 1, 0, 1], [0, 1, 1, 1]], bool)
    assert run_lengths(mask).tolist() == [[2, 2, 0, 1], [0, 1, 0, 1], [0, 3, 3, 3]]
    assert run_lengths(mask, vertical=True).tolist() == [[1, 3, 0, 3], [0, 3, 0, 3], [0, 3, 1, 3]]


def _ruled(width=400, height=151, row=70, thickness=2):
    ink = np.zeros((height, width), bool)
    ink[row : row + thickness, 10 : width - 10] = True
    return ink


def test_remove_ruling_removes_a_bare_line():
    ink = _ruled()
    cleaned, ruling = remove_ruling(ink)
    assert not cleaned.any()
    assert np.array_equal(ruling, ink)


def test_remove_ruling_keeps_a_stroke_crossing_the_line():
    line = _ruled()
    stroke = np.zeros_like(line)
    stroke[30:105, 150:154] = True  # as tall as a handwritten "l" + descender
    cleaned, ruling = remove_ruling(line | stroke)
    assert np.array_equal(cleaned & stroke, stroke)  # the crossing is not cut
    assert not (cleaned & line & ~stroke).any()  # the rest of the line is gone
    assert not (ruling & stroke).any()


def test_remove_ruling_keeps_a_letter_resting_on_the_line():
    line = _ruled()
    letter = np.zeros_like(line)
    cv2.circle(letter.view(np.uint8), (200, 58), 12, 1, 3)  # touches the line from above
    cleaned, _ = remove_ruling(line | letter)
    assert np.array_equal(cleaned & letter, letter)
    assert (cleaned & line & ~letter).sum() < 12


def test_remove_ruling_tolerates_a_one_degree_tilt_dashes_and_box_borders():
    ink = np.zeros((150, 900), np.uint8)
    slope = np.tan(np.radians(1.0))
    cv2.line(ink, (12, 60), (888, 60 + round(876 * slope)), 1, 2)
    cv2.rectangle(ink, (12, 18), (887, 131), 1, 2)
    ink[:, ::23] = 0  # a dashed, fax-like print
    ink = ink.astype(bool)
    cleaned, ruling = remove_ruling(ink)
    assert cleaned.sum() <= 0.01 * ink.sum()
    assert ruling.sum() >= 0.99 * ink.sum()


def test_clean_field_removes_a_fax_dashed_writing_line_where_the_form_prints_one():
    image = np.full((266, 1274), 235, np.uint8)
    cv2.rectangle(image, (12, 18), (1261, 247), 30, 2)
    for x in range(22, 1250, 26):  # the thin line between the two writing lines, in dashes
        cv2.line(image, (x, 133), (x + 11, 133), 40, 1)
    cv2.putText(image, "Ab", (200, 110), cv2.FONT_HERSHEY_SIMPLEX, 2.0, 50, 5)
    ink = clean_field(image, n_lines=2)
    assert not ink[125:142].any()
    assert ink[60:115, 195:300].sum() > 500


def test_clean_field_keeps_a_tall_straight_stem_but_removes_the_box():
    image = np.full((151, 934), 230, np.uint8)
    cv2.rectangle(image, (12, 18), (921, 132), 30, 2)  # the field box
    cv2.line(image, (300, 30), (300, 125), 60, 5)  # an "f" from ascender to descender
    ink = clean_field(image)
    assert ink[35:120, 298:303].all()
    assert ink.sum() == ink[:, 290:310].sum()


def test_specks_isolated_blots_and_margin_ink_are_dropped():
    ink = np.zeros((100, 300), bool)  # a crop with a (12, 18) margin
    ink[40:70, 50:54] = True  # a stem...
    ink[33:36, 50:54] = True  # ...and its dot: small but not isolated
    ink[10, 200] = True  # a speck
    ink[80:84, 250:254] = True  # an isolated blot
    ink[0:8, 120:180] = True  # printed label cut by the crop's top edge
    ink[70:100, 100:104] = True  # a descender cut by the bottom edge, a third inside
    kept = filter_components(ink)
    assert kept[33:36, 50:54].all() and not kept[10, 200] and not kept[80:84, 250:254].any()
    assert kept[0:8, 120:180].all()
    inside = filter_components(ink, (12, 18, 288, 82))
    assert inside[40:70, 50:54].all() and not inside[0:8, 120:180].any()
    assert inside[70:100, 100:104].all()
    assert np.array_equal(filter_components(ink, min_area=1, isolated_area=0), ink)


@pytest.fixture(scope="module")
def certificate():
    fonts = find_handwriting_fonts()
    return generate_certificate(3, 1, vocabulary=Vocabulary.builtin(), fonts=fonts, keep_ink=True)


def test_clean_field_keeps_handwriting_and_removes_the_form(certificate):
    """Measured on this page: ~99% of handwriting kept, all ruling removed."""
    template = load_template()
    matrix = np.asarray(certificate.truth["transform"])
    form = render_form(template)
    kept = total = ruling_left = ruling_total = 0
    for field in template.fields:
        if field.kind not in ("cause", "interval", "date"):
            continue
        image, _, _ = crop_field(certificate.image, field, matrix)
        hand, _, _ = crop_field(certificate.ink, field, matrix)
        printed, _, _ = crop_field(form, field, np.eye(3))
        ink = clean_field(image)
        core = hand > 127
        away = ~cv2.dilate((hand > 24).astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
        kept += np.sum(ink & core)
        total += core.sum()
        ruling_left += np.sum(ink & (printed < 128) & away)
        ruling_total += np.sum((printed < 128) & away)
    assert total > 1000
    assert kept / total > 0.9
    assert ruling_left / ruling_total < 0.01


# --- components and gray_percentile: equal to the OpenCV and numpy functions they replace


def _masks():
    rng = np.random.default_rng(11)
    yield np.ones((5, 7), bool)  # all ink: no background
    yield np.zeros((4, 4), bool)  # no ink
    yield np.ones((1, 1), bool)
    yield _strokes()
    for _ in range(300):
        height, width = (int(v) for v in rng.integers(1, 60, 2))
        yield rng.random((height, width)) < rng.uniform(0.02, 0.9)


def test_components_equal_opencv_statistics():
    from medocr.preprocess.binarize import components

    for mask in _masks():
        expected = cv2.connectedComponentsWithStatsWithAlgorithm(
            mask.astype(np.uint8), 8, cv2.CV_32S, cv2.CCL_GRANA
        )
        count, labels, stats, centroids = components(mask)
        assert count == expected[0]
        assert np.array_equal(labels, expected[1])
        assert np.array_equal(stats, expected[2]), mask.shape
        assert np.array_equal(centroids, expected[3], equal_nan=True), mask.shape


def test_gray_percentile_equals_numpy():
    from medocr.preprocess.binarize import gray_percentile

    rng = np.random.default_rng(5)
    for _ in range(300):
        low, high = sorted(int(v) for v in rng.integers(0, 256, 2))
        image = rng.integers(low, high + 1, tuple(rng.integers(1, 40, 2))).astype(np.uint8)
        for q in (0, 1, 50, 90, 95, 100, float(rng.uniform(0, 100))):
            assert gray_percentile(image, q) == float(np.percentile(image, q))
    with pytest.raises(ValueError, match="uint8"):
        gray_percentile(np.zeros((2, 2), np.float32), 50)
    with pytest.raises(ValueError, match="0..100"):
        gray_percentile(np.zeros((2, 2), np.uint8), 101)


@pytest.mark.parametrize("dtype", [bool, np.uint8, np.int32])
def test_ink_points_equal_numpy_nonzero(dtype):
    rng = np.random.default_rng(5)
    mask = (rng.random((37, 53)) < 0.2).astype(dtype)
    for view in (mask, mask.T, mask[::2, 3:], np.zeros((4, 6), dtype)):
        ys, xs = ink_points(view)
        want_ys, want_xs = np.nonzero(view)
        assert np.array_equal(ys, want_ys) and np.array_equal(xs, want_xs)


def test_vertical_lines_searched_near_the_sides_as_in_the_whole_mask():
    from medocr.preprocess.clean import _vertical_lines

    rng = np.random.default_rng(3)
    mask = np.zeros((140, 400), bool)
    mask[10:130, 4:7] = True  # box borders
    mask[12:128, 393:395] = True
    for x in (40, 58, 61, 75, 330, 339, 342):  # tall stems on both sides of the band edges
        mask[20:125, x : x + 2] = True
    mask |= rng.random(mask.shape) < 0.03
    whole = _vertical_lines(mask, 77, 5, 25, None)
    whole[:, 60:340] = 0
    assert np.array_equal(_vertical_lines(mask, 77, 5, 25, 60) > 0, whole > 0)
