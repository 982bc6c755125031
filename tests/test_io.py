"""Tests of medocr.io: every format, every pixel mode, every bad input with its exact error.

All files are synthesised here (Pillow, or bytes crafted with struct + zlib).
"""

from __future__ import annotations

import gzip
import hashlib
import os
import re
import struct
import subprocess
import sys
import warnings
import zipfile
import zlib
from collections.abc import Callable
from io import BytesIO
from pathlib import Path

import numpy as np
import pytest
from helpers import chunk, encode, noise
from PIL import Image, ImageFile, features

from medocr import io as mio
from medocr.errors import InputError, MedocrError
from medocr.types import Page

FORMATS = r"\(medocr reads PNG, JPEG, TIFF and BMP\)"
UNSUPPORTED = "unsupported format {}: medocr reads PNG, JPEG, TIFF and BMP"
PDF_REASON = (
    "PDF is not supported yet: convert its pages to PNG or TIFF first, "
    "e.g. `pdftoppm -r 300 -png FILE OUT`"
)


# ----------------------------------------------------------------------------- builders


def gray_file(fmt: str, **kwargs: object) -> bytes:
    return encode(Image.fromarray(noise()), fmt, **kwargs)


def crafted_png(width: int, height: int, rows: bytes = b"\x00" * 10) -> bytes:
    """A gray 8-bit PNG whose IHDR claims width x height, with `rows` as its pixel data."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def png_chunk_span(data: bytes, ctype: bytes) -> tuple[int, int]:
    """(start of the chunk's data, its length)."""
    at = data.index(ctype)
    return at + 4, struct.unpack(">I", data[at - 4 : at])[0]


def png_bad_idat_crc() -> bytes:
    data = bytearray(gray_file("PNG"))
    start, length = png_chunk_span(bytes(data), b"IDAT")
    data[start + length] ^= 0xFF
    return bytes(data)


def png_corrupt_idat_valid_crc() -> bytes:
    rows = b"".join(b"\x00" + bytes(row) for row in noise())
    stream = bytearray(zlib.compress(rows))
    stream[2:40] = b"\xff" * 38
    ihdr = struct.pack(">IIBBBBB", 64, 48, 8, 0, 0, 0, 0)
    head = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
    return head + chunk(b"IDAT", bytes(stream)) + chunk(b"IEND", b"")


def png_bad_ihdr_crc() -> bytes:
    data = bytearray(gray_file("PNG"))
    data[29] ^= 0xFF
    return bytes(data)


def tiff_ifds(data: bytes) -> list[tuple[dict[int, int], int]]:
    """Little-endian classic TIFF: per IFD, {tag: entry position} and the next-pointer position."""
    ifds = []
    offset = struct.unpack_from("<I", data, 4)[0]
    while offset:
        count = struct.unpack_from("<H", data, offset)[0]
        entries = {
            struct.unpack_from("<H", data, offset + 2 + 12 * i)[0]: offset + 2 + 12 * i
            for i in range(count)
        }
        next_at = offset + 2 + 12 * count
        ifds.append((entries, next_at))
        offset = struct.unpack_from("<I", data, next_at)[0]
    return ifds


def patch_tiff_value(data: bytes, page: int, tag: int, value: int) -> bytes:
    out = bytearray(data)
    entry = tiff_ifds(data)[page][0][tag]
    kind = struct.unpack_from("<H", data, entry + 2)[0]
    struct.pack_into("<H" if kind == 3 else "<I", out, entry + 8, value)
    return bytes(out)


def multipage_tiff(values: tuple[int, ...] = (0, 128, 255), **kwargs: object) -> bytes:
    pages = [Image.new("L", (32, 24), v) for v in values]
    return encode(pages[0], "TIFF", save_all=True, append_images=pages[1:], **kwargs)


def tiff_second_page_strip_beyond_eof() -> bytes:
    data = multipage_tiff()
    return patch_tiff_value(data, 1, 273, len(data) + 10_000)


def tiff_second_page_deflate_garbage() -> bytes:
    data = bytearray(multipage_tiff(compression="tiff_adobe_deflate"))
    strip = struct.unpack_from("<I", data, tiff_ifds(bytes(data))[1][0][273] + 8)[0]
    data[strip : strip + 8] = b"\xde\xad\xbe\xef" * 2
    return bytes(data)


def tiff_second_ifd_beyond_eof() -> bytes:
    data = bytearray(multipage_tiff())
    struct.pack_into("<I", data, tiff_ifds(bytes(data))[0][1], len(data) + 10_000)
    return bytes(data)


def tiff_bad_first_ifd() -> bytes:
    data = bytearray(gray_file("TIFF"))
    struct.pack_into("<I", data, 4, 10**9)
    return bytes(data)


def jpeg_zero_height() -> bytes:
    data = bytearray(gray_file("JPEG"))
    sof = data.index(b"\xff\xc0")
    struct.pack_into(">H", data, sof + 5, 0)
    return bytes(data)


def jpeg_header_only() -> bytes:
    data = gray_file("JPEG")
    return data[: data.index(b"\xff\xda")]


def bmp_zero_width() -> bytes:
    data = bytearray(gray_file("BMP"))
    struct.pack_into("<i", data, 18, 0)
    return bytes(data)


def pil_or(fmt: str, feature: str | None, fallback: bytes) -> Callable[[], bytes]:
    """A real file from Pillow when it has the codec, else the format's signature bytes."""

    def build() -> bytes:
        if feature is None or features.check(feature):
            return encode(Image.new("RGB", (16, 16), (200, 10, 10)), fmt)
        return fallback

    return build


def zip_file() -> bytes:
    buf = BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr("scan.png", gray_file("PNG"))
    return buf.getvalue()


def literal(data: bytes) -> Callable[[], bytes]:
    return lambda: data


# ----------------------------------------------------------------- malformed corpus

PNG = gray_file("PNG")
JPEG = gray_file("JPEG")
TIFF = gray_file("TIFF")
BMP = gray_file("BMP")
PADDING = bytes(200)
HEIC_HEAD = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic"
AVIF_HEAD = b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1"

# (id, file name, bytes builder, regex the reason must fully match, read_pages kwargs)
CORPUS: list[tuple[str, str, Callable[[], bytes], str, dict[str, int]]] = [
    ("empty", "empty.png", literal(b""), re.escape("file is empty (0 bytes)"), {}),
    ("text-as-png", "notes.png", literal(b"cause: arret cardiaque\n" * 20),
     f"not an image: looks like a text file {FORMATS}", {}),
    ("text-as-jpg", "notes.jpg", literal(b"Hello, world.\r\n"),
     f"not an image: looks like a text file {FORMATS}", {}),
    ("latin1-text", "cause.tif", literal("défaillance cardiaque aiguë\n".encode("cp1252")),
     f"not an image: looks like a text file {FORMATS}", {}),
    ("random-bytes", "noise.png", lambda: b"\x00\x01" + np.random.default_rng(1).bytes(4096),
     f"not an image: unrecognised file signature {FORMATS}", {}),
    ("three-bytes", "tiny.png", literal(b"\x01\x02\x03"),
     f"not an image: unrecognised file signature {FORMATS}", {}),
    ("png-cut-3", "a.png", literal(PNG[:3]),
     re.escape("truncated or corrupt image data (PNG: file ends inside the signature)"), {}),
    ("tiff-cut-3", "a.tif", literal(TIFF[:3]),
     re.escape("truncated or corrupt image data (TIFF: file ends inside the signature)"), {}),
    ("html", "scan.png", literal(b"\xef\xbb\xbf  <!DOCTYPE html>\n<html><body>404</body></html>"),
     f"not an image: looks like an HTML page {FORMATS}", {}),
    ("xml", "scan.tif", literal(b'<?xml version="1.0"?><alto></alto>'),
     f"not an image: looks like an XML document {FORMATS}", {}),
    ("zip", "scan.png", zip_file,
     re.escape("not an image: looks like a ZIP archive (or an office document) ") + FORMATS, {}),
    ("gzip", "scan.tif.gz", lambda: gzip.compress(TIFF, mtime=0),
     f"not an image: looks like a gzip archive {FORMATS}", {}),
    ("png-signature-only", "a.png", literal(PNG[:8]),
     r"truncated or corrupt image data \(PNG: .+\)", {}),
    *[
        (f"png-cut-{cut}", "a.png", literal(PNG[:cut]),
         r"truncated or corrupt image data \(PNG: .+\)", {})
        for cut in (16, 33, 40, 60, len(PNG) // 2)
    ],
    ("png-cut-before-iend", "a.png", literal(PNG[:-12]),
     re.escape("truncated or corrupt image data (PNG: file ends before the IEND chunk)"), {}),
    ("png-cut-in-iend", "a.png", literal(PNG[:-1]),
     re.escape("truncated or corrupt image data (PNG: file ends inside the IEND chunk)"), {}),
    ("png-bad-idat-crc", "a.png", png_bad_idat_crc,
     re.escape("truncated or corrupt image data (PNG: bad CRC in the IDAT chunk)"), {}),
    ("png-corrupt-idat", "a.png", png_corrupt_idat_valid_crc,
     r"truncated or corrupt image data \(PNG: .+\)", {}),
    ("png-bad-ihdr-crc", "a.png", png_bad_ihdr_crc,
     r"truncated or corrupt image data \(PNG: .+\)", {}),
    ("jpeg-soi-only", "a.jpg", literal(JPEG[:2]),
     re.escape("truncated or corrupt image data (JPEG: invalid header)"), {}),
    ("jpeg-header-only", "a.jpg", jpeg_header_only,
     r"truncated or corrupt image data \(JPEG: .+\)", {}),
    *[
        (f"jpeg-cut-{cut}", "a.jpg", literal(JPEG[:cut]),
         r"truncated or corrupt image data \(JPEG: .+\)", {})
        for cut in (20, 200, len(JPEG) // 2, len(JPEG) - 2)
    ],
    ("jpeg-garbage-after-soi", "a.jpg", literal(b"\xff\xd8" + bytes(range(256)) * 4),
     re.escape("truncated or corrupt image data (JPEG: invalid header)"), {}),
    *[
        (f"tiff-cut-{cut}", "a.tif", literal(TIFF[:cut]),
         r"truncated or corrupt image data \(TIFF: .+\)", {})
        for cut in (8, 100, len(TIFF) // 2, len(TIFF) - 10)
    ],
    ("tiff-bad-ifd-offset", "a.tif", tiff_bad_first_ifd,
     r"truncated or corrupt image data \(TIFF: .+\)", {}),
    *[
        (f"bmp-cut-{cut}", "a.bmp", literal(BMP[:cut]),
         r"truncated or corrupt image data \(BMP: .+\)", {})
        for cut in (14, 30, len(BMP) // 2)
    ],
    ("gif", "a.png", pil_or("GIF", None, b""), re.escape(UNSUPPORTED.format("GIF")), {}),
    ("webp", "a.png", pil_or("WEBP", "webp", b"RIFF\x10\x00\x00\x00WEBPVP8 " + PADDING),
     re.escape(UNSUPPORTED.format("WebP")), {}),
    ("jp2", "a.tif", pil_or("JPEG2000", "jpg_2000", b"\x00\x00\x00\x0cjP  \r\n\x87\n" + PADDING),
     re.escape(UNSUPPORTED.format("JPEG 2000")), {}),
    ("j2k-codestream", "a.j2k", literal(b"\xffO\xffQ" + PADDING),
     re.escape(UNSUPPORTED.format("JPEG 2000")), {}),
    ("heic", "IMG_0001.HEIC", literal(HEIC_HEAD + PADDING),
     re.escape(UNSUPPORTED.format("HEIC")), {}),
    ("avif", "a.png", literal(AVIF_HEAD + PADDING),
     re.escape(UNSUPPORTED.format("AVIF")), {}),
    ("jpeg-xl", "a.jpg", literal(b"\xff\x0a" + PADDING),
     re.escape(UNSUPPORTED.format("JPEG XL")), {}),
    ("psd", "a.png", literal(b"8BPS\x00\x01" + PADDING),
     re.escape(UNSUPPORTED.format("PSD")), {}),
    ("dicom", "a.dcm", literal(bytes(128) + b"DICM" + PADDING),
     re.escape(UNSUPPORTED.format("DICOM")), {}),
    ("svg", "a.png", literal(b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"/>'),
     re.escape(UNSUPPORTED.format("SVG")), {}),
    ("pdf", "scan.png", pil_or("PDF", None, b""), re.escape(PDF_REASON), {}),
    ("pdf-after-junk", "scan.pdf", literal(b"\r\n%PDF-1.4\n%\xe2\xe3\xcf\xd3\n" + PADDING),
     re.escape(PDF_REASON), {}),
    ("png-0x0", "a.png", lambda: crafted_png(0, 0), re.escape("image has no pixels (0 x 0)"), {}),
    ("png-0x5", "a.png", lambda: crafted_png(0, 5), re.escape("image has no pixels (0 x 5)"), {}),
    ("bmp-zero-width", "a.bmp", bmp_zero_width, re.escape("image has no pixels (0 x 48)"), {}),
    ("tiff-zero-width", "a.tif", lambda: patch_tiff_value(TIFF, 0, 256, 0),
     re.escape("image has no pixels (0 x 48)"), {}),
    ("jpeg-zero-height", "a.jpg", jpeg_zero_height, re.escape("image has no pixels (64 x 0)"), {}),
    ("png-bomb", "bomb.png", lambda: crafted_png(20000, 20000),
     re.escape("image is 20000 x 20000 = 400 MP, over the limit of 150 MP (max_pixels=150000000)"),
     {}),
    ("tiff-bomb", "bomb.tif", lambda: patch_tiff_value(patch_tiff_value(TIFF, 0, 256, 40000), 0,
                                                       257, 40000),
     re.escape("image is 40000 x 40000 = 1600 MP, over the limit of 150 MP "
               "(max_pixels=150000000)"), {}),
    ("over-small-limit", "a.png", literal(PNG),
     re.escape("image is 64 x 48 = 0.003072 MP, over the limit of 0.001 MP (max_pixels=1000)"),
     {"max_pixels": 1000}),
    ("tiff-page-over-limit", "a.tif",
     lambda: encode(Image.new("L", (10, 10)), "TIFF", save_all=True,
                    append_images=[Image.new("L", (10, 10)), Image.new("L", (30, 30))]),
     re.escape("TIFF page_index 2: image is 30 x 30 = 0.0009 MP, over the limit of 0.0005 MP "
               "(max_pixels=500)"), {"max_pixels": 500}),
    ("tiff-page2-strip-beyond-eof", "a.tif", tiff_second_page_strip_beyond_eof,
     r"truncated or corrupt image data \(TIFF page_index 1: .+\)", {}),
    ("tiff-page2-corrupt-deflate", "a.tif", tiff_second_page_deflate_garbage,
     r"truncated or corrupt image data \(TIFF page_index 1: .+\)", {}),
    ("tiff-page2-ifd-beyond-eof", "a.tif", tiff_second_ifd_beyond_eof,
     r"truncated or corrupt image data \(TIFF page_index 1: .+\)", {}),
    ("int32-out-of-range", "a.tif",
     lambda: encode(Image.fromarray(np.array([[-1, 70000]], dtype=np.int32)), "TIFF"),
     re.escape("32-bit integer pixels outside 0..65535 (min -1, max 70000): "
               "save the image with 8 or 16 bits per pixel"), {}),
    ("float-nan", "a.tif",
     lambda: encode(Image.fromarray(np.array([[0.5, np.nan]], dtype=np.float32)), "TIFF"),
     re.escape("floating-point pixels include NaN or infinity"), {}),
]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "build", "reason", "kwargs"),
    [pytest.param(*case[1:], id=case[0]) for case in CORPUS],
)
def test_malformed_file_raises_input_error_with_exact_reason(
    tmp_path: Path,
    name: str,
    build: Callable[[], bytes],
    reason: str,
    kwargs: dict[str, int],
) -> None:
    path = tmp_path / name
    path.write_bytes(build())
    with pytest.raises(InputError) as info:
        mio.read_pages(path, **kwargs)
    assert re.fullmatch(reason, info.value.reason), info.value.reason
    assert info.value.path == str(path)
    assert str(info.value) == f"{path}: {info.value.reason}"
    assert isinstance(info.value, MedocrError)


def test_corpus_is_large_and_varied() -> None:
    assert len(CORPUS) >= 20
    assert len({case[0] for case in CORPUS}) == len(CORPUS)


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.png"
    with pytest.raises(InputError) as info:
        mio.read_image(path)
    assert info.value.reason == "file not found"
    assert str(info.value) == f"{path}: file not found"


def test_parent_is_a_file(tmp_path: Path) -> None:
    parent = tmp_path / "a.png"
    parent.write_bytes(PNG)
    with pytest.raises(InputError) as info:
        mio.read_image(parent / "b.png")
    assert info.value.reason == "file not found"


def test_directory(tmp_path: Path) -> None:
    folder = tmp_path / "scans.png"
    folder.mkdir()
    with pytest.raises(InputError) as info:
        mio.read_pages(folder)
    assert info.value.reason == "is a directory, not a file"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_named_pipe_is_refused_without_blocking(tmp_path: Path) -> None:
    pipe = tmp_path / "pipe.png"
    os.mkfifo(pipe)
    with pytest.raises(InputError) as info:
        mio.read_pages(pipe)
    assert info.value.reason == "not a regular file (device, pipe or socket)"


def test_permission_denied(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "secret.png"
    path.write_bytes(PNG)

    def refuse(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied", str(path))

    # medocr.io calls the builtin open(); shadow it in the module (root ignores chmod).
    monkeypatch.setattr(mio, "open", refuse, raising=False)
    with pytest.raises(InputError) as info:
        mio.read_image(path)
    assert info.value.reason == "permission denied"


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads anything")
def test_permission_denied_for_real(tmp_path: Path) -> None:
    path = tmp_path / "secret.png"
    path.write_bytes(PNG)
    path.chmod(0)
    try:
        with pytest.raises(InputError) as info:
            mio.read_image(path)
        assert info.value.reason == "permission denied"
    finally:
        path.chmod(0o600)


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "100", None])
def test_bad_max_pixels_is_a_value_error(tmp_path: Path, bad: object) -> None:
    path = tmp_path / "a.png"
    path.write_bytes(PNG)
    with pytest.raises(ValueError, match=r"^max_pixels must be a positive integer, got "):
        mio.read_pages(path, max_pixels=bad)  # type: ignore[arg-type]


def test_bomb_fails_before_decoding(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "bomb.png"
    path.write_bytes(crafted_png(20000, 20000))

    def no_decoding(self: object) -> None:
        raise AssertionError("pixel data was decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    limit_before = Image.MAX_IMAGE_PIXELS
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any leaked warning (DecompressionBomb...) fails
        with pytest.raises(InputError) as info:
            mio.read_image(path)
    assert info.value.reason.startswith("image is 20000 x 20000 = 400 MP")
    assert limit_before == Image.MAX_IMAGE_PIXELS


def test_pillow_bomb_error_never_leaks_when_max_pixels_is_raised(tmp_path: Path) -> None:
    # 14000 x 14000 = 196 MP: over Pillow's own hard limit (2 x 89.5 MP), under ours.
    path = tmp_path / "big.png"
    path.write_bytes(crafted_png(14000, 14000))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(InputError) as info:
            mio.read_image(path, max_pixels=200_000_000)
    assert re.fullmatch(r"truncated or corrupt image data \(PNG: .+\)", info.value.reason)


def test_corrupt_exif_warning_does_not_leak(tmp_path: Path) -> None:
    path = tmp_path / "a.tif"
    path.write_bytes(TIFF[:100])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(InputError):
            mio.read_pages(path)


# ---------------------------------------------------------------------- valid files


def read_bytes(tmp_path: Path, data: bytes, name: str = "page.img") -> Page:
    path = tmp_path / name
    path.write_bytes(data)
    return mio.read_image(path)


def check_gray(page: Page, shape: tuple[int, int]) -> np.ndarray:
    image = page.image
    assert image.dtype == np.uint8
    assert image.shape == shape
    assert image.flags.c_contiguous
    assert image.flags.writeable
    return image


@pytest.mark.parametrize("fmt", ["PNG", "TIFF", "BMP"])
def test_lossless_gray_round_trip(tmp_path: Path, fmt: str) -> None:
    page = read_bytes(tmp_path, gray_file(fmt), "scan.jpg")  # the extension is ignored
    np.testing.assert_array_equal(check_gray(page, (48, 64)), noise())
    assert page.page_index == 0
    assert page.source == str(tmp_path / "scan.jpg")
    np.testing.assert_array_equal(page.transform, np.eye(3))


def test_jpeg_gray(tmp_path: Path) -> None:
    image = check_gray(read_bytes(tmp_path, gray_file("JPEG", quality=95)), (48, 64))
    assert np.abs(image.astype(int) - noise()).mean() < 8


def test_str_path_and_source(tmp_path: Path) -> None:
    path = tmp_path / "a.png"
    path.write_bytes(PNG)
    assert mio.read_image(str(path)).source == str(path)


def test_bilevel(tmp_path: Path) -> None:
    bits = noise() > 127
    image = check_gray(read_bytes(tmp_path, encode(Image.fromarray(bits), "PNG")), (48, 64))
    np.testing.assert_array_equal(image, np.where(bits, 255, 0))


def test_bilevel_group4_tiff(tmp_path: Path) -> None:
    bits = noise() > 127
    data = encode(Image.fromarray(bits), "TIFF", compression="group4")
    np.testing.assert_array_equal(read_bytes(tmp_path, data).image, np.where(bits, 255, 0))


def test_palette_with_transparency_becomes_white(tmp_path: Path) -> None:
    img = Image.fromarray(np.array([[0, 1, 2]], dtype=np.uint8), "P")
    img.putpalette([0, 0, 0, 255, 0, 0, 10, 20, 30] + [0] * 759)
    data = encode(img, "PNG", transparency=1)
    image = check_gray(read_bytes(tmp_path, data), (1, 3))
    assert image.tolist() == [[0, 255, round(0.299 * 10 + 0.587 * 20 + 0.114 * 30)]]


def test_palette_without_transparency(tmp_path: Path) -> None:
    img = Image.fromarray(np.array([[0, 1]], dtype=np.uint8), "P")
    img.putpalette([0, 0, 0, 255, 255, 255] + [0] * 762)
    assert read_bytes(tmp_path, encode(img, "PNG")).image.tolist() == [[0, 255]]


def test_gray_alpha_composited_on_white(tmp_path: Path) -> None:
    pixels = np.array([[[0, 0], [0, 255], [0, 128], [100, 255]]], dtype=np.uint8)
    data = encode(Image.fromarray(pixels, "LA"), "PNG")
    assert read_bytes(tmp_path, data).image.tolist() == [[255, 0, 127, 100]]


def test_rgba_transparent_pixels_become_white(tmp_path: Path) -> None:
    pixels = np.array([[[0, 0, 0, 0], [255, 0, 0, 255], [0, 0, 0, 255]]], dtype=np.uint8)
    data = encode(Image.fromarray(pixels, "RGBA"), "PNG")
    image = check_gray(read_bytes(tmp_path, data), (1, 3))
    assert image.tolist() == [[255, 76, 0]]  # 0.299 * 255 = 76.2


def test_rgb_uses_itu_601_luma(tmp_path: Path) -> None:
    pixels = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255]]], np.uint8)
    data = encode(Image.fromarray(pixels, "RGB"), "PNG")
    assert read_bytes(tmp_path, data).image.tolist() == [[76, 150, 29, 255]]


@pytest.mark.parametrize("fmt", ["JPEG", "TIFF"])
def test_cmyk(tmp_path: Path, fmt: str) -> None:
    img = Image.new("CMYK", (16, 8), (0, 0, 0, 0))
    img.paste((0, 0, 0, 255), (0, 0, 8, 8))
    page = read_bytes(tmp_path, encode(img, fmt, quality=95) if fmt == "JPEG" else encode(img, fmt))
    image = check_gray(page, (8, 16))
    assert image[:, :6].max() < 10
    assert image[:, 10:].min() > 245


def test_lab_tiff(tmp_path: Path) -> None:
    img = Image.new("LAB", (2, 1))
    img.putpixel((0, 0), (255, 128, 128))  # L* = 100: white
    img.putpixel((1, 0), (0, 128, 128))  # L* = 0: black
    image = read_bytes(tmp_path, encode(img, "TIFF")).image
    assert image[0, 0] > 250
    assert image[0, 1] < 5


@pytest.mark.parametrize("fmt", ["PNG", "TIFF"])
def test_16_bit_is_scaled_by_257(tmp_path: Path, fmt: str) -> None:
    values = np.array([[0, 128, 129, 257, 32896, 65535]], dtype=np.uint16)
    img = Image.fromarray(values)
    assert img.mode == "I;16"
    data = encode(img, fmt)
    image = check_gray(read_bytes(tmp_path, data), (1, 6))
    assert image.tolist() == [[0, 0, 1, 1, 128, 255]]


def test_int32_in_16_bit_range(tmp_path: Path) -> None:
    values = np.array([[0, 257, 65535]], dtype=np.int32)
    data = encode(Image.fromarray(values), "TIFF")
    assert read_bytes(tmp_path, data).image.tolist() == [[0, 1, 255]]


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([0.0, 0.5, 1.0], [0, 128, 255]),  # max <= 1: a 0..1 image
        ([0.0, 100.4, 255.0], [0, 100, 255]),  # otherwise 0..255
        ([-3.0, 2.0, 300.0], [0, 2, 255]),  # clipped
    ],
)
def test_float(tmp_path: Path, values: list[float], expected: list[int]) -> None:
    data = encode(Image.fromarray(np.array([values], dtype=np.float32)), "TIFF")
    assert read_bytes(tmp_path, data).image.tolist() == [expected]


def test_bmp_rgb(tmp_path: Path) -> None:
    pixels = np.array([[[255, 255, 255], [0, 0, 0]]], dtype=np.uint8)
    data = encode(Image.fromarray(pixels, "RGB"), "BMP")
    assert read_bytes(tmp_path, data).image.tolist() == [[255, 0]]


def test_bigtiff(tmp_path: Path) -> None:
    page = read_bytes(tmp_path, gray_file("TIFF", big_tiff=True))
    np.testing.assert_array_equal(page.image, noise())


def marked_image(width: int = 40, height: int = 20) -> Image.Image:
    """White, with a black block in the top-left corner."""
    pixels = np.full((height, width), 255, np.uint8)
    pixels[:6, :10] = 0
    return Image.fromarray(pixels)


def test_jpeg_exif_orientation_6_is_applied(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # stored image must be turned 90 degrees clockwise
    data = encode(marked_image(), "JPEG", exif=exif, quality=95)
    image = check_gray(read_bytes(tmp_path, data), (40, 20))
    assert image[:8, -4:].mean() < 40  # the mark is now top-right
    assert image[:8, :4].mean() > 215


def test_tiff_orientation_is_applied(tmp_path: Path) -> None:
    data = encode(marked_image(), "TIFF", tiffinfo={0x0112: 3})  # turned 180 degrees
    image = check_gray(read_bytes(tmp_path, data), (20, 40))
    assert image[-6:, -10:].max() == 0
    assert image[:6, :10].min() == 255


def test_three_page_tiff(tmp_path: Path) -> None:
    path = tmp_path / "three.tif"
    path.write_bytes(multipage_tiff((0, 128, 255)))
    pages = mio.read_pages(path)
    assert [p.page_index for p in pages] == [0, 1, 2]
    assert [int(p.image[0, 0]) for p in pages] == [0, 128, 255]
    assert all(p.image.shape == (24, 32) and p.source == str(path) for p in pages)


def test_read_image_decodes_only_the_first_page(tmp_path: Path) -> None:
    path = tmp_path / "broken.tif"
    path.write_bytes(tiff_second_page_strip_beyond_eof())
    page = mio.read_image(path)
    assert page.page_index == 0
    assert page.image.max() == 0
    with pytest.raises(InputError):
        mio.read_pages(path)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "BMP"])
def test_single_page_formats_give_one_page(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / "one"
    path.write_bytes(gray_file(fmt))
    assert len(mio.read_pages(path)) == 1


@pytest.mark.parametrize(
    ("fmt", "kwargs", "dpi"),
    [
        ("PNG", {"dpi": (300, 300)}, 300.0),
        ("PNG", {}, None),
        ("JPEG", {"dpi": (200, 200)}, 200.0),
        ("JPEG", {}, None),
        ("JPEG", {"exif": Image.Exif()}, None),  # Pillow alone would report 72
        ("TIFF", {"dpi": (300, 300)}, 300.0),
        ("TIFF", {}, None),  # Pillow alone would report 1
        ("TIFF", {"resolution_unit": 3, "resolution": 100}, 254.0),
        ("TIFF", {"resolution_unit": 1, "resolution": 5}, None),
        ("BMP", {"dpi": (300, 300)}, 300.0),
    ],
)
def test_dpi(tmp_path: Path, fmt: str, kwargs: dict[str, object], dpi: float | None) -> None:
    assert read_bytes(tmp_path, gray_file(fmt, **kwargs)).dpi == dpi


def test_dpi_follows_orientation(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6
    data = encode(marked_image(), "JPEG", exif=exif, dpi=(100, 200))
    assert read_bytes(tmp_path, data).dpi == 200.0


@pytest.mark.parametrize(
    ("fmt", "kwargs"),
    [("PNG", {}), ("JPEG", {"exif": Image.Exif()}), ("TIFF", {"save_all": True})],
)
def test_input_file_is_not_modified(tmp_path: Path, fmt: str, kwargs: dict[str, object]) -> None:
    if "exif" in kwargs:
        kwargs["exif"][0x0112] = 6  # type: ignore[index]
    path = tmp_path / "scan"
    path.write_bytes(encode(marked_image(), fmt, **kwargs))
    os.utime(path, ns=(1_000_000_000, 1_000_000_000))
    before = (hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns)
    mio.read_pages(path)
    after = (hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns)
    assert after == before


def test_supported_formats() -> None:
    assert mio.SUPPORTED_FORMATS == ("PNG", "JPEG", "TIFF", "BMP")
    assert mio.DEFAULT_MAX_PIXELS == 150_000_000


def test_public_api_is_lazy() -> None:
    import medocr

    assert medocr.read_image is mio.read_image
    assert medocr.read_pages is mio.read_pages


def test_import_medocr_does_not_import_pillow() -> None:
    code = "import sys, medocr; sys.exit('PIL' in sys.modules or 'medocr.io' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


@pytest.mark.parametrize(
    ("options", "decoder"),
    [
        ({"dpi": (300, 300)}, "libpng"),
        ({"dpi": (300, 300), "interlace": 1}, "libpng"),  # Adam7
        ({"pnginfo": "text"}, "pillow"),  # a tEXt chunk: not plain, Pillow decodes
    ],
)
def test_plain_gray_png_decoded_by_libpng_as_by_pillow(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, options: dict, decoder: str
) -> None:
    from PIL import PngImagePlugin

    if options.get("pnginfo") == "text":
        info = PngImagePlugin.PngInfo()
        info.add_text("Software", "scanner")
        options = {"pnginfo": info}
    image = Image.fromarray(noise())
    path = tmp_path / "page.png"
    image.save(path, "PNG", **options)
    loads: list[str] = []
    real_load = ImageFile.ImageFile.load
    monkeypatch.setattr(
        ImageFile.ImageFile, "load", lambda self: loads.append("pillow") or real_load(self)
    )
    page = mio.read_image(path)
    np.testing.assert_array_equal(page.image, np.asarray(image))
    assert page.image.flags["C_CONTIGUOUS"] and page.image.flags["WRITEABLE"]
    assert ("pillow" in loads) == (decoder == "pillow")
    assert page.dpi == (300.0 if decoder == "libpng" else None)
