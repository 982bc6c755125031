"""Scan simulation: what a scanner or fax does to a filled paper form.

Geometry (rotation, scale, translation, mild perspective) is one 3x3 homography from
template pixels to image pixels, returned so that ground-truth boxes follow the pixels.
Photometry (uneven background, bleed-through, blur, noise, JPEG artefacts, fax-like
binarisation) never moves anything.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import cv2
import numpy as np

from medocr.geometry import transform_box
from medocr.types import Box


@dataclass(frozen=True)
class ScanParams:
    """One simulated scan; every field is recorded in the ground truth.

    Parameters
    ----------
    rotation_deg : float
        Counter-clockwise page rotation in degrees (|r| <= 8).
    scale : float
        Isotropic scale (0.9..1.1).
    shift : tuple of float
        Translation in pixels ``(dx, dy)``, after fitting the fields inside the image.
    perspective : tuple of float
        Displacement of the four page corners, in pixels, ``(8,)`` = x, y per corner.
    paper : int
        Gray level of the paper.
    illumination : float
        Amplitude of the low-frequency background variation, gray levels.
    bleed : float
        Strength of mirrored show-through from the back of the sheet (0 = none).
    blur_sigma : float
        Gaussian blur sigma in pixels (0 = none).
    noise_sigma : float
        Gaussian noise sigma in gray levels (0 = none).
    jpeg_quality : int
        JPEG round-trip quality (0 = none).
    fax : bool
        Binarised, fax-like page.
    """

    rotation_deg: float
    scale: float
    shift: tuple[float, float]
    perspective: tuple[float, ...]
    paper: int
    illumination: float
    bleed: float
    blur_sigma: float
    noise_sigma: float
    jpeg_quality: int
    fax: bool

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready copy."""
        return asdict(self)


def sample_scan(rng: np.random.Generator, *, max_rotation: float = 8.0) -> ScanParams:
    """Draw scan parameters (rotation uniform in ``±max_rotation``, scale in 0.9..1.1...)."""
    fax = bool(rng.random() < 0.12)
    return ScanParams(
        rotation_deg=float(rng.uniform(-max_rotation, max_rotation)),
        scale=float(rng.uniform(0.9, 1.1)),
        shift=(float(rng.normal(0, 25)), float(rng.normal(0, 25))),
        perspective=tuple(float(v) for v in rng.normal(0, 6, size=8)),
        paper=int(rng.integers(215, 256)),
        illumination=float(rng.uniform(0, 25)),
        bleed=float(rng.uniform(0.04, 0.14)) if rng.random() < 0.3 else 0.0,
        blur_sigma=float(rng.uniform(0.3, 1.2)) if rng.random() < 0.6 else 0.0,
        noise_sigma=float(rng.uniform(2, 9)) if rng.random() < 0.7 else 0.0,
        jpeg_quality=int(rng.integers(35, 91)) if (not fax and rng.random() < 0.5) else 0,
        fax=fax,
    )


def homography(params: ScanParams, size: tuple[int, int], keep_inside: Box | None) -> np.ndarray:
    """Build the template-to-image homography of a scan.

    Parameters
    ----------
    params : ScanParams
        The scan.
    size : tuple of int
        ``(W, H)`` of the page (template and output alike).
    keep_inside : Box or None
        A region (template pixels) that must stay inside the output image: the
        translation is adjusted so that it does, when it fits.

    Returns
    -------
    numpy.ndarray
        float64 ``(3, 3)``.
    """
    width, height = size
    centre = (width / 2, height / 2)
    affine = cv2.getRotationMatrix2D(centre, params.rotation_deg, params.scale)
    matrix = np.vstack([affine, [0, 0, 1]])
    corners = np.float32([[0, 0], [width, 0], [width, height], [0, height]])
    moved = corners + np.float32(params.perspective).reshape(4, 2)
    matrix = cv2.getPerspectiveTransform(corners, moved).astype(np.float64) @ matrix
    matrix = _translation(*params.shift) @ matrix
    if keep_inside is not None:
        matrix = _translation(*_fit_shift(matrix, keep_inside, size)) @ matrix
    return matrix


def _translation(dx: float, dy: float) -> np.ndarray:
    return np.array([[1.0, 0.0, dx], [0.0, 1.0, dy], [0.0, 0.0, 1.0]])


def _fit_shift(
    matrix: np.ndarray, box: Box, size: tuple[int, int], margin: int = 8
) -> tuple[float, float]:
    x0, y0, x1, y1 = transform_box(matrix, box)
    shift = []
    for low, high, limit in ((x0, x1, size[0]), (y0, y1, size[1])):
        if high - low > limit - 2 * margin:
            shift.append((limit - high - low) / 2)
        elif low < margin:
            shift.append(margin - low)
        elif high > limit - margin:
            shift.append(limit - margin - high)
        else:
            shift.append(0.0)
    return shift[0], shift[1]


def warp(image: np.ndarray, matrix: np.ndarray, fill: int) -> np.ndarray:
    """Warp a uint8 ``(H, W)`` image by `matrix` into the same size, padding with `fill`."""
    height, width = image.shape
    return cv2.warpPerspective(
        image,
        matrix,
        (width, height),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=fill,
    )


def photometric(
    page: np.ndarray, ink_layer: np.ndarray, params: ScanParams, rng: np.random.Generator
) -> np.ndarray:
    """Apply paper, illumination, bleed-through, blur, noise, JPEG and fax effects.

    Parameters
    ----------
    page : numpy.ndarray
        uint8 ``(H, W)`` warped page (white paper = 255).
    ink_layer : numpy.ndarray
        uint8 ``(H, W)`` handwriting coverage, used mirrored for show-through.
    params : ScanParams
        The scan.
    rng : numpy.random.Generator
        Noise source.

    Returns
    -------
    numpy.ndarray
        uint8 ``(H, W)`` scanned page.
    """
    height, width = page.shape
    image = page.astype(np.float32) * (params.paper / 255.0)
    if params.illumination:
        grid = rng.uniform(-1, 1, size=(4, 3)).astype(np.float32) * params.illumination
        image += cv2.resize(grid, (width, height), interpolation=cv2.INTER_CUBIC)
    if params.bleed:
        back = cv2.GaussianBlur(cv2.flip(ink_layer, 1), (0, 0), 2.0)
        image -= back.astype(np.float32) * params.bleed
    if params.blur_sigma:
        image = cv2.GaussianBlur(image, (0, 0), params.blur_sigma)
    if params.noise_sigma:
        image += rng.standard_normal((height, width), dtype=np.float32) * params.noise_sigma
    result = np.clip(image, 0, 255).astype(np.uint8)
    if params.jpeg_quality:
        ok, data = cv2.imencode(".jpg", result, [cv2.IMWRITE_JPEG_QUALITY, params.jpeg_quality])
        result = cv2.imdecode(data, cv2.IMREAD_GRAYSCALE) if ok else result
    if params.fax:
        result = _fax(result, rng)
    return result


def _fax(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Binarise like a fax: global threshold, a few specks."""
    threshold = int(rng.integers(120, 175))
    binary = np.where(image < threshold, 0, 255).astype(np.uint8)
    specks = rng.random(image.shape, dtype=np.float32) < 0.0004
    binary[specks] = 255 - binary[specks]
    return binary


def augment_line(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Randomly distort a line image for recognizer training (geometry, stroke, photometry).

    Crop jitter (each edge moved in or out a little, as another line cutter or a field
    box a pixel off would), elastic distortion (smooth random displacement field), slant
    (shear), stroke erosion/dilation, blur, noise and contrast changes, each with some
    probability.

    Parameters
    ----------
    image : numpy.ndarray
        uint8 ``(h, w)`` line, dark ink on light paper.
    rng : numpy.random.Generator
        Randomness.

    Returns
    -------
    numpy.ndarray
        uint8 ``(h', w')`` (the crop jitter moves the edges, the slant widens the line).
    """
    out = image
    if rng.random() < 0.5:
        out = _crop_jitter(out, rng)
    if rng.random() < 0.5:
        out = _slant(out, float(rng.uniform(-0.3, 0.3)))
    if rng.random() < 0.4:
        out = _elastic(out, rng, amplitude=float(rng.uniform(0.5, 2.0)))
    if rng.random() < 0.3:
        kernel = np.ones((2, 2), np.uint8)
        out = cv2.dilate(out, kernel) if rng.random() < 0.5 else cv2.erode(out, kernel)
    if rng.random() < 0.3:
        out = cv2.GaussianBlur(out, (0, 0), float(rng.uniform(0.4, 1.2)))
    values = out.astype(np.float32)
    if rng.random() < 0.5:
        low, high = float(rng.uniform(0, 60)), float(rng.uniform(190, 255))
        values = low + values * (high - low) / 255.0
    if rng.random() < 0.4:
        values += rng.standard_normal(values.shape, dtype=np.float32) * float(rng.uniform(2, 12))
    return np.clip(values, 0, 255).astype(np.uint8)


def _crop_jitter(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Move each edge of a line a little, in or out.

    Top and bottom move by -8 to +15 % of the height, left and right outwards by up to
    30 % (never inwards: a cut letter would betray the label). After resizing to the
    model's height, this shifts and scales the writing by a few pixels, the way line boxes
    of other cutters and registration errors do.
    """
    height, width = image.shape
    top, bottom = (int(round(rng.uniform(-0.08, 0.15) * height)) for _ in range(2))
    left, right = (int(round(rng.uniform(0.0, 0.3) * height)) for _ in range(2))
    out = image[max(0, -top) : height - max(0, -bottom)]
    paper = int(np.percentile(image, 90))
    return cv2.copyMakeBorder(
        out, max(0, top), max(0, bottom), left, right, cv2.BORDER_CONSTANT, value=paper
    )


def _slant(image: np.ndarray, shear: float) -> np.ndarray:
    height, width = image.shape
    extra = int(abs(shear) * height) + 1
    offset = shear * height if shear > 0 else 0.0  # keeps x' = x - shear * y + offset >= 0
    matrix = np.float32([[1, -shear, offset], [0, 1, 0]])
    paper = int(np.percentile(image, 90))
    return cv2.warpAffine(image, matrix, (width + extra, height), borderValue=paper)


def _elastic(image: np.ndarray, rng: np.random.Generator, amplitude: float) -> np.ndarray:
    height, width = image.shape
    grid = (max(2, height // 12), max(2, width // 12))
    dx = (
        cv2.resize(
            rng.uniform(-1, 1, grid).astype(np.float32),
            (width, height),
            interpolation=cv2.INTER_CUBIC,
        )
        * amplitude
    )
    dy = (
        cv2.resize(
            rng.uniform(-1, 1, grid).astype(np.float32),
            (width, height),
            interpolation=cv2.INTER_CUBIC,
        )
        * amplitude
    )
    xs, ys = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    paper = int(np.percentile(image, 90))
    return cv2.remap(image, xs + dx, ys + dy, cv2.INTER_LINEAR, borderValue=paper)
