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

The EXIF (or TIFF) orientation tag is applied, so the array is the page as a viewer
shows it. The resolution is kept when the file records one in absolute units (PNG
pHYs in metres, JPEG JFIF density or EXIF resolution, TIFF X/YResolution, BMP
pixels per metre), as the horizontal dots per inch of the upright page, rounded to
0.1 dpi (PNG and BMP store pixels per metre, so 300 dpi reads back as 299.9994).

Safety
------
The input file is opened read-only and never written. The pixel count is checked
against `max_pixels` from the header, before any pixel data is decoded, so a
decompression bomb fails fast. Pillow's global ``Image.MAX_IMAGE_PIXELS`` is neither
used nor changed (Pillow's check only lives in ``Image.open``, which this module does
not call), so no ``DecompressionBombWarning`` or ``DecompressionBombError`` can
escape. Pillow's warnings while decoding are logged at DEBUG level, not emitted;
suppressing them uses :func:`warnings.catch_warnings`, which is not thread-safe
before Python 3.14: read images in processes, or in one thread at a time.
Setting ``PIL.ImageFile.LOAD_TRUNCATED_IMAGES = True`` elsewhere lets Pillow accept
truncated JPEG, TIFF and BMP data; truncated PNG files are still rejected because
every PNG chunk and its CRC are checked here.
"""

from __future__ import annotations

import logging
import math
import os
import stat
import struct
import warnings
import zlib
from os import PathLike
from typing import Any, BinaryIO

import numpy as np
from PIL import (
    BmpImagePlugin,
    Image,
    ImageFile,
    ImageOps,
    JpegImagePlugin,
    PngImagePlugin,
    TiffImagePlugin,
)

from medocr.errors import InputError
from medocr.types import Page

__all__ = ["DEFAULT_MAX_PIXELS", "SUPPORTED_FORMATS", "read_image", "read_pages"]

logger = logging.getLogger(__name__)

DEFAULT_MAX_PIXELS = 150_000_000
"""Default upper bound on width x height of one page (a 600 dpi A3 scan is ~70 MP)."""

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
_ORIENTATION_TAG = 0x0112
_RESOLUTION_TAGS = (0x011A, 0x011B, 0x0128)  # XResolution, YResolution, ResolutionUnit

# ---------------------------------------------------------------------------- public API


def read_pages(path: str | PathLike[str], *, max_pixels: int = DEFAULT_MAX_PIXELS) -> list[Page]:
    """Read every page of an image file.

    Parameters
    ----------
    path : str or PathLike
        A PNG, JPEG, TIFF or BMP file (see :data:`SUPPORTED_FORMATS`); the format is
        sniffed from the content, not the extension. The file is never modified.
    max_pixels : int, optional
        Largest accepted ``width * height`` of one page, checked from the header before
        any pixel is decoded (default :data:`DEFAULT_MAX_PIXELS`).

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
        ``page_index``), has no pixels, or has a page over `max_pixels`.
    ValueError
        `max_pixels` is not a positive integer.

    """
    return _read(path, max_pixels, first_only=False)


def read_image(path: str | PathLike[str], *, max_pixels: int = DEFAULT_MAX_PIXELS) -> Page:
    """Read the first page of an image file (the other TIFF pages are not decoded).

    Parameters
    ----------
    path : str or PathLike
        A PNG, JPEG, TIFF or BMP file; see :func:`read_pages`.
    max_pixels : int, optional
        Largest accepted ``width * height``, checked before decoding.

    Returns
    -------
    Page
        ``page_index`` 0; image ``uint8`` ``(H, W)``; see :func:`read_pages`.

    Raises
    ------
    InputError
        As :func:`read_pages`, for the first page.
    ValueError
        `max_pixels` is not a positive integer.

    """
    return _read(path, max_pixels, first_only=True)[0]


# ------------------------------------------------------------------- file and format


def _read(path: str | PathLike[str], max_pixels: int, *, first_only: bool) -> list[Page]:
    _check_max_pixels(max_pixels)
    name = os.fspath(path)
    _check_file(path, name)
    with _open_file(path, name) as fh:
        fmt = _sniff(path, _read_head(path, fh))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                return _decode_file(path, fh, fmt, max_pixels, first_only)
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


def _check_max_pixels(max_pixels: int) -> None:
    if isinstance(max_pixels, bool) or not isinstance(max_pixels, int) or max_pixels <= 0:
        raise ValueError(f"max_pixels must be a positive integer, got {max_pixels!r}")


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


def _decode_file(
    path: str | PathLike[str], fh: BinaryIO, fmt: str, max_pixels: int, first_only: bool
) -> list[Page]:
    img = _open_header(path, fh, fmt)
    try:
        pages = [_decode_page(path, fh, img, fmt, 0, max_pixels)]
        while not first_only and fmt == "TIFF" and _next_page(path, img, len(pages)):
            pages.append(_decode_page(path, fh, img, fmt, len(pages), max_pixels))
        return pages
    finally:
        img.close()


def _open_header(path: str | PathLike[str], fh: BinaryIO, fmt: str) -> ImageFile.ImageFile:
    """Parse the header with the format's Pillow plugin (no pixel data is read).

    Instantiating the plugin class directly, instead of ``Image.open``, skips Pillow's
    global decompression-bomb check: :func:`_check_size` enforces `max_pixels` instead.
    """
    fh.seek(0)
    try:
        return _PLUGINS[fmt](fh)
    except MemoryError:
        raise
    except Exception as exc:  # Pillow raises many types on bad headers
        size = _declared_size(fmt, fh)
        if size is not None and min(size) == 0:
            raise InputError(path, f"image has no pixels ({size[0]} x {size[1]})") from exc
        raise InputError(path, _corrupt_reason(fmt, 0, exc)) from exc


def _next_page(path: str | PathLike[str], img: ImageFile.ImageFile, index: int) -> bool:
    """Seek a TIFF to page `index`; False when there is none."""
    try:
        img.seek(index)
    except EOFError:
        return False
    except Exception as exc:  # a corrupt IFD
        raise InputError(path, _corrupt_reason("TIFF", index, exc)) from exc
    return True


def _decode_page(
    path: str | PathLike[str],
    fh: BinaryIO,
    img: ImageFile.ImageFile,
    fmt: str,
    index: int,
    max_pixels: int,
) -> Page:
    _check_size(path, img.size, max_pixels, _where(fmt, index))
    if fmt == "PNG":
        _check_png_chunks(path, fh)
    try:
        img.load()
        orientation = int(img.getexif().get(_ORIENTATION_TAG, 1))
        dpi = _dpi(img, fmt, swap=orientation in (5, 6, 7, 8))
        upright = ImageOps.exif_transpose(img)
    except MemoryError:
        raise
    except Exception as exc:  # Pillow raises OSError, SyntaxError, ValueError, struct.error...
        raise InputError(path, _corrupt_reason(fmt, index, exc)) from exc
    return Page(image=_to_gray(path, upright), source=str(path), page_index=index, dpi=dpi)


def _where(fmt: str, index: int) -> str:
    return f"{fmt} page_index {index}: " if index else ""


def _check_size(
    path: str | PathLike[str], size: tuple[int, int], max_pixels: int, where: str
) -> None:
    width, height = size
    if width <= 0 or height <= 0:
        raise InputError(path, f"{where}image has no pixels ({width} x {height})")
    pixels = width * height
    if pixels > max_pixels:
        raise InputError(
            path,
            f"{where}image is {width} x {height} = {pixels / 1e6:g} MP, over the limit of "
            f"{max_pixels / 1e6:g} MP (max_pixels={max_pixels})",
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


# ----------------------------------------------------------------- header inspection


def _check_png_chunks(path: str | PathLike[str], fh: BinaryIO) -> None:
    """Walk every PNG chunk: each CRC must match and the file must reach IEND.

    Pillow alone accepts a PNG cut after its last IDAT, and does not check IDAT CRCs.
    """
    position = fh.tell()
    problem = _png_problem(fh)
    fh.seek(position)
    if problem is not None:
        raise InputError(path, f"truncated or corrupt image data (PNG: {problem})")


def _png_problem(fh: BinaryIO) -> str | None:
    fh.seek(8)
    while True:
        header = fh.read(8)
        if len(header) < 8:
            return "file ends before the IEND chunk"
        length, ctype = struct.unpack(">I4s", header)
        if length >= 2**31 or not ctype.isalpha():
            return "invalid chunk header"
        problem = _png_chunk_problem(fh, ctype, length)
        if problem is not None or ctype == b"IEND":
            return problem


def _png_chunk_problem(fh: BinaryIO, ctype: bytes, length: int) -> str | None:
    crc = zlib.crc32(ctype)
    remaining = length
    while remaining:
        block = fh.read(min(remaining, 1 << 20))
        if not block:
            break
        crc = zlib.crc32(block, crc)
        remaining -= len(block)
    stored = fh.read(4)
    name = ctype.decode("ascii")
    if remaining or len(stored) < 4:
        return f"file ends inside the {name} chunk"
    if struct.unpack(">I", stored)[0] != crc:
        return f"bad CRC in the {name} chunk"
    return None


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
    """Convert any Pillow mode to C-contiguous writeable uint8 ``(H, W)`` (module doc)."""
    mode = img.mode
    if mode == "L":
        gray = np.asarray(img)
    elif mode == "1":
        gray = np.asarray(img.convert("L"))
    elif mode in ("LA", "La", "RGBA", "RGBa", "PA") or (mode == "P" and "transparency" in img.info):
        gray = _flatten_alpha(img)
    elif mode.startswith("I;16"):
        gray = _from_uint16(np.asarray(img))
    elif mode == "I":
        gray = _from_int32(path, np.asarray(img))
    elif mode == "F":
        gray = _from_float(path, np.asarray(img))
    else:
        gray = np.asarray(_to_rgb(path, img).convert("L"))
    return np.array(gray, dtype=np.uint8, order="C", copy=True)


def _to_rgb(path: str | PathLike[str], img: Image.Image) -> Image.Image:
    if img.mode == "LAB":
        return _lab_to_rgb(path, img)
    try:
        return img.convert("RGB")
    except ValueError as exc:
        raise InputError(path, f"unsupported pixel mode {img.mode}") from exc


def _lab_to_rgb(path: str | PathLike[str], img: Image.Image) -> Image.Image:
    try:
        from PIL import ImageCms
    except ImportError as exc:  # Pillow built without LittleCMS
        raise InputError(path, "CIELAB images need Pillow with LittleCMS") from exc
    transform = ImageCms.buildTransform(
        ImageCms.createProfile("LAB"), ImageCms.createProfile("sRGB"), "LAB", "RGB"
    )
    return transform.apply(img)


def _flatten_alpha(img: Image.Image) -> np.ndarray:
    """Composite onto white: ``round((L * a + 255 * (255 - a)) / 255)``, uint8 (H, W)."""
    if img.mode == "La":
        img = img.convert("LA")
    rgba = img.convert("RGBA")
    luma = np.asarray(rgba.convert("RGB").convert("L"), dtype=np.uint32)
    alpha = np.asarray(rgba.getchannel("A"), dtype=np.uint32)
    return ((luma * alpha + 255 * (255 - alpha) + 127) // 255).astype(np.uint8)


def _from_uint16(values: np.ndarray) -> np.ndarray:
    """0..65535 -> 0..255 as ``round(v / 257)`` (257 is odd, so there are no ties)."""
    return ((values.astype(np.uint32) + 128) // 257).astype(np.uint8)


def _from_int32(path: str | PathLike[str], values: np.ndarray) -> np.ndarray:
    low, high = int(values.min()), int(values.max())
    if low < 0 or high > 65535:
        raise InputError(
            path,
            f"32-bit integer pixels outside 0..65535 (min {low}, max {high}): "
            "save the image with 8 or 16 bits per pixel",
        )
    return _from_uint16(values)


def _from_float(path: str | PathLike[str], values: np.ndarray) -> np.ndarray:
    if not np.isfinite(values).all():
        raise InputError(path, "floating-point pixels include NaN or infinity")
    scale = 255.0 if float(values.max()) <= 1.0 else 1.0
    return np.rint(np.clip(values * scale, 0.0, 255.0)).astype(np.uint8)
