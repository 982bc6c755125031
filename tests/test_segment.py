import cv2
import numpy as np
import pytest

from medocr.preprocess.forms import Registration, extract_fields
from medocr.preprocess.segment import (
    LineSegments,
    LineStats,
    Region,
    char_images,
    crop_box,
    find_chars,
    find_lines,
    find_words,
    line_images,
    measure_line,
    page_box,
    segment_field,
)
from medocr.synth.certificate import generate_certificate
from medocr.synth.fonts import find_handwriting_fonts
from medocr.synth.text import Vocabulary
from medocr.templates import load_template
from medocr.types import CharImage, FieldCrop, LineImage, Page

PRINT_FONTS = ("ComicNeue-Regular", "kalam-latin-400-normal", "patrick-hand-latin-400-normal")
SEED = 4
TWO_LINE_INDEX = 7  # builtin vocabulary: certificate (4, 7) writes two lines in cause_2


def _print_font():
    fonts = {f.name: f for f in find_handwriting_fonts()}
    for name in PRINT_FONTS:
        if name in fonts:
            return fonts[name]
    return next(iter(fonts.values()))


@pytest.fixture(scope="module")
def pages():
    """Certificates written in one print-like font, with their exact field crops."""
    template = load_template()
    font = _print_font()
    out = {}
    for index in (0, 3, TWO_LINE_INDEX):
        cert = generate_certificate(SEED, index, vocabulary=Vocabulary.builtin(), fonts=(font,))
        registration = Registration(np.asarray(cert.truth["transform"]), 1.0, 0, 0)
        crops = extract_fields(Page(cert.image, "synthetic"), template, registration=registration)
        out[index] = (cert, crops)
    return template, out


def _iou(a, b):
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - ix * iy
    return ix * iy / union


def _matches(found, truth):
    """One-to-one matches at IoU >= 0.5 (greedy, best first)."""
    pairs = sorted(
        ((_iou(f, t), i, j) for i, f in enumerate(found) for j, t in enumerate(truth)),
        reverse=True,
    )
    used_f, used_t = set(), set()
    for value, i, j in pairs:
        if value >= 0.5 and i not in used_f and j not in used_t:
            used_f.add(i)
            used_t.add(j)
    return len(used_f)


def test_both_lines_of_a_two_line_field_are_found(pages):
    template, certs = pages
    cert, crops = certs[TWO_LINE_INDEX]
    truth = next(f for f in cert.truth["fields"] if f["name"] == "cause_2")
    crop = next(c for c in crops if c.name == "cause_2")
    assert len(truth["lines"]) == 2
    lines = line_images(crop, template.field("cause_2").lines)
    assert [line.line_index for line in lines] == [0, 1]
    assert all(isinstance(line, LineImage) and line.field_name == "cause_2" for line in lines)
    assert _matches([line.bbox for line in lines], [t["box"] for t in truth["lines"]]) == 2


def test_words_of_synthetic_lines_are_found(pages):
    """Measured on these pages: word F1 0.9 or more; the floor leaves room for font changes."""
    template, certs = pages
    found_total = truth_total = matched = 0
    for index in (0, 3):
        cert, crops = certs[index]
        for crop, truth in zip(crops, cert.truth["fields"], strict=True):
            if crop.kind == "checkbox":
                continue
            segments = segment_field(crop, template.field(crop.name).lines)
            found = [page_box(w.box, crop.to_page) for s in segments for w in s.words]
            words = [w["box"] for line in truth["lines"] for w in line["words"]]
            found_total += len(found)
            truth_total += len(words)
            matched += _matches(found, words)
    assert truth_total > 10
    assert 2 * matched / (found_total + truth_total) > 0.75


def _blob_line(*shapes):
    """A line Region drawn from cv2 calls on a blank (60, 200) canvas."""
    canvas = np.zeros((60, 200), np.uint8)
    for draw in shapes:
        draw(canvas)
    ys, xs = np.nonzero(canvas)
    return Region.from_points(ys, xs)


def test_two_touching_blobs_are_split_into_two_characters():
    word = _blob_line(
        lambda c: cv2.circle(c, (60, 35), 12, 1, 3),
        lambda c: cv2.circle(c, (86, 35), 12, 1, 3),  # rings touching at x ~ 73
    )
    stats = LineStats(x_height=26.0, stroke_width=3.0, slant=0.0, centre=35.0)
    chars = find_chars(word, stats)
    assert len(chars) == 2
    assert abs(chars[0].box[2] - 73) <= 3 and abs(chars[1].box[0] - 73) <= 3
    assert chars[0].box[0] == word.box[0] and chars[1].box[2] == word.box[2]


def test_an_accent_is_merged_with_its_letter():
    word = _blob_line(
        lambda c: cv2.circle(c, (60, 38), 10, 1, 3),  # an "e"-like ring...
        lambda c: cv2.line(c, (58, 20), (65, 14), 1, 3),  # ...its acute accent
        lambda c: cv2.circle(c, (90, 38), 10, 1, 3),  # and the next letter
    )
    stats = measure_line(word)
    chars = find_chars(word, stats)
    assert len(chars) == 2
    first = chars[0].box
    assert first[1] <= 14 and first[3] >= 48  # accent and ring in one character


def test_blank_crop_has_no_lines_words_or_characters():
    crop = FieldCrop("cause_1a", "cause", (330, 620, 1240, 735), np.full((151, 934), 235, np.uint8))
    assert segment_field(crop) == []
    assert line_images(crop) == []
    assert char_images(crop) == []
    assert find_lines(np.zeros((151, 934), bool), 2) == []


def test_find_lines_rejects_a_zero_line_count():
    with pytest.raises(ValueError, match="n_lines must be at least 1, got 0"):
        find_lines(np.zeros((10, 10), bool), 0)


def test_find_words_splits_at_wide_gaps_only():
    canvas = np.zeros((60, 400), np.uint8)
    for x in (20, 45, 70, 160, 185, 300):  # three words: 3 letters, 2 letters, 1 letter
        cv2.rectangle(canvas, (x, 20), (x + 16, 44), 1, 3)
    ys, xs = np.nonzero(canvas)
    words = find_words(Region.from_points(ys, xs))
    assert [w.box[0] + 2 for w in words] == [20, 160, 300]  # a 3-px pen reaches 2 px out


def test_page_and_crop_boxes_round_trip():
    to_page = np.array([[0.99, -0.05, 300.0], [0.05, 0.99, 600.0], [0.0, 0.0, 1.0]])
    box = (100, 40, 160, 80)
    back = crop_box(page_box(box, to_page), to_page)
    assert back[0] <= box[0] and back[1] <= box[1] and back[2] >= box[2] and back[3] >= box[3]
    assert page_box((0, 0, 10, 10), np.eye(3)) == (0, 0, 10, 10)


def test_char_images_carry_page_boxes_inside_their_line(pages):
    template, certs = pages
    cert, crops = certs[0]
    crop = next(c for c in crops if c.name == "cause_1a")
    segments = segment_field(crop, 1)
    lines = line_images(crop, segments=segments)
    chars = char_images(crop, segments=segments)
    assert chars and all(isinstance(c, CharImage) for c in chars)
    assert [c.char_index for c in chars] == list(range(len(chars)))
    x0, y0, x1, y1 = lines[0].bbox
    for char in chars:
        assert x0 <= char.bbox[0] and char.bbox[2] <= x1 and y0 <= char.bbox[1] <= y1
        assert char.image.dtype == np.uint8 and char.image.ndim == 2


def test_line_images_paint_foreign_ink_and_keep_faint_strokes():
    image = np.full((120, 600), 235, np.uint8)
    own = np.zeros(image.shape, np.uint8)
    for x in (200, 225, 250):  # the line's own ink: three dark letters
        cv2.rectangle(own, (x, 50), (x + 16, 74), 1, 3)
    image[own > 0] = 30
    image[72:74, 272:300] = 222  # a faint stroke end that the binarisation missed
    image[40:46, 282:290] = 40  # ink that is not the line's (another line's descender)
    binarized = image < 128
    ys, xs = np.nonzero(own)
    line = Region.from_points(ys, xs)
    crop = FieldCrop("cause_1a", "cause", (0, 0, 600, 120), image)
    segments = [LineSegments(line, (), (), measure_line(line))]
    (cut,) = line_images(crop, segments=segments, ink=binarized)
    x0, y0 = line.box[0] - 4 - round(0.5 * (line.box[3] - line.box[1])), line.box[1] - 4
    assert cut.bbox[:2] == (x0, y0)
    gray = cut.image
    assert gray[72 - y0, 280 - x0] == 222  # kept, grey as it was
    assert y0 < 46 and (gray[max(40 - y0, 0) : 46 - y0, 282 - x0 : 290 - x0] == 235).all()
    assert gray[62 - y0, 201 - x0] == 30  # own strokes untouched
    raw = line_images(crop, segments=segments, ink=binarized, isolate=False)[0].image
    assert (raw == image[y0 : y0 + raw.shape[0], x0 : x0 + raw.shape[1]]).all()


def test_line_images_from_lines_alone_equal_those_from_segments(pages):
    template, certs = pages
    cert, crops = certs[0]
    crop = next(c for c in crops if c.name == "cause_2")
    segments = segment_field(crop, 2)
    by_segments = line_images(crop, 2, segments=segments)
    by_lines = line_images(crop, 2, lines=[seg.line for seg in segments])
    assert [x.bbox for x in by_lines] == [x.bbox for x in by_segments]
    assert all(np.array_equal(a.image, b.image) for a, b in zip(by_lines, by_segments, strict=True))
    with pytest.raises(ValueError, match="not both"):
        line_images(crop, 2, segments=segments, lines=[])
