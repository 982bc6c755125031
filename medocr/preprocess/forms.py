"""Form registration and field extraction.

A scanned page is aligned to its template by matching ORB features between the page and
the template's blank printed form, with a RANSAC homography on a reduced copy of both
images. The form is the reference image shipped with the template
(:func:`medocr.templates.reference.reference_form`, read once per template and checked
against its sha256), so registration does not depend on the fonts of the machine; a
template without one (a user template) has its form drawn with this machine's fonts.
The registration is then checked: the template's printed ink must be found on the
registered page, and the page must be light where the template is blank. A page that is
not this form (blank, another form, a photo) fails that check and raises
:class:`~medocr.errors.TemplateError`.

Field crops are *rectified*: the field's template box (plus a margin) is warped out of the
page into template geometry, so a crop is upright and the same size on every page.
``FieldCrop.bbox`` is the axis-aligned box of the field in page pixels and
``FieldCrop.to_page`` maps crop pixels to page pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from medocr.errors import TemplateError
from medocr.geometry import (
    box_corners,
    box_inside,
    clip_box,
    transform_box,
    transform_points,
)
from medocr.templates import Template, TemplateField, load_template
from medocr.templates.reference import reference_form
from medocr.types import Box, FieldCrop, Page

#: Template pixels kept around a field box in crops (left/right, above/below): handwriting
#: overflows boxes. Shared by everything that cuts or reads field crops.
CROP_MARGIN = (12, 18)
#: Pixels a field's box may reach beyond the scanned page before the field counts as
#: outside it (``FieldCrop.inside_page`` False: a cropped or partial scan).
EDGE_TOLERANCE = 2.0
WORK_SCALE = 0.5
MIN_SCORE = 0.6
MIN_INLIERS = 25
_CHECK_SCALE = 0.25


@dataclass(frozen=True, eq=False)
class Registration:
    """Where a template lies on a page.

    Parameters
    ----------
    matrix : numpy.ndarray
        float64 ``(3, 3)`` homography from template pixels to page pixels.
    score : float
        0..1: share of the template's printed ink found on the page, times the share of
        the template's blank paper that is light on the page.
    inliers : int
        RANSAC inlier matches.
    matches : int
        Feature matches that passed the ratio test.
    """

    matrix: np.ndarray
    score: float
    inliers: int
    matches: int


@dataclass(frozen=True, eq=False)
class _TemplateFeatures:
    keypoints: np.ndarray  # (N, 2) float32, template pixels
    descriptors: np.ndarray  # (N, 32) uint8
    ink: np.ndarray  # (h, w) bool, printed ink at _CHECK_SCALE, dilated
    paper: np.ndarray  # (h, w) bool, blank paper outside fields at _CHECK_SCALE


_FEATURES: dict[tuple[str, str], _TemplateFeatures] = {}


def _orb() -> cv2.ORB:
    return cv2.ORB_create(nfeatures=1500, scaleFactor=1.2, nlevels=6, fastThreshold=12)


def _template_features(template: Template) -> _TemplateFeatures:
    key = (template.source, template.ref)
    if key not in _FEATURES:
        form = reference_form(template)
        small = cv2.resize(form, None, fx=WORK_SCALE, fy=WORK_SCALE, interpolation=cv2.INTER_AREA)
        points, descriptors = _detect(small)
        check = cv2.resize(
            form, None, fx=_CHECK_SCALE, fy=_CHECK_SCALE, interpolation=cv2.INTER_AREA
        )
        ink = check < 160
        near_ink = cv2.dilate(ink.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
        paper = ~near_ink
        for field in template.fields:
            x0, y0, x1, y1 = (round(v * _CHECK_SCALE) for v in _grow(field.box, 40))
            paper[max(y0, 0) : y1, max(x0, 0) : x1] = False
        _FEATURES[key] = _TemplateFeatures(points / WORK_SCALE, descriptors, ink, paper)
    return _FEATURES[key]


def _grow(box: Box, pad: int) -> Box:
    return (box[0] - pad, box[1] - pad, box[2] + pad, box[3] + pad)


def _detect(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    keypoints, descriptors = _orb().detectAndCompute(image, None)
    if descriptors is None:
        return np.zeros((0, 2), np.float32), np.zeros((0, 32), np.uint8)
    return np.float32([k.pt for k in keypoints]), descriptors


def register(
    page: Page, template: Template | None = None, *, min_score: float = MIN_SCORE
) -> Registration:
    """Find the template on the page.

    Parameters
    ----------
    page : Page
        The scanned page (any size; it is compared at the template's scale).
    template : Template, optional
        Defaults to the shipped French death certificate.
    min_score : float
        Registrations scoring below this raise TemplateError.

    Returns
    -------
    Registration

    Raises
    ------
    TemplateError
        The page does not show this template (too few matching features, or a low
        score); the message names the page and the figures.
    """
    template = template or load_template()
    features = _template_features(template)
    factor = template.width_px / page.image.shape[1]
    work = WORK_SCALE * factor
    small = cv2.resize(page.image, None, fx=work, fy=work, interpolation=cv2.INTER_AREA)
    points, descriptors = _detect(small)
    where = f"{page.source} (page {page.page_index})"
    if len(points) < MIN_INLIERS:
        raise TemplateError(
            f"{where}: not the {template.ref} form: {len(points)} features "
            f"found on the page (a blank or nearly blank page?)"
        )
    src, dst = _match(features, descriptors, points / work)
    matrix, inliers = None, 0
    if len(src) >= MIN_INLIERS:
        matrix, mask = cv2.findHomography(
            src, dst, cv2.USAC_MAGSAC, 3.0 / WORK_SCALE, maxIters=3000, confidence=0.999
        )
        inliers = int(mask.sum()) if mask is not None else 0
    if matrix is None or inliers < MIN_INLIERS:
        raise TemplateError(
            f"{where}: not the {template.ref} form: {inliers} consistent "
            f"feature matches out of {len(src)} (need {MIN_INLIERS})"
        )
    score = _score(page.image, matrix, features)
    if score < min_score:
        digits = 2  # as many decimals as it takes for the two to differ: never "0.60 < 0.60"
        while digits < 17 and f"{score:.{digits}f}" == f"{min_score:.{digits}f}":
            digits += 1
        raise TemplateError(
            f"{where}: not the {template.ref} form: registration score "
            f"{score:.{digits}f} < {min_score:.{digits}f} ({inliers} inlier matches)"
        )
    return Registration(matrix, score, inliers, len(src))


def _match(
    features: _TemplateFeatures, descriptors: np.ndarray, points: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Ratio-test matches: template points ``(M, 2)`` and page points ``(M, 2)``."""
    matcher = cv2.BFMatcher(cv2.NORM_HAMMING)
    pairs = matcher.knnMatch(features.descriptors, descriptors, k=2)
    good = [p[0] for p in pairs if len(p) == 2 and p[0].distance < 0.8 * p[1].distance]
    src = np.float32([features.keypoints[m.queryIdx] for m in good]).reshape(-1, 2)
    dst = np.float32([points[m.trainIdx] for m in good]).reshape(-1, 2)
    return src, dst


def _score(image: np.ndarray, matrix: np.ndarray, features: _TemplateFeatures) -> float:
    """Printed-ink recall times blank-paper lightness, on the page warped to the template.

    The page is first reduced with area averaging (a thin printed line must not fall
    between the samples of a plain warp), then warped at that scale.
    """
    height, width = features.ink.shape
    small = cv2.resize(image, None, fx=_CHECK_SCALE, fy=_CHECK_SCALE, interpolation=cv2.INTER_AREA)
    scale = np.diag([_CHECK_SCALE, _CHECK_SCALE, 1.0])
    template_to_small = scale @ matrix @ np.linalg.inv(scale)
    warped = cv2.warpPerspective(
        small,
        template_to_small,
        (width, height),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderValue=255,
    )
    dark = warped < _dark_threshold(warped)
    near_dark = cv2.dilate(dark.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    recall = float(near_dark[features.ink].mean()) if features.ink.any() else 0.0
    clean = 1.0 - float(dark[features.paper].mean()) if features.paper.any() else 1.0
    return recall * clean


def _dark_threshold(image: np.ndarray) -> float:
    """Otsu threshold, kept between sensible bounds for a mostly white page."""
    threshold, _ = cv2.threshold(image, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    return float(np.clip(threshold, 60, 200))


def crop_field(
    image: np.ndarray,
    field: TemplateField,
    matrix: np.ndarray,
    *,
    margin: tuple[int, int] = CROP_MARGIN,
) -> tuple[np.ndarray, np.ndarray, Box]:
    """Cut one field out of a page, rectified to template geometry.

    Parameters
    ----------
    image : numpy.ndarray
        uint8 ``(H, W)`` page.
    field : TemplateField
        The field.
    matrix : numpy.ndarray
        ``(3, 3)`` template pixels -> page pixels.
    margin : tuple of int
        Extra template pixels kept left/right and above/below the box (handwriting
        overflows boxes).

    Returns
    -------
    crop : numpy.ndarray
        uint8 ``(h, w)`` with ``w = box width + 2 * margin[0]``, ``h = box height +
        2 * margin[1]``.
    to_page : numpy.ndarray
        ``(3, 3)`` crop pixels -> page pixels.
    bbox : Box
        Axis-aligned box of the field (without margin) in page pixels, clipped to the page.
    """
    x0, y0, x1, y1 = field.box
    mx, my = margin
    offset = np.array([[1.0, 0.0, x0 - mx], [0.0, 1.0, y0 - my], [0.0, 0.0, 1.0]])
    to_page = matrix @ offset
    size = (x1 - x0 + 2 * mx, y1 - y0 + 2 * my)
    crop = cv2.warpPerspective(
        image,
        to_page,
        size,
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REPLICATE,
    )
    return crop, to_page, _page_box(field.box, matrix, image.shape)


def _page_box(box: Box, matrix: np.ndarray, shape: tuple[int, ...]) -> Box:
    return clip_box(transform_box(matrix, box), shape[1], shape[0])


def extract_fields(
    page: Page,
    template: Template | None = None,
    *,
    registration: Registration | None = None,
    margin: tuple[int, int] = CROP_MARGIN,
    scan: Page | None = None,
) -> list[FieldCrop]:
    """Register the page (unless given) and crop every template field.

    Parameters
    ----------
    page : Page
        The scanned page.
    template : Template, optional
        Defaults to the shipped French death certificate.
    registration : Registration, optional
        A known alignment (e.g. from ground truth); skips :func:`register`.
    margin : tuple of int
        See :func:`crop_field`.
    scan : Page, optional
        The page as read, before preprocessing warped it into `page` (e.g. deskewing
        adds paper around a turned page); default `page`. A field whose box leaves the
        scan's pixels gets ``inside_page=False``.

    Returns
    -------
    list of FieldCrop
        In template order; blank fields give blank crops. Boxes are in the pixels of
        ``page`` composed with ``page.transform``'s inverse (original-file pixels).

    Raises
    ------
    TemplateError
        The page does not show this template.
    """
    template = template or load_template()
    registration = registration or register(page, template)
    scan = scan or page
    to_original = np.linalg.inv(page.transform)
    to_scan = scan.transform @ to_original @ registration.matrix
    original_shape = _original_shape(page, to_original)
    if np.allclose(scan.transform, np.eye(3)):
        original_shape = scan.shape
    crops = []
    for field in template.fields:
        image, to_page, _ = crop_field(page.image, field, registration.matrix, margin=margin)
        to_file = to_original @ to_page
        bbox = _page_box(field.box, to_original @ registration.matrix, original_shape)
        inside = box_inside(to_scan, field.box, scan.shape[1], scan.shape[0], EDGE_TOLERANCE)
        crops.append(
            FieldCrop(
                field.name,
                field.kind,
                bbox,
                image,
                registration.score,
                to_page=to_file,
                inside_page=inside,
            )
        )
    return crops


def _original_shape(page: Page, to_original: np.ndarray) -> tuple[int, int]:
    if np.allclose(to_original, np.eye(3)):
        return page.shape
    height, width = page.shape
    pts = transform_points(to_original, box_corners((0, 0, width, height)))
    return (int(np.ceil(pts[:, 1].max())), int(np.ceil(pts[:, 0].max())))


def draw_registration(page: Page, template: Template, registration: Registration) -> np.ndarray:
    """Picture of the registered template over the page, for a person to check.

    Returns
    -------
    numpy.ndarray
        uint8 ``(H, W, 3)`` BGR: the page in gray, the template's printed ink in red where
        the registration puts it, field outlines in blue with their names.
    """
    canvas = cv2.cvtColor(page.image, cv2.COLOR_GRAY2BGR)
    height, width = page.shape
    form = cv2.warpPerspective(
        reference_form(template),
        registration.matrix,
        (width, height),
        flags=cv2.INTER_LINEAR,
        borderValue=255,
    )
    canvas[form < 128] = (0, 0, 230)
    for field in template.fields:
        quad = transform_points(registration.matrix, box_corners(field.box))
        cv2.polylines(canvas, [np.int32(np.round(quad))], True, (220, 90, 0), 2)
        anchor = (int(quad[0, 0]) + 4, int(quad[0, 1]) + 22)
        cv2.putText(canvas, field.name, anchor, cv2.FONT_HERSHEY_SIMPLEX, 0.6, (220, 90, 0), 2)
    label = f"{template.ref} score {registration.score:.2f} inliers {registration.inliers}"
    cv2.putText(canvas, label, (20, 40), cv2.FONT_HERSHEY_SIMPLEX, 1.0, (0, 140, 0), 2)
    return canvas
