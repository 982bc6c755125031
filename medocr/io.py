"""Read image files into :class:`~medocr.types.Page` objects.

This module is the one place where image formats and bad input files are handled.
Everything downstream receives a :class:`~medocr.types.Page`: a C-contiguous, writeable
``uint8`` grayscale array of shape ``(H, W)``, ink dark on light paper.

Formats
-------
The format is sniffed from the file's first bytes, never from its extension.
:data:`SUPPORTED_FORMATS` are read (with Pillow); a recognised but unsupported format
(GIF, WebP, JPEG 2000, HEIC, AVIF, PDF...) or a file that is no image at all raises
:class:`~medocr.errors.InputError` with a reason saying what the file looks like.
Only TIFF files have several pages; for the other formats the page is the first
frame (APNG frames and MPO extra pictures are not pages).

Pixels
------
Every Pillow mode is converted explicitly to ``uint8`` gray:

- ``1``: 0 or 255. ``L``: as stored.
- ``RGB``, ``RGBX``, ``YCbCr``, ``CMYK``, ``HSV``: converted to RGB, then to luma with
  Pillow's ITU-R 601-2 transform ``L = 0.299 R + 0.587 G + 0.114 B``. ``LAB`` is
  converted to sRGB with LittleCMS (:mod:`PIL.ImageCms`) first.
- ``LA``, ``RGBA`` (and premultiplied ``La``, ``RGBa``), ``P``/``PA`` with transparency:
  composited onto white paper, ``round((L * a + 255 * (255 - a)) / 255)``.
- ``I;16*`` (16-bit unsigned): ``round(v / 257)``, so 0 -> 0, 257 -> 1, 65535 -> 255.
  Pillow's own ``convert("L")`` clips 16-bit values at 255 instead, which is never
  what a 16-bit scan means.
- ``I`` (32-bit signed): accepted when every value is in 0..65535 and then read as
  16-bit (as above); anything else is an :class:`~medocr.errors.InputError`.
- ``F`` (32-bit float): when the maximum is <= 1 the values are taken as 0..1 and
  multiplied by 255, otherwise as 0..255; then clipped to 0..255 and rounded. NaN or
  infinity is an :class:`~medocr.errors.InputError`.

Conversions run on bands of about a million pixels, so the only full-size
arrays are Pillow's decoded image and the ``uint8`` result (plus one ``uint8`` copy
when the page is turned).

The EXIF (or TIFF) orientation tag is applied, so the array is the page as a viewer
shows it (values other than 1..8 are ignored). The resolution is kept when the file
records one in absolute units (PNG pHYs in metres, JPEG JFIF density or EXIF
resolution, TIFF X/YResolution, BMP pixels per metre), as the horizontal dots per inch
of the upright page, rounded to 0.1 dpi (PNG and BMP store pixels per metre, so 300
dpi reads back as 299.9994).

Limits
------
Every limit is checked from the headers, before any pixel data is decoded, so a
hostile file fails fast and cheaply; each refusal is an
:class:`~medocr.errors.InputError` whose reason gives the numbers and the keyword
that sets the limit.

- `max_pixels` (:data:`DEFAULT_MAX_PIXELS`, 150 MP): ``width * height`` of one page.
  A 600 dpi A4 page is about 35 MP, a 600 dpi A3 page about 70 MP.
- `max_aspect` (:data:`MAX_PAGE_ASPECT`, 20): longer side over shorter side. No
  scanned page is 20 times longer than wide (a 1 x 20000 or 5000 x 3 "page" only
  breaks the image processing downstream); pass ``max_aspect=None`` for text-line
  images.
- `min_side` (1 px, i.e. off): smallest accepted side. :data:`MIN_PAGE_SIDE` (16 px) is
  the bound for scanned pages; it is not the default because pixel-format files
  (and line or character crops) may legitimately be tiny.
- `max_pages` (:data:`DEFAULT_MAX_PAGES`, 1000): pages of one TIFF file. The page
  directories are walked (not decoded) first, so a file over any file-wide limit is
  refused before its first page is decoded.
- `max_total_pixels` (:data:`DEFAULT_MAX_TOTAL_PIXELS`, 300 MP): sum of the pages'
  ``width * height`` in one file: the pages are all returned at once, at one byte per
  pixel.
- `max_memory` (:data:`DEFAULT_MAX_MEMORY`, 1 GiB): an upper estimate of the memory
  the reader needs for one file. For each page it adds Pillow's decoded image at the
  bytes per pixel of the file's mode (1 for bilevel, gray and palette, 2 for 16-bit
  gray, 4 for every colour, alpha, 32-bit integer and float mode), the decoder's own
  full-size buffers known from the header (the coefficient arrays of a progressive or
  multi-scan JPEG, 2 bytes per sample; the strip or tile buffer of a compressed TIFF;
  the copy a TIFF orientation makes; the run buffers of an RLE BMP), the ``uint8``
  result and its turned copy, and the conversion band; the pages already read count
  too. So a 12000 x 12000 RGBA PNG (144 MP, estimate 0.9 GB, measured peak 0.78 GB
  with the interpreter) is read, and no file, whatever its header says, makes the
  reader use much more than `max_memory`: with the defaults, reading any file peaks
  under 1.5 GB of resident memory, the Python interpreter included (see
  ``tests/hostile/test_hostile_images.py``).

Safety
------
The input file is opened read-only and never written. Pillow's global
``Image.MAX_IMAGE_PIXELS`` is neither used nor changed (Pillow's check only lives in
``Image.open``, which this module does not call), so no ``DecompressionBombWarning``
or ``DecompressionBombError`` can escape. Pillow's warnings while decoding are logged
at DEBUG level, not emitted; suppressing them uses :func:`warnings.catch_warnings`,
which is not thread-safe before Python 3.14, and so is the swap of libtiff's error
handler described below: read images in processes, or in one thread at a time. Any
failure while decoding (an exception of Pillow, numpy or the
codecs, or a :class:`MemoryError`) becomes an :class:`~medocr.errors.InputError`
naming the file; only a :class:`ValueError` for a bad keyword argument is raised as
such.

Pillow fills what is missing from some damaged files instead of failing, so two checks
run before decoding: every PNG chunk and its CRC are checked and the IDAT stream is
inflated once, without being kept, to check that it holds as many bytes as the header
declares (Pillow zero-fills the missing rows of a short but well-formed stream); and a
Huffman-coded JPEG must have at least one bit per 8 x 8 block (libjpeg fills the blocks
missing before an early end-of-image marker with gray). A plain 8-bit gray PNG (no
chunk but IHDR, IDAT, IEND, pHYs and tIME: the common scan) is decoded by libpng
through OpenCV instead, in one pass: it checks the chunks' CRCs and refuses a short
stream itself ("Not enough image data"), and gives the same pixels as Pillow; should it
refuse the file, the checks and Pillow above run and say why. Setting
``PIL.ImageFile.LOAD_TRUNCATED_IMAGES = True`` elsewhere lets Pillow accept truncated
JPEG, TIFF and BMP data; truncated PNG files are still rejected.

libtiff prints its errors to stderr; while Pillow decodes a TIFF page they are
collected instead, and the first one becomes the reason when the page fails.

CCITT Group 3 and Group 4 TIFF data (fax compressions) has no checksum, and libtiff
repairs a bad line with a warning that Pillow silences, so a corrupt page would be read
with garbled rows. Such pages are first decoded a second time by libtiff itself,
through :mod:`ctypes` with its messages routed here, and any libtiff error or warning
while decoding makes the page an :class:`~medocr.errors.InputError`. This needs
libtiff 4.5 or later (the one bundled with Pillow's wheels, or the system's); without
it, the check is skipped (logged at DEBUG level). LZW, Deflate and PackBits
corruption is reported by Pillow itself. A few corruptions remain undetectable in any
format without checksums (a JPEG, or a G4 bit flip that gives valid codes of the
right length).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import logging
import math
import os
import stat
import struct
import sys
import warnings
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from io import BytesIO
from os import PathLike
from pathlib import Path
from typing import Any, BinaryIO, Literal

import numpy as np
from PIL import (
    BmpImagePlugin,
    Image,
    ImageFile,
    JpegImagePlugin,
    PngImagePlugin,
    TiffImagePlugin,
)

from medocr.errors import InputError
from medocr.types import Page

__all__ = [
    "DEFAULT_MAX_MEMORY",
    "DEFAULT_MAX_PAGES",
    "DEFAULT_MAX_PIXELS",
    "DEFAULT_MAX_TOTAL_PIXELS",
    "MAX_PAGE_ASPECT",
    "MIN_PAGE_SIDE",
    "SUPPORTED_FORMATS",
    "read_image",
    "read_pages",
]

logger = logging.getLogger(__name__)
# Pillow's TIFF plugin logs its complaints about a corrupt file ("More samples per pixel
# than can be decoded") at error level; with no logging configured Python prints them on
# stderr. The InputError raised here already says what is wrong, so they stay off the
# console (an application that configures logging still receives them).
logging.getLogger("PIL.TiffImagePlugin").addHandler(logging.NullHandler())

DEFAULT_MAX_PIXELS = 150_000_000
"""Default upper bound on width x height of one page (a 600 dpi A3 scan is ~70 MP)."""

DEFAULT_MAX_TOTAL_PIXELS = 300_000_000
"""Default upper bound on the summed width x height of all pages of one file (8 A4
pages at 600 dpi, 34 at 300 dpi): 300 MB of ``uint8`` pages returned at once."""

DEFAULT_MAX_PAGES = 1000
"""Default upper bound on the number of pages of one TIFF file."""

DEFAULT_MAX_MEMORY = 1 << 30
"""Default upper bound (1 GiB) on the estimated memory needed to read one file; see
the module's Limits section for what the estimate counts."""

MAX_PAGE_ASPECT = 20.0
"""Default upper bound on a page's longer side over its shorter side."""

MIN_PAGE_SIDE = 16
"""Smallest side, in pixels, that makes sense for a scanned page (pass it as
``min_side``; the default, 1, accepts any non-empty image)."""

SUPPORTED_FORMATS: tuple[str, ...] = ("PNG", "JPEG", "TIFF", "BMP")
"""The formats medocr reads: PNG, JPEG (baseline and progressive), TIFF (multi-page,
BigTIFF, any compression Pillow/libtiff decodes) and BMP."""

_FORMATS_TEXT = "medocr reads PNG, JPEG, TIFF and BMP"
_PDF_REASON = (
    "PDF is not supported yet: convert its pages to PNG or TIFF first, "
    "e.g. `pdftoppm -r 300 -png FILE OUT`"
)
_HEAD_BYTES = 1024

_PLUGINS: dict[str, type[ImageFile.ImageFile]] = {
    "PNG": PngImagePlugin.PngImageFile,
    "JPEG": JpegImagePlugin.JpegImageFile,
    "TIFF": TiffImagePlugin.TiffImageFile,
    "BMP": BmpImagePlugin.BmpImageFile,
}

# (signature at offset 0, format name); supported formats first.
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"\xff\xd8", "JPEG"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"II+\x00", "TIFF"),
    (b"MM\x00+", "TIFF"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"\x00\x00\x00\x0cjP  \r\n\x87\n", "JPEG 2000"),
    (b"\xffO\xffQ", "JPEG 2000"),
    (b"\xff\n", "JPEG XL"),
    (b"\x00\x00\x00\x0cJXL \r\n\x87\n", "JPEG XL"),
    (b"II\xbc\x01", "JPEG XR"),
    (b"8BPS", "PSD"),
    (b"AT&TFORM", "DjVu"),
    (b"%!PS", "PostScript"),
    (b"\xc5\xd0\xd3\xc6", "EPS"),
    (b"qoif", "QOI"),
)
_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"}
_AVIF_BRANDS = {b"avif", b"avis"}
_BMP_HEADER_SIZES = {12, 16, 40, 52, 56, 64, 108, 124}
_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
_JPEG_PROGRESSIVE_SOF = {0xC2, 0xC6, 0xCA, 0xCE}
_JPEG_HUFFMAN_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7}
_ORIENTATION_TAG = 0x0112
_RESOLUTION_TAGS = (0x011A, 0x011B, 0x0128)  # XResolution, YResolution, ResolutionUnit

# TIFF tags read for the memory estimate and the CCITT check.
_TIFF_BITS, _TIFF_COMPRESSION, _TIFF_PHOTOMETRIC = 258, 259, 262
_TIFF_SAMPLES, _TIFF_ROWS_PER_STRIP, _TIFF_STRIP_BYTES, _TIFF_PLANAR = 277, 278, 279, 284
_TIFF_TILE_WIDTH, _TIFF_TILE_LENGTH, _TIFF_TILE_BYTES = 322, 323, 325
_TIFF_CCITT = {2: "CCITT RLE", 3: "CCITT Group 3", 4: "CCITT Group 4", 32771: "CCITT RLEW"}
_TIFF_JPEG, _TIFF_YCBCR = 7, 6

# Pillow's storage per pixel; every mode not listed takes 4 bytes.
_PILLOW_PIXEL_BYTES = {"1": 1, "L": 1, "P": 1, "I;16": 2, "I;16L": 2, "I;16B": 2, "I;16N": 2}
_CHUNK_PIXELS = 1 << 20  # conversion band: about 1 MP
# Conversion working memory per band pixel: crops, Pillow conversions, numpy temporaries.
_BAND_BYTES_PER_PIXEL = {"1": 8, "L": 8}
_BAND_BYTES_DEFAULT = 32
_FIXED_BYTES = 16 << 20  # codec state, Python objects, tag data

# _ON_WHITE[(L << 8) | a]: luma L with alpha a composited onto white, rounded.
_ON_WHITE = (
    ((np.arange(256)[:, None] * np.arange(256) + 255 * (255 - np.arange(256)) + 127) // 255)
    .astype(np.uint8)
    .ravel()
)

_ORIENT: dict[int, Callable[[np.ndarray], np.ndarray]] = {
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: a.T,
    6: lambda a: np.rot90(a, -1),
    7: lambda a: a[::-1, ::-1].T,
    8: lambda a: np.rot90(a, 1),
}

# ---------------------------------------------------------------------------- public API


@dataclass(frozen=True)
class _Limits:
    """The keyword limits of one read, validated."""

    max_pixels: int
    max_total_pixels: int
    max_memory: int
    max_pages: int
    min_side: int
    max_aspect: float | None

    def __post_init__(self) -> None:
        for name in ("max_pixels", "max_total_pixels", "max_memory", "max_pages", "min_side"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        aspect = self.max_aspect
        if aspect is not None and (
            isinstance(aspect, bool)
            or not isinstance(aspect, int | float)
            or not math.isfinite(aspect)
            or aspect < 1
        ):
            raise ValueError(f"max_aspect must be None or a number >= 1, got {aspect!r}")


def read_pages(
    path: str | PathLike[str],
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_total_pixels: int = DEFAULT_MAX_TOTAL_PIXELS,
    max_memory: int = DEFAULT_MAX_MEMORY,
    max_pages: int = DEFAULT_MAX_PAGES,
    min_side: int = 1,
    max_aspect: float | None = MAX_PAGE_ASPECT,
) -> list[Page]:
    """Read every page of an image file.

    Parameters
    ----------
    path : str or PathLike
        A PNG, JPEG, TIFF or BMP file (see :data:`SUPPORTED_FORMATS`); the format is
        sniffed from the content, not the extension. The file is never modified.
    max_pixels : int, optional
        Largest accepted ``width * height`` of one page (default
        :data:`DEFAULT_MAX_PIXELS`).
    max_total_pixels : int, optional
        Largest accepted sum of ``width * height`` over the file's pages (default
        :data:`DEFAULT_MAX_TOTAL_PIXELS`).
    max_memory : int, optional
        Largest accepted estimate, in bytes, of the memory needed to read the file
        (default :data:`DEFAULT_MAX_MEMORY`; see the module's Limits section).
    max_pages : int, optional
        Largest accepted number of pages (default :data:`DEFAULT_MAX_PAGES`).
    min_side : int, optional
        Smallest accepted side of a page in pixels (default 1; :data:`MIN_PAGE_SIDE`
        is the bound for scanned pages).
    max_aspect : float or None, optional
        Largest accepted ratio of a page's longer side to its shorter side (default
        :data:`MAX_PAGE_ASPECT`); None accepts any shape.

    Returns
    -------
    list of Page
        One page per TIFF frame (``page_index`` 0..n-1), a single page otherwise. Each
        ``Page.image`` is C-contiguous writeable ``uint8`` of shape ``(H, W)``, upright
        (EXIF orientation applied); ``Page.source`` is ``str(path)`` and ``Page.dpi``
        the horizontal resolution when the file records one, else ``None``.

    Raises
    ------
    InputError
        The file is missing, unreadable, empty, not an image, in an unsupported
        format, truncated or corrupt (a corrupt TIFF page is named by its
        ``page_index``), has no pixels, breaks one of the limits (checked from the
        headers, before decoding), or fails to decode for any other reason
        (including running out of memory).
    ValueError
        A limit is not a positive integer (`max_aspect`: not None or a number >= 1).

    """
    limits = _Limits(max_pixels, max_total_pixels, max_memory, max_pages, min_side, max_aspect)
    return _read(path, limits, first_only=False)


def read_image(
    path: str | PathLike[str],
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_memory: int = DEFAULT_MAX_MEMORY,
    min_side: int = 1,
    max_aspect: float | None = MAX_PAGE_ASPECT,
) -> Page:
    """Read the first page of an image file (the other TIFF pages are not decoded).

    Parameters
    ----------
    path : str or PathLike
        A PNG, JPEG, TIFF or BMP file; see :func:`read_pages`.
    max_pixels : int, optional
        Largest accepted ``width * height``, checked before decoding.
    max_memory : int, optional
        Largest accepted estimate of the memory needed, in bytes; see
        :func:`read_pages`.
    min_side : int, optional
        Smallest accepted side in pixels (default 1).
    max_aspect : float or None, optional
        Largest accepted ratio of the longer side to the shorter side (default
        :data:`MAX_PAGE_ASPECT`); None accepts any shape, as text-line images need.

    Returns
    -------
    Page
        ``page_index`` 0; image ``uint8`` ``(H, W)``; see :func:`read_pages`.

    Raises
    ------
    InputError
        As :func:`read_pages`, for the first page.
    ValueError
        A limit is not a positive integer (`max_aspect`: not None or a number >= 1).

    """
    limits = _Limits(max_pixels, max_pixels, max_memory, 1, min_side, max_aspect)
    return _read(path, limits, first_only=True)[0]


# ------------------------------------------------------------------- file and format


def _read(path: str | PathLike[str], limits: _Limits, *, first_only: bool) -> list[Page]:
    name = os.fspath(path)
    _check_file(path, name)
    with _open_file(path, name) as fh:
        fmt = _sniff(path, _read_head(path, fh))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                with _Failures(path, fmt, 0):  # a safety net: each step names its page
                    return _decode_file(path, name, fh, fmt, limits, first_only)
            finally:
                for warning in caught:
                    logger.debug("Pillow warning reading %s: %s", name, warning.message)


def _open_file(path: str | PathLike[str], name: str) -> BinaryIO:
    """Open read-only (the input is never written)."""
    try:
        return open(name, "rb")
    except OSError as exc:
        raise InputError(path, _os_reason(exc)) from exc


def _read_head(path: str | PathLike[str], fh: BinaryIO) -> bytes:
    try:
        return fh.read(_HEAD_BYTES)
    except OSError as exc:
        raise InputError(path, _os_reason(exc)) from exc


def _check_file(path: str | PathLike[str], name: str) -> None:
    try:
        info = os.stat(name)
    except OSError as exc:
        raise InputError(path, _os_reason(exc)) from exc
    if stat.S_ISDIR(info.st_mode):
        raise InputError(path, "is a directory, not a file")
    if not stat.S_ISREG(info.st_mode):
        raise InputError(path, "not a regular file (device, pipe or socket)")
    if info.st_size == 0:
        raise InputError(path, "file is empty (0 bytes)")


def _os_reason(exc: OSError) -> str:
    if isinstance(exc, FileNotFoundError | NotADirectoryError):
        return "file not found"
    if isinstance(exc, PermissionError):
        return "permission denied"
    if isinstance(exc, IsADirectoryError):
        return "is a directory, not a file"
    return f"cannot read file ({exc.strerror or exc})"


def _sniff(path: str | PathLike[str], head: bytes) -> str:
    """Return the supported format of `head`, or raise the InputError that says why not."""
    fmt = _magic_format(head)
    if fmt is None:
        _check_cut_signature(path, head)
    if fmt in SUPPORTED_FORMATS:
        return fmt
    if fmt is not None:
        raise InputError(path, f"unsupported format {fmt}: {_FORMATS_TEXT}")
    if b"%PDF-" in head:
        raise InputError(path, _PDF_REASON)
    raise InputError(path, f"not an image: {_describe_non_image(head)} ({_FORMATS_TEXT})")


def _check_cut_signature(path: str | PathLike[str], head: bytes) -> None:
    """Report a file of 2 or more bytes that ends inside a supported format's signature."""
    for signature, fmt in _MAGIC:
        supported = fmt in SUPPORTED_FORMATS
        if supported and 2 <= len(head) < len(signature) and signature.startswith(head):
            reason = f"truncated or corrupt image data ({fmt}: file ends inside the signature)"
            raise InputError(path, reason)


def _magic_format(head: bytes) -> str | None:
    for signature, fmt in _MAGIC:
        if head.startswith(signature):
            return fmt
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WebP"
    if head[4:8] == b"ftyp" and head[8:12] in _HEIF_BRANDS:
        return "HEIC"
    if head[4:8] == b"ftyp" and head[8:12] in _AVIF_BRANDS:
        return "AVIF"
    if head[128:132] == b"DICM":
        return "DICOM"
    if head.startswith(b"BM") and _looks_like_bmp(head):
        return "BMP"
    if _xml_or_html(head) == "SVG":
        return "SVG"
    return None


def _looks_like_bmp(head: bytes) -> bool:
    """``BM`` alone is too weak: also need zero reserved bytes or a known DIB header size."""
    if head[6:10] == b"\x00\x00\x00\x00":
        return True
    return len(head) >= 18 and struct.unpack_from("<I", head, 14)[0] in _BMP_HEADER_SIZES


def _describe_non_image(head: bytes) -> str:
    markup = _xml_or_html(head)
    if markup == "HTML":
        return "looks like an HTML page"
    if markup == "XML":
        return "looks like an XML document"
    if head.startswith(b"PK\x03\x04"):
        return "looks like a ZIP archive (or an office document)"
    if head.startswith(b"\x1f\x8b"):
        return "looks like a gzip archive"
    if _looks_like_text(head):
        return "looks like a text file"
    return "unrecognised file signature"


def _strip_bom(head: bytes) -> bytes:
    return head[3:] if head.startswith(b"\xef\xbb\xbf") else head


def _xml_or_html(head: bytes) -> str | None:
    start = _strip_bom(head).lstrip().lower()
    if start.startswith((b"<!doctype html", b"<html", b"<head", b"<body")):
        return "HTML"
    if start.startswith((b"<?xml", b"<svg", b"<!doctype svg")):
        return "SVG" if b"<svg" in start else "XML"
    return None


def _looks_like_text(head: bytes) -> bool:
    """UTF-8 or Windows-1252 text made only of printable characters and whitespace."""
    head = _strip_bom(head)
    for encoding in ("utf-8", "cp1252"):
        try:
            text = head.decode(encoding)
        except UnicodeDecodeError:
            continue
        return all(ch.isprintable() or ch in "\t\n\r\f\v" for ch in text)
    return False


# -------------------------------------------------------------------------- decoding


@dataclass(frozen=True)
class _Plan:
    """What the headers say about one page, checked against the limits."""

    index: int
    size: tuple[int, int]
    orientation: int  # from the header (TIFF, JPEG); PNG may state it after the pixels
    ccitt: bool  # a TIFF page in a CCITT (fax) compression


def _decode_file(
    path: str | PathLike[str],
    name: str,
    fh: BinaryIO,
    fmt: str,
    limits: _Limits,
    first_only: bool,
) -> list[Page]:
    img = _open_header(path, fh, fmt)
    try:
        plans = _plan_pages(path, fh, img, fmt, limits, first_only)
        pages = []
        for plan in plans:
            if plan.index:
                _seek_page(path, img, plan.index)
            pages.append(_decode_page(path, name, fh, img, fmt, plan, limits))
        return pages
    finally:
        img.close()


class _Failures:
    """Turn any failure inside the block into an InputError naming the file.

    InputError passes through; MemoryError says the memory ran out; every other
    exception (Pillow raises OSError, SyntaxError, ValueError, struct.error...; numpy
    and the codecs raise their own) is "truncated or corrupt image data".
    """

    def __init__(
        self, path: str | PathLike[str], fmt: str, index: int, details: list[str] | None = None
    ) -> None:
        self.path, self.fmt, self.index = path, fmt, index
        self.details = details if details is not None else []

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: Any
    ) -> Literal[False]:
        if exc is None or isinstance(exc, InputError) or not isinstance(exc, Exception):
            return False
        if isinstance(exc, MemoryError):
            where = f"{self.fmt} page_index {self.index}" if self.index else self.fmt
            reason = f"out of memory while decoding the image ({where})"
            raise InputError(self.path, reason) from exc
        logger.debug("decoding %s failed (%s)", self.path, self.details, exc_info=exc)
        if self.details:  # libtiff's own words beat Pillow's "decoder error -2"
            exc = OSError(self.details[0])
        raise InputError(self.path, _corrupt_reason(self.fmt, self.index, exc)) from exc


def _open_header(path: str | PathLike[str], fh: BinaryIO, fmt: str) -> ImageFile.ImageFile:
    """Parse the header with the format's Pillow plugin (no pixel data is read).

    Instantiating the plugin class directly, instead of ``Image.open``, skips Pillow's
    global decompression-bomb check: :func:`_check_page` enforces the limits instead.
    """
    fh.seek(0)
    try:
        with _Failures(path, fmt, 0):
            return _PLUGINS[fmt](fh)
    except InputError as error:
        size = _declared_size(fmt, fh)
        if size is not None and min(size) == 0:
            raise InputError(path, f"image has no pixels ({size[0]} x {size[1]})") from error
        raise


def _seek_page(path: str | PathLike[str], img: ImageFile.ImageFile, index: int) -> bool:
    """Seek a TIFF to page `index`; False when there is none."""
    try:
        img.seek(index)
    except EOFError:
        return False
    except MemoryError as exc:
        raise InputError(path, f"out of memory while reading TIFF page_index {index}") from exc
    except Exception as exc:  # a corrupt IFD
        raise InputError(path, _corrupt_reason("TIFF", index, exc)) from exc
    return True


def _plan_pages(
    path: str | PathLike[str],
    fh: BinaryIO,
    img: ImageFile.ImageFile,
    fmt: str,
    limits: _Limits,
    first_only: bool,
) -> list[_Plan]:
    """Check every page's header against the limits, before any pixel is decoded.

    A TIFF's page directories are walked (tags only) up to `limits.max_pages`, then
    the file is back on page 0.
    """
    file_size = os.fstat(fh.fileno()).st_size
    plans: list[_Plan] = []
    total_pixels = kept_bytes = 0
    while True:
        index = len(plans)
        with _Failures(path, fmt, index):
            plan = _Plan(index, img.size, _header_orientation(img, fmt), _is_ccitt(img, fmt))
            memory = _page_memory(img, fmt, fh, file_size, plan.orientation)
        total_pixels += plan.size[0] * plan.size[1]
        _check_page(path, img.mode, plan, fmt, limits, total_pixels, kept_bytes + memory)
        if fmt == "JPEG":
            with _Failures(path, fmt, index):
                _check_jpeg_length(path, img, fh, file_size)
        kept_bytes += plan.size[0] * plan.size[1]
        plans.append(plan)
        if first_only or fmt != "TIFF" or not _seek_page(path, img, index + 1):
            break
        if index + 1 >= limits.max_pages:
            raise InputError(
                path,
                f"TIFF has more than {limits.max_pages} pages (max_pages={limits.max_pages})",
            )
    if len(plans) > 1:
        _seek_page(path, img, 0)
    return plans


def _decode_page(
    path: str | PathLike[str],
    name: str,
    fh: BinaryIO,
    img: ImageFile.ImageFile,
    fmt: str,
    plan: _Plan,
    limits: _Limits,
) -> Page:
    if fmt == "PNG":
        plain = _decode_plain_png(path, fh, img, plan)
        if plain is not None:
            return plain
        _check_png_chunks(path, fh)
    if plan.ccitt:
        _check_ccitt(path, name, plan.index, limits.max_memory)
    messages: list[str] = []
    with _Failures(path, fmt, plan.index, messages):
        if fmt == "TIFF":
            with _libtiff_errors(messages):
                img.load()  # Pillow turns a TIFF page upright itself
        else:
            img.load()
        orientation = _orientation(img) if fmt == "PNG" else plan.orientation
        dpi = _dpi(img, fmt, swap=orientation in (5, 6, 7, 8))
        gray = _to_gray(path, img)
        if fmt != "TIFF" and orientation in _ORIENT:
            gray = np.ascontiguousarray(_ORIENT[orientation](gray))
    return Page(image=gray, source=str(path), page_index=plan.index, dpi=dpi)


def _where(fmt: str, index: int) -> str:
    return f"{fmt} page_index {index}: " if index else ""


def _check_page(
    path: str | PathLike[str],
    mode: str,
    plan: _Plan,
    fmt: str,
    limits: _Limits,
    total_pixels: int,
    memory: int,
) -> None:
    """Refuse a page whose header breaks a limit (the reason gives the numbers)."""
    where = _where(fmt, plan.index)
    width, height = plan.size
    if width <= 0 or height <= 0:
        raise InputError(path, f"{where}image has no pixels ({width} x {height})")
    pixels = width * height
    if pixels > limits.max_pixels:
        raise InputError(
            path,
            f"{where}image is {width} x {height} = {pixels / 1e6:g} MP, over the limit of "
            f"{limits.max_pixels / 1e6:g} MP (max_pixels={limits.max_pixels})",
        )
    _check_shape(path, where, width, height, limits)
    if total_pixels > limits.max_total_pixels:
        raise InputError(
            path,
            f"{where}the file's pages up to page_index {plan.index} total "
            f"{total_pixels / 1e6:g} MP, over the limit of {limits.max_total_pixels / 1e6:g} "
            f"MP for one file (max_total_pixels={limits.max_total_pixels})",
        )
    if memory > limits.max_memory:
        before = " with the pages before it" if plan.index else ""
        raise InputError(
            path,
            f"{where}reading this {width} x {height} {mode} image{before} needs about "
            f"{memory / 2**20:.0f} MiB, over the limit of {limits.max_memory / 2**20:.0f} "
            f"MiB (max_memory={limits.max_memory})",
        )


def _check_shape(
    path: str | PathLike[str], where: str, width: int, height: int, limits: _Limits
) -> None:
    short, long = min(width, height), max(width, height)
    if short < limits.min_side:
        raise InputError(
            path,
            f"{where}image is {width} x {height}: its shorter side ({short} px) is under "
            f"{limits.min_side} px, too small for a scanned page (min_side={limits.min_side})",
        )
    if limits.max_aspect is not None and long > limits.max_aspect * short:
        raise InputError(
            path,
            f"{where}image is {width} x {height}: its aspect ratio {long / short:.1f}:1 is "
            f"over {limits.max_aspect:g}:1, which makes no sense for a scanned page "
            f"(max_aspect={limits.max_aspect:g})",
        )


def _corrupt_reason(fmt: str, index: int, exc: BaseException) -> str:
    where = f"{fmt} page_index {index}" if index else fmt
    return f"truncated or corrupt image data ({where}: {_detail(exc)})"


def _detail(exc: BaseException) -> str:
    """Describe a Pillow failure briefly (in Pillow's words unless they are cryptic)."""
    text = str(exc)
    if isinstance(exc, EOFError | struct.error) or text.startswith("unpack_from requires"):
        return "unexpected end of data"
    if text == "not identified by this driver" or text.startswith("not a "):
        return "invalid header"
    return text or type(exc).__name__


def _orientation(img: Image.Image) -> int:
    """Return the EXIF/TIFF orientation, 1..8 (anything else counts as 1, as Pillow does)."""
    value = img.getexif().get(_ORIENTATION_TAG, 1)
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _header_orientation(img: Image.Image, fmt: str) -> int:
    """Return the orientation known before decoding (a PNG's eXIf may follow its pixels)."""
    return 1 if fmt in ("PNG", "BMP") else _orientation(img)


# ------------------------------------------------------------------- memory estimate


def _page_memory(
    img: ImageFile.ImageFile, fmt: str, fh: BinaryIO, file_size: int, orientation: int
) -> int:
    """Upper estimate, in bytes, of the memory that decoding and converting a page takes.

    Pillow's image at its bytes per pixel, the decoder's full-size buffers, the
    ``uint8`` result and its turned copy, and one conversion band (module doc, Limits).
    """
    width, height = img.size
    pixels = width * height
    decoded = pixels * _PILLOW_PIXEL_BYTES.get(img.mode, 4)
    band = min(height, max(1, _CHUNK_PIXELS // max(width, 1))) * width
    working = _BAND_BYTES_PER_PIXEL.get(img.mode, _BAND_BYTES_DEFAULT) * band
    memory = _FIXED_BYTES + decoded + 2 * pixels + working
    if fmt == "JPEG":
        memory += _jpeg_coefficient_bytes(img, fh)
    elif fmt == "TIFF":
        memory += _tiff_buffer_bytes(img, file_size)
        if orientation != 1:
            memory += decoded  # Pillow turns the decoded page with a full copy
    elif fmt == "BMP" and any(tile[0] == "bmp_rle" for tile in img.tile):
        memory += 3 * pixels  # Pillow's RLE decoder: a bytearray, then a bytes copy
    return memory


def _jpeg_coefficient_bytes(img: ImageFile.ImageFile, fh: BinaryIO) -> int:
    """Size of libjpeg's whole-image coefficient arrays (progressive or multi-scan files).

    2 bytes per sample of each component (at its subsampled size, in whole blocks);
    nothing for a baseline file whose first scan holds every component.
    """
    blocks = _jpeg_blocks(img)
    sof, scan = _jpeg_frame(fh)
    if sof not in _JPEG_PROGRESSIVE_SOF and scan is not None and scan >= len(blocks):
        return 0
    return sum(
        _ceil_div(columns, h) * h * _ceil_div(rows, v) * v * 128 for columns, rows, h, v in blocks
    )


def _jpeg_blocks(img: ImageFile.ImageFile) -> list[tuple[int, int, int, int]]:
    """Per component: 8 x 8 blocks across and down, and its sampling factors."""
    layers = getattr(img, "layer", None) or []
    if not layers:
        return []
    width, height = img.size
    h_max = max(max(int(layer[1]) for layer in layers), 1)
    v_max = max(max(int(layer[2]) for layer in layers), 1)
    blocks = []
    for layer in layers:
        h, v = max(int(layer[1]), 1), max(int(layer[2]), 1)
        columns = _ceil_div(_ceil_div(width * h, h_max), 8)
        rows = _ceil_div(_ceil_div(height * v, v_max), 8)
        blocks.append((columns, rows, h, v))
    return blocks


def _check_jpeg_length(
    path: str | PathLike[str], img: ImageFile.ImageFile, fh: BinaryIO, file_size: int
) -> None:
    """Refuse a Huffman-coded JPEG too short to hold its blocks (at least 1 bit each).

    libjpeg fills the blocks missing before an early end-of-image marker with gray,
    with a warning that Pillow silences; this catches a header that declares a much
    larger image than its data holds.
    """
    sof, _ = _jpeg_frame(fh)
    if sof not in _JPEG_HUFFMAN_SOF:
        return
    count = sum(columns * rows for columns, rows, _, _ in _jpeg_blocks(img))
    if 8 * file_size < count:
        raise InputError(
            path,
            f"truncated or corrupt image data (JPEG: the file's {file_size} bytes cannot "
            f"hold the {count} blocks of a {img.size[0]} x {img.size[1]} image)",
        )


def _ceil_div(numerator: int, denominator: int) -> int:
    return -(-numerator // denominator)


def _tiff_int(tags: Any, tag: int, default: int, pick: Callable[..., int] = max) -> int:
    value = tags.get(tag, default)
    try:
        if isinstance(value, tuple | list):
            return int(pick(value)) if value else default
        return int(value)
    except (TypeError, ValueError):
        return default


def _tiff_buffer_bytes(img: ImageFile.ImageFile, file_size: int) -> int:
    """Pillow's strip or tile buffer for a page libtiff decodes, plus libtiff's raw data."""
    tags = img.tag_v2  # type: ignore[attr-defined]
    compression = _tiff_int(tags, _TIFF_COMPRESSION, 1)
    if compression == 1 and not TiffImagePlugin.READ_LIBTIFF:
        return 0  # uncompressed: Pillow reads it line by line
    width, height = img.size
    samples = _tiff_int(tags, _TIFF_SAMPLES, 1)
    bits = _tiff_int(tags, _TIFF_BITS, 1)
    plane = 1 if _tiff_int(tags, _TIFF_PLANAR, 1) == 2 else samples
    if _TIFF_TILE_WIDTH in tags and _TIFF_TILE_LENGTH in tags:
        tile_width = _tiff_int(tags, _TIFF_TILE_WIDTH, width)
        rows = _tiff_int(tags, _TIFF_TILE_LENGTH, height)
        buffer = _ceil_div(tile_width * bits * plane, 8) * rows
        counts = _TIFF_TILE_BYTES
    else:
        rows = _tiff_int(tags, _TIFF_ROWS_PER_STRIP, height, min)
        rows = height if rows <= 0 or rows >= 2**32 - 1 else rows
        buffer = _ceil_div(width * bits * plane, 8) * min(rows, height)
        counts = _TIFF_STRIP_BYTES
    if _tiff_int(tags, _TIFF_PHOTOMETRIC, 0) == _TIFF_YCBCR and compression != _TIFF_JPEG:
        buffer += rows * width * 4  # libtiff's RGBA interface, one block of rows
    raw = min(file_size, max(_tiff_int(tags, counts, 0), 0))
    return buffer + raw


# --------------------------------------------------------------- CCITT (fax) pages


def _is_ccitt(img: Image.Image, fmt: str) -> bool:
    if fmt != "TIFF":
        return False
    return _tiff_int(img.tag_v2, _TIFF_COMPRESSION, 1) in _TIFF_CCITT  # type: ignore[attr-defined]


def _check_ccitt(path: str | PathLike[str], name: str, index: int, max_memory: int) -> None:
    """Decode a CCITT page with libtiff, refusing it on any libtiff error or warning."""
    libtiff = _libtiff()
    if libtiff is None:
        return
    problem = libtiff.problem(name, index, max_memory)
    if problem is not None:
        where = f"TIFF page_index {index}" if index else "TIFF"
        raise InputError(path, f"truncated or corrupt image data ({where}: libtiff: {problem})")


@contextlib.contextmanager
def _libtiff_errors(messages: list[str]) -> Iterator[None]:
    """Collect libtiff's error messages into `messages` instead of printing them.

    Pillow leaves libtiff's global error handler printing to stderr; it is swapped for
    one that collects (process-wide, like the warning filters: not thread-safe).
    """
    libtiff = _libtiff()
    if libtiff is None:
        yield
        return
    with libtiff.errors_to(messages):
        yield


_TIFF_GLOBAL_HANDLER = ctypes.CFUNCTYPE(None, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_void_p)
_TIFF_HANDLER = ctypes.CFUNCTYPE(
    ctypes.c_int,
    ctypes.c_void_p,
    ctypes.c_void_p,
    ctypes.c_char_p,
    ctypes.c_char_p,
    ctypes.c_void_p,
)
_LIBTIFF_FUNCTIONS = (
    "TIFFOpenOptionsAlloc",
    "TIFFOpenOptionsFree",
    "TIFFOpenOptionsSetErrorHandlerExtR",
    "TIFFOpenOptionsSetWarningHandlerExtR",
    "TIFFFdOpenExt",
    "TIFFSetDirectory",
    "TIFFIsTiled",
    "TIFFNumberOfStrips",
    "TIFFStripSize",
    "TIFFReadEncodedStrip",
    "TIFFNumberOfTiles",
    "TIFFTileSize",
    "TIFFReadEncodedTile",
    "TIFFClose",
    "TIFFSetErrorHandler",
)


class _LibTiff:
    """libtiff (4.5 or later) through ctypes, with per-file message handlers.

    Pillow's decoder silences libtiff's warnings globally, and libtiff's fax decoders
    only warn about a line of the wrong length; here each file gets its own handlers,
    so every message while decoding is seen.
    """

    def __init__(self, lib: ctypes.CDLL) -> None:
        vp, u32, i64 = ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int64
        signatures: dict[str, tuple[list[Any], Any]] = {
            "TIFFOpenOptionsAlloc": ([], vp),
            "TIFFOpenOptionsFree": ([vp], None),
            "TIFFOpenOptionsSetErrorHandlerExtR": ([vp, _TIFF_HANDLER, vp], None),
            "TIFFOpenOptionsSetWarningHandlerExtR": ([vp, _TIFF_HANDLER, vp], None),
            "TIFFFdOpenExt": ([ctypes.c_int, ctypes.c_char_p, ctypes.c_char_p, vp], vp),
            "TIFFSetDirectory": ([vp, u32], ctypes.c_int),
            "TIFFIsTiled": ([vp], ctypes.c_int),
            "TIFFNumberOfStrips": ([vp], u32),
            "TIFFStripSize": ([vp], i64),
            "TIFFReadEncodedStrip": ([vp, u32, vp, i64], i64),
            "TIFFNumberOfTiles": ([vp], u32),
            "TIFFTileSize": ([vp], i64),
            "TIFFReadEncodedTile": ([vp, u32, vp, i64], i64),
            "TIFFClose": ([vp], None),
        }
        for function, (argtypes, restype) in signatures.items():
            getattr(lib, function).argtypes = argtypes
            getattr(lib, function).restype = restype
        lib.TIFFSetErrorHandler.argtypes = [vp]
        lib.TIFFSetErrorHandler.restype = vp
        if hasattr(lib, "TIFFOpenOptionsSetMaxSingleMemAlloc"):
            lib.TIFFOpenOptionsSetMaxSingleMemAlloc.argtypes = [vp, ctypes.c_int64]
            lib.TIFFOpenOptionsSetMaxSingleMemAlloc.restype = None
        self.lib = lib
        self.vsnprintf = _vsnprintf()

    @contextlib.contextmanager
    def errors_to(self, messages: list[str]) -> Iterator[None]:
        """Route libtiff's global error messages into `messages` inside the block."""

        def handler(module: bytes | None, fmt: bytes | None, args: Any) -> None:
            try:
                if len(messages) < 8:
                    messages.append(self._format(module, fmt, args))
            except Exception:  # never let an exception cross the C boundary
                pass

        callback = _TIFF_GLOBAL_HANDLER(handler)
        previous = self.lib.TIFFSetErrorHandler(ctypes.cast(callback, ctypes.c_void_p))
        try:
            yield
        finally:
            self.lib.TIFFSetErrorHandler(previous)

    def problem(self, name: str, index: int, max_memory: int) -> str | None:
        """Decode page `index` of file `name`; the first libtiff message, or None."""
        lib = self.lib
        messages: list[str] = []
        decoding = [False]

        def handler(tif: Any, user: Any, module: bytes | None, fmt: bytes | None, args: Any) -> int:
            try:
                if decoding[0] and len(messages) < 8:
                    messages.append(self._format(module, fmt, args))
            except Exception:  # never let an exception cross the C boundary
                messages.append("libtiff message")
            return 1  # handled: libtiff's global handlers stay silent

        callback = _TIFF_HANDLER(handler)
        options = lib.TIFFOpenOptionsAlloc()
        if not options:
            return None
        try:
            lib.TIFFOpenOptionsSetErrorHandlerExtR(options, callback, None)
            lib.TIFFOpenOptionsSetWarningHandlerExtR(options, callback, None)
            if hasattr(lib, "TIFFOpenOptionsSetMaxSingleMemAlloc"):
                lib.TIFFOpenOptionsSetMaxSingleMemAlloc(options, max_memory)
            fd = os.open(name, os.O_RDONLY | getattr(os, "O_BINARY", 0))
            tif = lib.TIFFFdOpenExt(fd, b"medocr", b"r", options)
        finally:
            lib.TIFFOpenOptionsFree(options)
        if not tif:
            os.close(fd)
            logger.debug("libtiff cannot open %s: CCITT data not checked", name)
            return None
        try:
            if not lib.TIFFSetDirectory(tif, index):
                logger.debug("libtiff cannot read page %d of %s: not checked", index, name)
                return None
            decoding[0] = True
            return self._decode(tif, messages)
        finally:
            lib.TIFFClose(tif)  # closes fd

    def _decode(self, tif: Any, messages: list[str]) -> str | None:
        lib = self.lib
        if lib.TIFFIsTiled(tif):
            count, size, read, unit = (
                lib.TIFFNumberOfTiles(tif),
                lib.TIFFTileSize(tif),
                lib.TIFFReadEncodedTile,
                "tile",
            )
        else:
            count, size, read, unit = (
                lib.TIFFNumberOfStrips(tif),
                lib.TIFFStripSize(tif),
                lib.TIFFReadEncodedStrip,
                "strip",
            )
        if size <= 0:
            return messages[0] if messages else f"cannot compute the {unit} size"
        buffer = ctypes.create_string_buffer(size)
        for number in range(count):
            if read(tif, number, buffer, size) < 0 and not messages:
                return f"cannot decode {unit} {number}"
            if messages:
                return messages[0]
        return None

    def _format(self, module: bytes | None, fmt: bytes | None, args: Any) -> str:
        text = (fmt or b"").decode("utf-8", "replace")
        if self.vsnprintf is not None and fmt:
            out = ctypes.create_string_buffer(400)
            self.vsnprintf(out, len(out), fmt, args)
            text = out.value.decode("utf-8", "replace")
        prefix = (module or b"").decode("utf-8", "replace")
        if prefix in ("tempfile.tif", "medocr"):  # the file names Pillow and medocr give
            prefix = ""
        return f"{prefix}: {text}" if prefix else text


def _vsnprintf() -> Any:
    """Return the C library's vsnprintf (to format libtiff's messages), or None."""
    try:
        libc = ctypes.cdll.msvcrt if sys.platform == "win32" else ctypes.CDLL(None)
        function = libc.vsnprintf
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_void_p]
    function.restype = ctypes.c_int
    return function


_LIBTIFF_CACHE: list[_LibTiff | None] = []


def _libtiff() -> _LibTiff | None:
    """Return the first libtiff >= 4.5 found (Pillow's bundled copy first), loaded once."""
    if not _LIBTIFF_CACHE:
        _LIBTIFF_CACHE.append(_load_libtiff())
    return _LIBTIFF_CACHE[0]


def _load_libtiff() -> _LibTiff | None:
    for candidate in _libtiff_candidates():
        try:
            lib = ctypes.CDLL(candidate)
        except OSError:
            continue
        if all(hasattr(lib, function) for function in _LIBTIFF_FUNCTIONS):
            try:
                libtiff = _LibTiff(lib)
            except (AttributeError, OSError, TypeError):
                continue
            logger.debug("CCITT pages are checked with %s", candidate)
            return libtiff
    logger.debug("no libtiff >= 4.5 found: CCITT (fax) TIFF pages are not checked")
    return None


def _libtiff_candidates() -> list[str]:
    import PIL

    package = Path(PIL.__file__).parent
    candidates = sorted(str(p) for p in (package.parent / "pillow.libs").glob("libtiff*"))
    candidates += sorted(str(p) for p in (package / ".dylibs").glob("libtiff*"))
    try:  # Linux: the copy Pillow's extension actually loaded
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
            for line in maps:
                field = line.split(maxsplit=5)[-1].strip()
                if "libtiff" in Path(field).name and field not in candidates:
                    candidates.append(field)
    except OSError:
        pass
    system = ctypes.util.find_library("tiff")
    if system:
        candidates.append(system)
    return candidates


# ----------------------------------------------------------------- header inspection


def _check_png_chunks(path: str | PathLike[str], fh: BinaryIO) -> None:
    """Walk every PNG chunk: CRCs, the IEND chunk, and the size of the image data.

    Each CRC must match, the file must reach IEND, and the IDAT stream must inflate to
    at least the size the header declares. Pillow alone accepts a PNG cut after its
    last IDAT, does not check IDAT CRCs, and fills the rows missing from a short but
    well-formed zlib stream with zeros.
    """
    position = fh.tell()
    problem = _png_problem(fh)
    fh.seek(position)
    if problem is not None:
        raise InputError(path, f"truncated or corrupt image data (PNG: {problem})")


#: PNG chunks that change nothing in the gray pixels, the dpi or the orientation.
_PLAIN_PNG_CHUNKS = frozenset({b"IHDR", b"IDAT", b"IEND", b"pHYs", b"tIME"})


def _decode_plain_png(
    path: str | PathLike[str], fh: BinaryIO, img: ImageFile.ImageFile, plan: _Plan
) -> Page | None:
    """Decode a plain 8-bit gray PNG with libpng (module doc), or None for any other.

    None too when libpng refuses the file: the caller's checks then say why.
    """
    fh.seek(0)
    head = fh.read(26)
    if img.mode != "L" or len(head) < 26 or head[24:26] != b"\x08\x00":  # depth 8, gray
        return None
    data = head + fh.read()  # read once: the chunk walk and libpng share it
    chunks: set[bytes] = set()
    if _png_problem(BytesIO(data), inflate=False, chunks=chunks) is not None:
        return None
    if not chunks <= _PLAIN_PNG_CHUNKS:
        return None
    import cv2

    flags = cv2.IMREAD_GRAYSCALE | cv2.IMREAD_IGNORE_ORIENTATION
    with _Failures(path, "PNG", plan.index):
        gray = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    if gray is None or gray.shape != (img.size[1], img.size[0]):
        return None
    dpi = _dpi(img, "PNG", swap=False)
    return Page(image=gray, source=str(path), page_index=plan.index, dpi=dpi)


def _png_problem(
    fh: BinaryIO, *, inflate: bool = True, chunks: set[bytes] | None = None
) -> str | None:
    """Return what is wrong with a PNG's chunks (module doc), or None.

    `inflate`: also inflate the IDAT stream to count its bytes. `chunks` receives the
    type of every chunk read.
    """
    fh.seek(8)
    data = _PngData()
    while True:
        header = fh.read(8)
        if len(header) < 8:
            return "file ends before the IEND chunk"
        length, ctype = struct.unpack(">I4s", header)
        if length >= 2**31 or not ctype.isalpha():
            return "invalid chunk header"
        if chunks is not None:
            chunks.add(ctype)
        feed = data.feed if inflate and ctype in (b"IHDR", b"IDAT") else None
        problem = _png_chunk_problem(fh, ctype, length, feed)
        if problem is not None:
            return problem
        if ctype == b"IEND":
            return data.problem() if inflate else None


def _png_chunk_problem(
    fh: BinaryIO, ctype: bytes, length: int, feed: Callable[[bytes, bytes], None] | None
) -> str | None:
    crc = zlib.crc32(ctype)
    remaining = length
    while remaining:
        block = fh.read(min(remaining, 1 << 20))
        if not block:
            break
        crc = zlib.crc32(block, crc)
        remaining -= len(block)
        if feed is not None:
            feed(ctype, block)
    stored = fh.read(4)
    name = ctype.decode("ascii")
    if remaining or len(stored) < 4:
        return f"file ends inside the {name} chunk"
    if struct.unpack(">I", stored)[0] != crc:
        return f"bad CRC in the {name} chunk"
    return None


class _PngData:
    """Inflate a PNG's IDAT stream without keeping it, counting the bytes it holds."""

    def __init__(self) -> None:
        self.ihdr = b""
        self.expected: int | None = None
        self.inflated = 0
        self.inflater = zlib.decompressobj()
        self.error: str | None = None

    def feed(self, ctype: bytes, block: bytes) -> None:
        if ctype == b"IHDR":
            self.ihdr += block
            return
        if self.expected is None:
            self.expected = _png_raw_size(self.ihdr)
        done = self.error is not None or self.inflater.eof
        if done or self.expected is None or self.inflated >= self.expected:
            return
        try:
            out = self.inflater.decompress(block, 1 << 20)
            self.inflated += len(out)
            while self.inflater.unconsumed_tail and self.inflated < self.expected:
                out = self.inflater.decompress(self.inflater.unconsumed_tail, 1 << 20)
                self.inflated += len(out)
        except zlib.error as exc:
            self.error = f"invalid IDAT data ({exc})"

    def problem(self) -> str | None:
        if self.error is not None:
            return self.error
        if self.expected is None:
            self.expected = _png_raw_size(self.ihdr)
        if self.expected is not None and self.inflated < self.expected:
            return (
                f"the image data holds {self.inflated} of the {self.expected} bytes "
                "the header declares"
            )
        return None


def _png_raw_size(ihdr: bytes) -> int | None:
    """Bytes of filtered scanlines an IHDR declares (Adam7 passes included), or None."""
    if len(ihdr) != 13:
        return None
    width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", ihdr)
    channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}.get(color)
    if channels is None or depth not in (1, 2, 4, 8, 16):
        return None
    bits = channels * depth
    if interlace != 1:
        return height * (1 + _ceil_div(width * bits, 8))
    total = 0
    for x0, y0, dx, dy in ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4),
                           (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)):  # fmt: skip
        columns, rows = _ceil_div(width - x0, dx), _ceil_div(height - y0, dy)
        if columns > 0 and rows > 0:
            total += rows * (1 + _ceil_div(columns * bits, 8))
    return total


def _declared_size(fmt: str, fh: BinaryIO) -> tuple[int, int] | None:
    """Width and height as the header states them (for headers Pillow refuses), or None."""
    readers = {"PNG": _png_size, "JPEG": _jpeg_size, "TIFF": _tiff_size, "BMP": _bmp_size}
    try:
        fh.seek(0)
        return readers[fmt](fh)
    except (OSError, struct.error, ValueError, KeyError):
        return None


def _png_size(fh: BinaryIO) -> tuple[int, int] | None:
    data = fh.read(24)
    if data[12:16] != b"IHDR":
        return None
    width, height = struct.unpack_from(">II", data, 16)
    return width, height


def _bmp_size(fh: BinaryIO) -> tuple[int, int] | None:
    data = fh.read(26)
    if struct.unpack_from("<I", data, 14)[0] == 12:
        width, height = struct.unpack_from("<HH", data, 18)
    else:
        width, height = struct.unpack_from("<ii", data, 18)
    return width, abs(height)


def _jpeg_size(fh: BinaryIO) -> tuple[int, int] | None:
    fh.seek(2)
    for _ in range(10_000):
        if fh.read(1) != b"\xff":
            return None
        marker = fh.read(1)
        while marker == b"\xff":
            marker = fh.read(1)
        if not marker:
            return None
        code = marker[0]
        if code in _JPEG_SOF:
            height, width = struct.unpack(">3xHH", fh.read(7))
            return width, height
        if not (0xD0 <= code <= 0xD9 or code == 0x01):
            (length,) = struct.unpack(">H", fh.read(2))
            fh.seek(length - 2, os.SEEK_CUR)
    return None


def _jpeg_frame(fh: BinaryIO) -> tuple[int | None, int | None]:
    """Return a JPEG's SOF marker code and its first scan's component count (None: unknown).

    The file position is restored.
    """
    position = fh.tell()
    sof: int | None = None
    try:
        fh.seek(2)
        for _ in range(10_000):
            if fh.read(1) != b"\xff":
                break
            marker = fh.read(1)
            while marker == b"\xff":
                marker = fh.read(1)
            if not marker:
                break
            code = marker[0]
            if 0xD0 <= code <= 0xD9 or code == 0x01:
                continue
            (length,) = struct.unpack(">H", fh.read(2))
            if code in _JPEG_SOF and sof is None:
                sof = code
            if code == 0xDA:
                count = fh.read(1)
                return sof, count[0] if count else None
            fh.seek(length - 2, os.SEEK_CUR)
    except (OSError, struct.error, ValueError):
        pass
    finally:
        fh.seek(position)
    return sof, None


def _tiff_size(fh: BinaryIO) -> tuple[int, int] | None:
    head = fh.read(16)
    order = {b"II": "<", b"MM": ">"}[head[:2]]
    big = struct.unpack_from(order + "H", head, 2)[0] == 43
    offset = struct.unpack_from(order + ("Q" if big else "I"), head, 8 if big else 4)[0]
    fh.seek(offset)
    (count,) = struct.unpack(order + ("Q" if big else "H"), fh.read(8 if big else 2))
    entry_size, value_at = (20, 12) if big else (12, 8)
    entries = fh.read(entry_size * min(count, 4096))
    dims: dict[int, int] = {}
    for start in range(0, len(entries) - entry_size + 1, entry_size):
        tag, kind = struct.unpack_from(order + "HH", entries, start)
        code = {3: "H", 4: "I", 16: "Q"}.get(kind)
        if tag in (256, 257) and code:
            dims[tag] = struct.unpack_from(order + code, entries, start + value_at)[0]
    if len(dims) < 2:
        return None
    return dims[256], dims[257]


# ---------------------------------------------------------------------- resolution


def _dpi(img: Image.Image, fmt: str, *, swap: bool) -> float | None:
    """Horizontal dpi of the upright page (`swap`: the page is turned by 90 degrees)."""
    if fmt == "TIFF":
        pair = _tiff_dpi(img)
    elif fmt == "JPEG":
        pair = _jpeg_dpi(img)
    else:
        pair = img.info.get("dpi")
    if not pair:
        return None
    value = float(pair[1] if swap else pair[0])
    if not math.isfinite(value) or value <= 0:
        return None
    return round(value, 1)


def _resolution_pair(xres: Any, yres: Any, unit: Any) -> tuple[float, float] | None:
    """Resolution in dpi from TIFF/EXIF tags (unit 2 = inch, the default; 3 = cm)."""
    if xres is None or unit not in (None, 2, 3):
        return None
    scale = 2.54 if unit == 3 else 1.0
    y = xres if yres is None else yres
    return float(xres) * scale, float(y) * scale


def _tiff_dpi(img: Image.Image) -> tuple[float, float] | None:
    """From the tags themselves: Pillow reports 1 dpi when a TIFF has no resolution."""
    tags = img.tag_v2  # type: ignore[attr-defined]
    return _resolution_pair(*(tags.get(tag) for tag in _RESOLUTION_TAGS))


def _jpeg_dpi(img: Image.Image) -> tuple[float, float] | None:
    """JFIF density, else EXIF resolution; Pillow would invent 72 dpi for EXIF without one."""
    unit, density = img.info.get("jfif_unit"), img.info.get("jfif_density")
    if unit in (1, 2) and density:
        scale = 2.54 if unit == 2 else 1.0
        return density[0] * scale, density[1] * scale
    exif = img.getexif()
    return _resolution_pair(*(exif.get(tag) for tag in _RESOLUTION_TAGS))


# -------------------------------------------------------------------- pixel modes


def _to_gray(path: str | PathLike[str], img: Image.Image) -> np.ndarray:
    """Convert any Pillow mode to C-contiguous writeable uint8 ``(H, W)`` (module doc).

    The conversion runs band by band (about ``_CHUNK_PIXELS`` pixels each), so it
    needs no full-size intermediate image.
    """
    convert = _converter(path, img)
    width, height = img.size
    gray = np.empty((height, width), dtype=np.uint8)
    for top, band in _bands(img):
        gray[top : top + band.height] = convert(band)
    return gray


def _bands(img: Image.Image) -> Any:
    """Yield ``(top row, band image)`` covering `img` from top to bottom."""
    width, height = img.size
    rows = max(1, _CHUNK_PIXELS // max(width, 1))
    for top in range(0, height, rows):
        yield top, img.crop((0, top, width, min(height, top + rows)))


def _converter(path: str | PathLike[str], img: Image.Image) -> Callable[[Image.Image], Any]:
    """Return the function turning a band of `img` into uint8 gray (after image checks)."""
    mode = img.mode
    if mode == "L":
        return np.asarray
    if mode == "1":
        return lambda band: np.asarray(band.convert("L"))
    if mode in ("LA", "La", "RGBA", "RGBa", "PA") or (mode == "P" and "transparency" in img.info):
        return _flatten_alpha
    if mode.startswith("I;16"):
        return lambda band: _from_uint16(np.asarray(band))
    if mode == "I":
        _check_int32(path, img)
        return lambda band: _from_uint16(np.asarray(band))
    if mode == "F":
        scale = _float_scale(path, img)
        return lambda band: _from_float(np.asarray(band), scale)
    if mode == "LAB":
        transform = _lab_transform(path)
        return lambda band: np.asarray(transform.apply(band).convert("L"))
    return lambda band: np.asarray(_to_rgb(path, band).convert("L"))


def _to_rgb(path: str | PathLike[str], img: Image.Image) -> Image.Image:
    try:
        return img.convert("RGB")
    except ValueError as exc:
        raise InputError(path, f"unsupported pixel mode {img.mode}") from exc


def _lab_transform(path: str | PathLike[str]) -> Any:
    try:
        from PIL import ImageCms
    except ImportError as exc:  # Pillow built without LittleCMS
        raise InputError(path, "CIELAB images need Pillow with LittleCMS") from exc
    return ImageCms.buildTransform(
        ImageCms.createProfile("LAB"), ImageCms.createProfile("sRGB"), "LAB", "RGB"
    )


def _flatten_alpha(img: Image.Image) -> np.ndarray:
    """Composite onto white: ``round((L * a + 255 * (255 - a)) / 255)``, uint8 (H, W)."""
    if img.mode == "La":
        img = img.convert("LA")
    rgba = img.convert("RGBA")
    luma = np.asarray(rgba.convert("L"), dtype=np.uint16)
    alpha = np.asarray(rgba.getchannel("A"))
    return _ON_WHITE.take((luma << 8) | alpha)


def _from_uint16(values: np.ndarray) -> np.ndarray:
    """0..65535 -> 0..255 as ``round(v / 257)`` (257 is odd, so there are no ties)."""
    return ((values.astype(np.uint32) + 128) // 257).astype(np.uint8)


def _check_int32(path: str | PathLike[str], img: Image.Image) -> None:
    extrema: Any = img.getextrema()  # (min, max) for a one-band image
    low, high = int(extrema[0]), int(extrema[1])
    if low < 0 or high > 65535:
        raise InputError(
            path,
            f"32-bit integer pixels outside 0..65535 (min {low}, max {high}): "
            "save the image with 8 or 16 bits per pixel",
        )


def _float_scale(path: str | PathLike[str], img: Image.Image) -> float:
    """255 when every value is <= 1 (a 0..1 image), else 1; refuse NaN and infinity."""
    high = -math.inf
    for _, band in _bands(img):
        values = np.asarray(band)
        if not np.isfinite(values).all():
            raise InputError(path, "floating-point pixels include NaN or infinity")
        high = max(high, float(values.max()))
    return 255.0 if high <= 1.0 else 1.0


def _from_float(values: np.ndarray, scale: float) -> np.ndarray:
    return np.rint(np.clip(values * scale, 0.0, 255.0)).astype(np.uint8)
