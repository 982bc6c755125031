"""Hostile image files against medocr.io: every one gives a correct Page or an InputError.

Everything is generated here, at test time (Pillow, or bytes crafted with struct and
zlib): truncations, wrong magic, bombs by header, extreme shapes, unusual pixel modes,
EXIF rotations, multi-page TIFFs over the limits, corrupt CCITT G3/G4 data, odd names
and file types. The peak-memory tests read the worst accepted files and hostile headers
in a subprocess under a 1.5 GiB address-space limit and check its peak resident size.
"""

from __future__ import annotations

import json
import os
import re
import struct
import subprocess
import sys
import time
import zlib
from collections.abc import Callable
from io import BytesIO
from pathlib import Path

import cv2
import numpy as np
import pytest
from helpers import chunk, encode, noise
from PIL import Image, ImageFile, ImageOps

from medocr import io as mio
from medocr.errors import InputError
from medocr.types import Page

GB = 1_500_000_000  # the peak resident size any read may reach, in bytes


# ----------------------------------------------------------------------------- builders


def png(
    width: int,
    height: int,
    *,
    color: int = 0,
    depth: int = 8,
    fill: int = 0xFF,
    rows: int | None = None,
) -> bytes:
    """A PNG of constant rows, compressed as it streams (no full-size buffer)."""
    channels = {0: 1, 2: 3, 4: 2, 6: 4}[color]
    ihdr = struct.pack(">IIBBBBB", width, height, depth, color, 0, 0, 0)
    line = b"\x00" + bytes([fill]) * ((width * channels * depth + 7) // 8)
    stream = zlib.compressobj(1)
    data = b"".join(stream.compress(line) for _ in range(height if rows is None else rows))
    data += stream.flush()
    head = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
    return head + chunk(b"IDAT", data) + chunk(b"IEND", b"")


def png_resized(data: bytes, width: int, height: int) -> bytes:
    """`data` (a PNG) with IHDR claiming width x height, its CRC resealed."""
    out = bytearray(data)
    struct.pack_into(">II", out, 16, width, height)
    struct.pack_into(">I", out, 29, zlib.crc32(bytes(out[12:29])))
    return bytes(out)


def jpeg_resized(data: bytes, width: int, height: int) -> bytes:
    out = bytearray(data)
    sof = next(out.index(m) for m in (b"\xff\xc0", b"\xff\xc2", b"\xff\xc1") if m in out)
    struct.pack_into(">HH", out, sof + 5, height, width)
    return bytes(out)


def bmp_resized(data: bytes, width: int, height: int) -> bytes:
    out = bytearray(data)
    struct.pack_into("<ii", out, 18, width, height)
    return bytes(out)


def bmp_rle8(width: int, height: int) -> bytes:
    """An 8-bit RLE BMP of runs of 255 pixels: a few bytes per row, any size."""
    runs = bytearray()
    left = width
    while left:
        count = min(255, left)
        runs += bytes([count, 200])
        left -= count
    pixels = bytes(runs + b"\x00\x00") * height + b"\x00\x01"
    palette = b"".join(bytes([i, i, i, 0]) for i in range(256))
    offset = 14 + 40 + len(palette)
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 8, 1, len(pixels), 2835, 2835, 0, 0)
    return (
        b"BM" + struct.pack("<IHHI", offset + len(pixels), 0, 0, offset) + info + palette + pixels
    )


TiffPage = tuple[dict[int, list[int]], bytes]


def tiff(pages: list[TiffPage]) -> bytes:
    """A little-endian TIFF, one strip per page; identical strips are stored once.

    Each page is ``({tag: values}, strip bytes)``; StripOffsets, StripByteCounts and
    RowsPerStrip (the height) are filled in unless given.
    """
    out = bytearray(b"II*\x00\x00\x00\x00\x00")
    where: dict[bytes, int] = {}
    for _, strip in pages:
        if strip not in where:
            where[strip] = len(out)
            out += strip + b"\x00" * (len(strip) % 2)
    next_at = 4
    for tags, strip in pages:
        tags = {273: [where[strip]], 279: [len(strip)], 278: tags[257], **tags}
        start = len(out)
        struct.pack_into("<I", out, next_at, start)
        values_at = start + 2 + 12 * len(tags) + 4
        entries, values = b"", b""
        for tag, numbers in sorted(tags.items()):
            kind, code = (4, "I") if max(numbers) > 0xFFFF else (3, "H")
            packed = struct.pack(f"<{len(numbers)}{code}", *numbers)
            if len(packed) <= 4:
                field = packed.ljust(4, b"\x00")
            else:
                field = struct.pack("<I", values_at + len(values))
                values += packed + b"\x00" * (len(packed) % 2)
            entries += struct.pack("<HHI", tag, kind, len(numbers)) + field
        out += struct.pack("<H", len(tags)) + entries + b"\x00\x00\x00\x00" + values
        next_at = start + 2 + 12 * len(tags)
    return bytes(out)


def g4_blank(width: int, height: int) -> TiffPage:
    """A white CCITT G4 page: each row is one vertical-mode V0 code, a single 1 bit."""
    tags = {256: [width], 257: [height], 258: [1], 259: [4], 262: [0], 277: [1]}
    return tags, b"\xff" * ((height + 7) // 8)


def deflate_page(width: int, height: int, bits: int = 8, samples: int = 1) -> TiffPage:
    """A white Adobe-deflate page in one strip, compressed as it streams."""
    photometric = 1 if samples == 1 else 2
    tags = {256: [width], 257: [height], 258: [bits] * samples, 259: [8], 262: [photometric]}
    tags[277] = [samples]
    if samples == 4:
        tags[338] = [2]  # ExtraSamples: unassociated alpha
    row = b"\xff" * (width * samples * bits // 8)
    stream = zlib.compressobj(1)
    return tags, b"".join(stream.compress(row) for _ in range(height)) + stream.flush()


def text_page(height: int = 200, width: int = 320, seed: int = 0) -> np.ndarray:
    """A bilevel page with irregular 'words' (True is white), like a scanned form."""
    rng = np.random.default_rng(seed)
    bits = np.ones((height, width), bool)
    for top in range(10, height - 20, 18):
        left = 10
        while left < width - 40:
            length = int(rng.integers(8, 40))
            bits[top : top + 10, left : left + length] = rng.random((10, length)) > 0.45
            left += length + int(rng.integers(4, 12))
    return bits


def tiff_strip(data: bytes, page: int = 0) -> tuple[int, int]:
    """(offset, byte count) of the first strip of page `page` of a Pillow TIFF."""
    with Image.open(BytesIO(data)) as img:
        img.seek(page)
        return img.tag_v2[273][0], img.tag_v2[279][0]


# ------------------------------------------------------------------------------ checks


def write(tmp_path: Path, data: bytes, name: str = "file.img") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def refused(path: Path, pattern: str = r".+", **kwargs: object) -> str:
    with pytest.raises(InputError) as info:
        mio.read_pages(path, **kwargs)  # type: ignore[arg-type]
    reason = info.value.reason
    assert re.fullmatch(pattern, reason, re.DOTALL), reason
    assert info.value.path == str(path)
    return reason


def check_page(page: Page, shape: tuple[int, int] | None = None) -> np.ndarray:
    image = page.image
    assert image.dtype == np.uint8 and image.ndim == 2
    assert image.flags.c_contiguous and image.flags.writeable
    if shape is not None:
        assert image.shape == shape
    return image


def refused_or_intact(path: Path, reference: list[Page]) -> None:
    """Either an InputError with a reason, or exactly the pages of the intact file."""
    try:
        pages = mio.read_pages(path)
    except InputError as error:
        assert error.reason and error.path == str(path)
        return
    assert len(pages) == len(reference)
    for page, expected in zip(pages, reference, strict=True):
        np.testing.assert_array_equal(check_page(page), expected.image)


def no_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args: object) -> None:
        raise AssertionError("pixel data was decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", fail)
    monkeypatch.setattr(cv2, "imdecode", fail)  # plain gray PNGs: libpng through OpenCV


GRAY = Image.fromarray(noise())
VALID = {
    "PNG": encode(GRAY, "PNG"),
    "JPEG": encode(GRAY, "JPEG", quality=90),
    "JPEG-progressive": encode(GRAY.convert("RGB"), "JPEG", progressive=True),
    "TIFF": encode(GRAY, "TIFF"),
    "TIFF-lzw": encode(GRAY, "TIFF", compression="tiff_lzw"),
    "BMP": encode(GRAY, "BMP"),
}


# -------------------------------------------------------------------------- truncation


@pytest.mark.parametrize("fmt", sorted(VALID))
@pytest.mark.parametrize("cut", [1, 2, 4, 8, 12, 16, 24, 33, 60, 100, 0.25, 0.5, 0.75, -2, -1])
def test_truncated_file_is_refused_or_intact(tmp_path: Path, fmt: str, cut: float) -> None:
    data = VALID[fmt]
    at = int(len(data) * cut) if isinstance(cut, float) else cut % len(data)
    reference = mio.read_pages(write(tmp_path, data, "whole"))
    path = write(tmp_path, data[:at], "cut")
    refused_or_intact(path, reference)


@pytest.mark.parametrize("fmt", ["PNG", "TIFF", "BMP", "JPEG"])
def test_cut_in_the_pixel_data_is_refused(tmp_path: Path, fmt: str) -> None:
    data = VALID[fmt]
    refused(write(tmp_path, data[: len(data) * 2 // 3]), r"truncated or corrupt image data .+")


def test_short_png_stream_is_refused(tmp_path: Path) -> None:
    # A well-formed zlib stream that stops after 10 of 48 rows: Pillow would zero-fill.
    rows = b"".join(b"\x00" + bytes([i]) * 64 for i in range(10))
    ihdr = struct.pack(">IIBBBBB", 64, 48, 8, 0, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(rows))
    path = write(tmp_path, data + chunk(b"IEND", b""))
    refused(path, re.escape("truncated or corrupt image data (PNG: the image data holds 650 of "
                            "the 3120 bytes the header declares)"))  # fmt: skip


def test_jpeg_ending_early_is_refused(tmp_path: Path) -> None:
    # The header says 4000 x 4000; libjpeg would fill the missing blocks with gray.
    path = write(tmp_path, jpeg_resized(VALID["JPEG"], 4000, 4000))
    refused(path, r"truncated or corrupt image data \(JPEG: the file's \d+ bytes cannot hold "
                  r"the 250000 blocks of a 4000 x 4000 image\)")  # fmt: skip


# ------------------------------------------------------------------------- wrong magic


WRONG_MAGIC = {
    "png-first-byte": b"\x88" + VALID["PNG"][1:],
    "png-magic-jpeg-body": VALID["PNG"][:8] + VALID["JPEG"][2:],
    "jpeg-magic-png-body": b"\xff\xd8" + VALID["PNG"][8:],
    "jpeg-eoi-first": b"\xff\xd9" + VALID["JPEG"][2:],
    "tiff-version-41": b"II*\x01" + VALID["TIFF"][4:],
    "tiff-wrong-byte-order": b"MM\x00*" + VALID["TIFF"][4:],
    "bmp-bn": b"BN" + VALID["BMP"][2:],
    "bmp-magic-png-body": b"BM" + VALID["PNG"][2:],
    "png-ihdr-renamed": VALID["PNG"][:12] + b"IHDX" + VALID["PNG"][16:],
    "only-zeros": bytes(4096),
    "only-ff": b"\xff" * 4096,
}


@pytest.mark.parametrize("name", sorted(WRONG_MAGIC))
def test_wrong_magic_is_refused(tmp_path: Path, name: str) -> None:
    refused(write(tmp_path, WRONG_MAGIC[name], f"{name}.png"))


# ------------------------------------------------------------------- bombs by header


def tile_bomb() -> bytes:
    tags = {256: [64], 257: [48], 258: [8], 259: [8], 262: [1], 277: [1]}
    tags.update({322: [65520], 323: [65520], 324: [8], 325: [100]})  # one 4 GB tile
    data = bytearray(tiff([(tags, zlib.compress(b"\xff" * 100))]))
    return bytes(data)


HEADER_BOMBS: dict[str, tuple[Callable[[], bytes], str]] = {
    "png-100k-square": (lambda: png_resized(VALID["PNG"], 100_000, 100_000),
                        r"image is 100000 x 100000 = 10000 MP, over the limit of 150 MP .+"),
    "jpeg-65k-square": (lambda: jpeg_resized(VALID["JPEG"], 65535, 65535),
                        r"image is 65535 x 65535 = 4294.84 MP, over the limit of 150 MP .+"),
    "tiff-1m-square": (lambda: tiff([({256: [10**6], 257: [10**6], 258: [8], 259: [1],
                                       262: [1]}, b"\x00" * 64)]),
                       r"image is 1000000 x 1000000 = 1e\+06 MP, over the limit of 150 MP .+"),
    "bmp-100k-square": (lambda: bmp_resized(VALID["BMP"], 100_000, 100_000),
                        r"image is 100000 x 100000 = 10000 MP, over the limit of 150 MP .+"),
    "bmp-100k-top-down": (lambda: bmp_resized(VALID["BMP"], 100_000, -100_000),
                          r"image is 100000 x 100000 = 10000 MP, over the limit of 150 MP .+"),
    "png-rgba-12k-tiny": (lambda: png(12000, 12000, color=6, rows=3),
                          r"truncated or corrupt image data \(PNG: the image data holds \d+ of "
                          r"the 576012000 bytes the header declares\)"),
    "jpeg-12k-tiny": (lambda: jpeg_resized(VALID["JPEG"], 12000, 12000),
                      r"truncated or corrupt image data \(JPEG: the file's \d+ bytes cannot "
                      r"hold the 2250000 blocks of a 12000 x 12000 image\)"),
    "jpeg-progressive-12k": (lambda: jpeg_resized(VALID["JPEG-progressive"], 12000, 12000),
                             r"reading this 12000 x 12000 RGB image needs about \d+ MiB, over the "
                             r"limit of 1024 MiB \(max_memory=1073741824\)"),
    "tiff-4gb-tile": (tile_bomb, r"reading this 64 x 48 L image needs about \d+ MiB, over the "
                                 r"limit of 1024 MiB \(max_memory=1073741824\)"),
    "tiff-rgba16-one-strip": (lambda: tiff([({**deflate_page(16, 16, 16, 4)[0], 256: [12000],
                                              257: [12000], 278: [12000]}, b"x" * 64)]),
                              r"reading this 12000 x 12000 RGBA image needs about \d+ MiB, over "
                              r"the limit of 1024 MiB \(max_memory=1073741824\)"),
    "tiff-30-blank-g4-pages": (lambda: tiff([g4_blank(10000, 7000)] * 30),
                               r"TIFF page_index 4: the file's pages up to page_index 4 total 350 "
                               r"MP, over the limit of 300 MP for one file "
                               r"\(max_total_pixels=300000000\)"),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(HEADER_BOMBS))
def test_header_bomb_is_refused_before_decoding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    build, pattern = HEADER_BOMBS[name]
    data = build()
    assert len(data) < 200_000
    path = write(tmp_path, data, f"{name}.img")
    no_decoding(monkeypatch)
    start = time.perf_counter()
    refused(path, pattern)
    assert time.perf_counter() - start < 5


def test_rle_bmp_claiming_more_rows_than_it_has_is_refused(tmp_path: Path) -> None:
    data = bmp_rle8(3000, 3000)
    path = write(tmp_path, bmp_resized(data, 3000, 6000))
    refused(path, r"truncated or corrupt image data \(BMP: .+\)")


def test_g4_pages_are_refused_before_the_first_is_decoded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, tiff([g4_blank(100, 100)] * 3 + [g4_blank(20000, 20000)]))
    no_decoding(monkeypatch)
    refused(path, r"TIFF page_index 3: image is 20000 x 20000 = 400 MP, over the limit .+")


# ------------------------------------------------------------------------ page shapes


@pytest.mark.parametrize(("width", "height"), [(1, 20000), (20000, 1), (5000, 3), (3, 5000)])
@pytest.mark.parametrize("fmt", ["PNG", "TIFF"])
def test_extreme_aspect_ratio_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: str, width: int, height: int
) -> None:
    if fmt == "PNG":
        data = png(width, height)
    else:
        tags = {256: [width], 257: [height], 258: [8], 259: [1], 262: [1]}
        data = tiff([(tags, b"\xff" * (width * height))])
    path = write(tmp_path, data)
    ratio = max(width, height) / min(width, height)
    no_decoding(monkeypatch)
    reason = (
        f"image is {width} x {height}: its aspect ratio {ratio:.1f}:1 is over 20:1, which "
        "makes no sense for a scanned page (max_aspect=20)"
    )
    refused(path, re.escape(reason))


def test_aspect_ratio_limit_can_be_lifted_for_line_images(tmp_path: Path) -> None:
    path = write(tmp_path, png(1, 20000))
    check_page(mio.read_image(path, max_aspect=None), (20000, 1))
    check_page(mio.read_pages(path, max_aspect=20000)[0], (20000, 1))


def test_aspect_ratio_at_the_limit_is_read(tmp_path: Path) -> None:
    check_page(mio.read_image(write(tmp_path, png(2000, 100))), (100, 2000))


def test_min_side_for_scanned_pages(tmp_path: Path) -> None:
    small = write(tmp_path, png(10, 12), "small.png")
    check_page(mio.read_image(small), (12, 10))  # the default accepts any non-empty image
    reason = (
        "image is 10 x 12: its shorter side (10 px) is under 16 px, too small for a scanned "
        "page (min_side=16)"
    )
    refused(small, re.escape(reason), min_side=mio.MIN_PAGE_SIDE)
    check_page(mio.read_pages(write(tmp_path, png(16, 16)), min_side=16)[0], (16, 16))


# ------------------------------------------------------------------------ pixel modes


@pytest.mark.parametrize("fmt", ["PNG", "TIFF"])
def test_16_bit_gray(tmp_path: Path, fmt: str) -> None:
    values = (np.arange(48 * 64, dtype=np.uint32).reshape(48, 64) * 21 % 65536).astype(np.uint16)
    page = mio.read_image(write(tmp_path, encode(Image.fromarray(values), fmt)))
    expected = ((values.astype(np.uint32) + 128) // 257).astype(np.uint8)
    np.testing.assert_array_equal(check_page(page, (48, 64)), expected)


def test_16_bit_rgb_png(tmp_path: Path) -> None:
    width, height = 20, 10
    rgb = np.full((height, width, 3), 0x8000, dtype=">u2")
    rgb[:, :10] = 0xFFFF
    ihdr = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)
    raw = b"".join(b"\x00" + row.tobytes() for row in rgb)
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw))
    image = check_page(mio.read_image(write(tmp_path, data + chunk(b"IEND", b""))), (10, 20))
    assert image[:, :10].min() == 255 and image[:, 10:].max() == 128


@pytest.mark.parametrize("fmt", ["JPEG", "TIFF"])
def test_cmyk(tmp_path: Path, fmt: str) -> None:
    img = Image.new("CMYK", (40, 20), (0, 0, 0, 0))
    img.paste((0, 0, 0, 255), (0, 0, 20, 20))
    image = check_page(mio.read_image(write(tmp_path, encode(img, fmt))), (20, 40))
    assert image[:, :16].max() < 10 and image[:, 24:].min() > 245


def test_palette_with_partial_alpha(tmp_path: Path) -> None:
    img = Image.fromarray(np.array([[0, 1, 2, 3]], dtype=np.uint8), "P")
    img.putpalette([0, 0, 0, 255, 255, 255, 100, 100, 100, 0, 0, 0] + [0] * 756)
    data = encode(img, "PNG", transparency=bytes([255, 0, 128, 64]))
    image = check_page(mio.read_image(write(tmp_path, data)), (1, 4))
    expected = [round((luma * a + 255 * (255 - a)) / 255) for luma, a in
                [(0, 255), (255, 0), (100, 128), (0, 64)]]  # fmt: skip
    assert image.tolist() == [expected]


def test_palette_alpha_band_by_band_matches_whole_image(tmp_path: Path) -> None:
    # 1200 x 2000 RGBA is converted in several bands: they must join exactly.
    rgba = np.random.default_rng(5).integers(0, 256, (2000, 1200, 4), dtype=np.uint8)
    image = check_page(mio.read_image(write(tmp_path, encode(Image.fromarray(rgba), "PNG"))))
    luma = np.asarray(Image.fromarray(rgba).convert("L"), dtype=np.uint32)
    alpha = rgba[..., 3].astype(np.uint32)
    np.testing.assert_array_equal(image, (luma * alpha + 255 * (255 - alpha) + 127) // 255)


# orientation -> is the top-left mark now (at the top, at the left) of the upright page?
MARK_CORNER = {1: (True, True), 2: (True, False), 3: (False, False), 4: (False, True),
               5: (True, True), 6: (True, False), 7: (False, False), 8: (False, True)}  # fmt: skip


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("fmt", ["JPEG", "TIFF", "PNG"])
def test_exif_orientation(tmp_path: Path, fmt: str, orientation: int) -> None:
    pixels = np.full((20, 40), 255, np.uint8)
    pixels[:6, :10] = 0  # a mark in the top-left corner of the stored image
    exif = Image.Exif()
    exif[0x0112] = orientation
    options: dict[str, object] = {"exif": exif, "dpi": (100, 200)}
    if fmt == "JPEG":
        options["quality"] = 95
    path = write(tmp_path, encode(Image.fromarray(pixels), fmt, **options))
    page = mio.read_image(path)
    # Not Image.open(path): Pillow memory-maps an uncompressed TIFF opened by name, and
    # then forgets to turn it. From bytes, it turns a TIFF upright while loading it.
    with Image.open(BytesIO(path.read_bytes())) as img:
        img.load()
        expected = np.asarray(ImageOps.exif_transpose(img).convert("L"))
    np.testing.assert_array_equal(check_page(page, expected.shape), expected)
    turned = orientation in (5, 6, 7, 8)
    assert page.shape == ((40, 20) if turned else (20, 40))
    top, left = MARK_CORNER[orientation]
    rows = slice(0, 5) if top else slice(-5, None)
    columns = slice(0, 5) if left else slice(-5, None)
    assert page.image[rows, columns].mean() < 40  # where the viewer shows the mark
    assert page.dpi == pytest.approx(200.0 if turned else 100.0, abs=0.1)


def test_invalid_orientation_is_ignored(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 9
    path = write(tmp_path, encode(GRAY, "JPEG", exif=exif, quality=95))
    check_page(mio.read_image(path), (48, 64))


# ------------------------------------------------------------------- multi-page TIFF


def test_multipage_tiff_with_a_bad_page(tmp_path: Path) -> None:
    pages = [Image.fromarray(noise(seed=s)) for s in range(4)]
    data = bytearray(encode(pages[0], "TIFF", compression="tiff_lzw", save_all=True,
                            append_images=pages[1:]))  # fmt: skip
    offset, count = tiff_strip(bytes(data), 2)
    data[offset : offset + count] = b"\x00" * count
    path = write(tmp_path, bytes(data))
    refused(path, r"truncated or corrupt image data \(TIFF page_index 2: .+\)")
    np.testing.assert_array_equal(check_page(mio.read_image(path)), noise(seed=0))


def test_many_pages_over_the_total_pixels(tmp_path: Path) -> None:
    path = write(tmp_path, tiff([g4_blank(2000, 2000)] * 10))
    refused(path, r"TIFF page_index 7: the file's pages up to page_index 7 total 32 MP, over the "
                  r"limit of 30 MP for one file \(max_total_pixels=30000000\)",
            max_total_pixels=30_000_000)  # fmt: skip
    pages = mio.read_pages(path)
    assert [p.page_index for p in pages] == list(range(10))
    assert all(int(p.image.min()) == 255 and p.shape == (2000, 2000) for p in pages)


def test_more_pages_than_max_pages(tmp_path: Path) -> None:
    path = write(tmp_path, tiff([g4_blank(16, 16)] * 1001))
    refused(path, re.escape("TIFF has more than 1000 pages (max_pages=1000)"))
    assert len(mio.read_pages(path, max_pages=1001)) == 1001
    refused(path, re.escape("TIFF has more than 5 pages (max_pages=5)"), max_pages=5)
    check_page(mio.read_image(path), (16, 16))


def test_memory_limit_counts_the_pages_already_read(tmp_path: Path) -> None:
    path = write(tmp_path, tiff([g4_blank(1000, 1000)] * 40))
    refused(path, r"TIFF page_index \d+: reading this 1000 x 1000 1 image with the pages before "
                  r"it needs about \d+ MiB, over the limit of 50 MiB \(max_memory=52428800\)",
            max_memory=50 << 20)  # fmt: skip


def test_half_page_and_page_strip(tmp_path: Path) -> None:
    half = np.full((1754, 2480), 250, np.uint8)  # A5 landscape at 300 dpi: half an A4
    half[100:140, 200:1800] = 20
    page = mio.read_image(write(tmp_path, encode(Image.fromarray(half), "PNG", dpi=(300, 300))))
    np.testing.assert_array_equal(check_page(page, (1754, 2480)), half)
    assert page.dpi == pytest.approx(300.0, abs=0.01)
    strip = write(tmp_path, encode(Image.fromarray(half[:150]), "TIFF"), "strip.tif")
    check_page(mio.read_image(strip), (150, 2480))  # 16.5:1, a band cut from a page


# -------------------------------------------------------------------------- CCITT G3/G4


@pytest.mark.parametrize("compression", ["group4", "group3"])
def test_valid_fax_tiff_is_read(tmp_path: Path, compression: str) -> None:
    bits = text_page()
    page = mio.read_image(write(tmp_path, encode(Image.fromarray(bits), "TIFF",
                                                 compression=compression)))  # fmt: skip
    np.testing.assert_array_equal(check_page(page, bits.shape), np.where(bits, 255, 0))


def zero_run(strip: bytearray, at: int) -> None:
    strip[at : at + 12] = bytes(12)


def ff_run(strip: bytearray, at: int) -> None:
    strip[at : at + 12] = b"\xff" * 12


def flip_bytes(strip: bytearray, at: int) -> None:
    for i in range(0, 40, 5):
        strip[at + i] ^= 0xA5


CORRUPTIONS: dict[str, Callable[[bytearray, int], None]] = {
    "zero-run": zero_run,
    "ff-run": ff_run,
    "flipped-bytes": flip_bytes,
}


@pytest.mark.parametrize("where", [0.1, 0.5, 0.8])
@pytest.mark.parametrize("corruption", sorted(CORRUPTIONS))
@pytest.mark.parametrize("compression", ["group4", "group3"])
def test_corrupt_fax_tiff_is_refused(
    tmp_path: Path, compression: str, corruption: str, where: float
) -> None:
    data = bytearray(encode(Image.fromarray(text_page()), "TIFF", compression=compression))
    offset, count = tiff_strip(bytes(data))
    strip = data[offset : offset + count]
    CORRUPTIONS[corruption](strip, int(count * where))
    data[offset : offset + count] = strip
    refused(write(tmp_path, bytes(data)),
            r"truncated or corrupt image data \(TIFF: (libtiff: )?.+\)")  # fmt: skip


def test_fax_strip_cut_short_is_refused(tmp_path: Path) -> None:
    data = bytearray(encode(Image.fromarray(text_page()), "TIFF", compression="group4"))
    offset, count = tiff_strip(bytes(data))
    with Image.open(BytesIO(bytes(data))) as img:
        entry = data.index(struct.pack("<HHI", 279, 4, 1)) + 8
        assert img.tag_v2[279][0] == count
    struct.pack_into("<I", data, entry, count // 2)
    refused(write(tmp_path, bytes(data)), r"truncated or corrupt image data \(TIFF: .+\)")


def test_corrupt_g4_second_page_is_named(tmp_path: Path) -> None:
    pages = [Image.fromarray(text_page(seed=s)) for s in range(3)]
    data = bytearray(encode(pages[0], "TIFF", compression="group4", save_all=True,
                            append_images=pages[1:]))  # fmt: skip
    offset, count = tiff_strip(bytes(data), 1)
    data[offset + count // 2 : offset + count // 2 + 12] = bytes(12)
    path = write(tmp_path, bytes(data))
    refused(path, r"truncated or corrupt image data \(TIFF page_index 1: libtiff: .+\)")
    check_page(mio.read_image(path), (200, 320))


def test_fax_check_uses_a_libtiff() -> None:
    assert mio._libtiff() is not None  # Pillow's wheels bundle libtiff 4.7


# ------------------------------------------------------------------ names and file types

ODD_NAMES = [
    "décès été 2024.png",
    "死亡証明書.png",
    "scan with  two  spaces.png",
    "line\nbreak.png",
    "tab\there.png",
    "-starts-with-dash.png",
    "#hash ?question*star.png",
    "no_extension",
    "wrong.pdf",
    "trailing space .png ",
    "a" * 200 + ".png",
    "emoji 📄.png",
]


@pytest.mark.parametrize("name", ODD_NAMES)
def test_odd_file_names(tmp_path: Path, name: str) -> None:
    path = write(tmp_path, VALID["PNG"], name)
    page = mio.read_image(path)
    np.testing.assert_array_equal(check_page(page), noise())
    assert page.source == str(path)
    with pytest.raises(InputError) as info:
        mio.read_image(tmp_path / ("missing " + name))
    assert info.value.reason == "file not found"


def test_symlinks(tmp_path: Path) -> None:
    target = write(tmp_path, VALID["PNG"], "target.png")
    link = tmp_path / "link.png"
    link.symlink_to(target)
    check_page(mio.read_image(link), (48, 64))
    dangling = tmp_path / "dangling.png"
    dangling.symlink_to(tmp_path / "nowhere.png")
    refused(dangling, re.escape("file not found"))
    loop = tmp_path / "loop.png"
    loop.symlink_to(loop)
    refused(loop, r"(file not found|cannot read file .+)")


@pytest.mark.skipif(not os.path.exists("/dev/null"), reason="needs /dev/null")
def test_device_is_refused() -> None:
    refused(Path("/dev/null"), re.escape("not a regular file (device, pipe or socket)"))


def test_directory_named_like_an_image(tmp_path: Path) -> None:
    folder = tmp_path / "scan.tif"
    folder.mkdir()
    refused(folder, re.escape("is a directory, not a file"))


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("gif", encode(GRAY, "GIF")),
        ("ico", encode(GRAY, "ICO")),
        ("pdf", encode(GRAY.convert("RGB"), "PDF")),
        ("webp-like", b"RIFF\x00\x00\x00\x00WEBPVP8 " + bytes(64)),
        ("tga", encode(GRAY, "TGA")),
        ("ppm", encode(GRAY, "PPM")),
        ("utf16-text", "cause: arrêt cardiaque".encode("utf-16")),
        ("elf", b"\x7fELF" + bytes(60)),
    ],
)
def test_other_file_types_are_refused(tmp_path: Path, name: str, data: bytes) -> None:
    refused(write(tmp_path, data, f"{name}.png"))


# ------------------------------------------------------------ failures become InputError


@pytest.mark.parametrize(
    ("error", "pattern"),
    [
        (RuntimeError("boom"), r"truncated or corrupt image data \(PNG: boom\)"),
        (ValueError(), r"truncated or corrupt image data \(PNG: ValueError\)"),
        (FloatingPointError("nan"), r"truncated or corrupt image data \(PNG: nan\)"),
        (MemoryError(), re.escape("out of memory while decoding the image (PNG)")),
        (KeyError("x"), r"truncated or corrupt image data \(PNG: 'x'\)"),
    ],
)
@pytest.mark.parametrize("mode", ["L", "RGB"])  # libpng (plain gray) or Pillow decodes
def test_any_decoding_failure_becomes_input_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: Exception, pattern: str, mode: str
) -> None:
    path = write(tmp_path, encode(GRAY.convert(mode), "PNG"))

    def fail(*args: object) -> None:
        raise error

    monkeypatch.setattr(ImageFile.ImageFile, "load", fail)
    monkeypatch.setattr(cv2, "imdecode", fail)
    refused(path, pattern)


def test_failure_while_converting_becomes_input_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, encode(Image.fromarray(np.zeros((20, 30, 4), np.uint8)), "TIFF"))

    def fail(*args: object) -> None:
        raise MemoryError

    monkeypatch.setattr(mio, "_flatten_alpha", fail)
    refused(path, re.escape("out of memory while decoding the image (TIFF)"))


def test_memory_error_on_a_later_page_names_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, tiff([g4_blank(32, 32)] * 3))
    calls = []
    original = mio._to_gray

    def second_fails(path: object, img: Image.Image) -> np.ndarray:
        calls.append(1)
        if len(calls) == 2:
            raise MemoryError
        return original(path, img)  # type: ignore[arg-type]

    monkeypatch.setattr(mio, "_to_gray", second_fails)
    refused(path, re.escape("out of memory while decoding the image (TIFF page_index 1)"))


# --------------------------------------------------------------------- keyword limits


@pytest.mark.parametrize(
    ("keyword", "value"),
    [
        ("max_total_pixels", 0),
        ("max_memory", -1),
        ("max_pages", 1.5),
        ("min_side", True),
        ("max_aspect", 0.5),
        ("max_aspect", float("nan")),
        ("max_aspect", "20"),
    ],
)
def test_bad_limit_is_a_value_error(tmp_path: Path, keyword: str, value: object) -> None:
    path = write(tmp_path, VALID["PNG"])
    with pytest.raises(ValueError, match=f"^{keyword} must be "):
        mio.read_pages(path, **{keyword: value})  # type: ignore[arg-type]


def test_documented_defaults() -> None:
    assert mio.DEFAULT_MAX_PIXELS == 150_000_000
    assert mio.DEFAULT_MAX_TOTAL_PIXELS == 300_000_000
    assert mio.DEFAULT_MAX_MEMORY == 1 << 30
    assert mio.DEFAULT_MAX_PAGES == 1000
    assert mio.MAX_PAGE_ASPECT == 20
    assert mio.MIN_PAGE_SIDE == 16
    for name in ("DEFAULT_MAX_MEMORY", "DEFAULT_MAX_TOTAL_PIXELS", "MAX_PAGE_ASPECT"):
        assert name in mio.__all__ and name in (mio.__doc__ or "") + str(mio.read_pages.__doc__)


# ------------------------------------------------------------------------ peak memory

PEAK_CODE = r"""
import json, resource, sys
limit = int(1.5 * 2**30)
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
from medocr import io as mio
from medocr.errors import InputError
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    pages = mio.read_pages(sys.argv[1])
    outcome = "pages " + " ".join(f"{p.shape[0]}x{p.shape[1]}" for p in pages)
except InputError as error:
    outcome = "InputError: " + error.reason
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"outcome": outcome, "before": before * 1024, "peak": after * 1024}))
"""

PEAK_CASES: dict[str, tuple[Callable[[], bytes], str]] = {
    "png-rgba-12k": (lambda: png(12000, 12000, color=6), "pages 12000x12000"),
    "png-gray16-12k": (lambda: png(12000, 12000, depth=16), "pages 12000x12000"),
    "png-gray-150mp": (lambda: png(15000, 10000), "pages 10000x15000"),
    "tiff-deflate-gray16-12k": (lambda: tiff([deflate_page(12000, 12000, 16)]),
                                "pages 12000x12000"),
    "bmp-rle8-12k": (lambda: bmp_rle8(12000, 12000), "pages 12000x12000"),
    "png-rgba-12k-cut": (lambda: png(12000, 12000, color=6, rows=100),
                         "InputError: truncated or corrupt image data (PNG: the image data holds"),
    "jpeg-progressive-12k": (lambda: jpeg_resized(VALID["JPEG-progressive"], 12000, 12000),
                             "InputError: reading this 12000 x 12000 RGB image needs about"),
    "tiff-4gb-tile": (tile_bomb, "InputError: reading this 64 x 48 L image needs about"),
    "tiff-30-blank-g4-pages": (lambda: tiff([g4_blank(10000, 7000)] * 30),
                               "InputError: TIFF page_index 4: the file's pages up to"),
}  # fmt: skip


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_AS and ru_maxrss in KiB: Linux")
@pytest.mark.parametrize("name", sorted(PEAK_CASES))
def test_peak_memory_of_hostile_files(tmp_path: Path, name: str) -> None:
    build, outcome = PEAK_CASES[name]
    path = write(tmp_path, build(), f"{name}.img")
    result = subprocess.run(
        [sys.executable, "-c", PEAK_CODE, str(path)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["outcome"].startswith(outcome), report
    assert report["peak"] <= GB, report
    assert report["peak"] - report["before"] <= mio.DEFAULT_MAX_MEMORY, report


def test_pillow_tiff_complaints_stay_off_the_console():
    """Pillow logs corrupt-TIFF complaints at error level; the InputError already says it."""
    import subprocess
    import sys

    code = (
        "import logging, medocr.io; "
        "logging.getLogger('PIL.TiffImagePlugin').error('More samples per pixel than can be "
        "decoded: 771')"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stderr == ""
