"""Fuzz medocr's image reader: mutate small valid PNG, JPEG, TIFF and BMP files.

Each case takes one seed file (:func:`seeds`), applies one to four mutations
(:func:`mutate`: bit flips, byte and integer overwrites, truncation, insertion,
deletion, duplication, and structure-aware header edits that re-seal PNG CRCs), writes
the bytes to one scratch file and reads it with :func:`medocr.io.read_pages` under small
limits (:data:`LIMITS`). The only acceptable outcomes are pages that are ``uint8``,
2-D and C-contiguous, or an :class:`~medocr.errors.InputError`; anything else, and a
peak memory over :data:`MEMORY_BOUND` bytes above the resident size before the case,
is a failure.

Run as a script (``make fuzz``) it spreads the cases over worker processes, each under
an address-space limit, prints the number of cases, the outcome counts, the rate and
every failure (with the seed and mutations that reproduce it), and exits with status 1
when there is any. ``tests/hostile/test_hostile_fuzz.py`` draws the same mutations with
Hypothesis.

Usage::

    python scripts/fuzz_images.py --cases 1000000 --workers 2
"""

from __future__ import annotations

import argparse
import os
import random
import struct
import sys
import tempfile
import time
import traceback
import zlib
from collections import Counter
from collections.abc import Callable, Sequence
from io import BytesIO
from multiprocessing import Pool
from pathlib import Path

import numpy as np
from PIL import Image

from medocr import io as mio
from medocr.errors import InputError

LIMITS: dict[str, int] = {"max_pixels": 4_000_000, "max_memory": 64 << 20, "max_pages": 64}
"""read_pages keywords for fuzzing: a mutated header gets little memory to play with."""

MEMORY_BOUND = (64 + 48) << 20
"""Largest accepted growth of the peak resident size during one case: `max_memory`
plus room for the allocator and Python objects."""

ADDRESS_SPACE = 3 << 30
"""Address-space limit (RLIMIT_AS) of each ``make fuzz`` worker: a runaway
allocation fails instead of swapping."""

INTERESTING = (
    0, 1, 2, 3, 7, 8, 15, 16, 17, 31, 32, 63, 64, 127, 128, 255, 256, 257, 1000, 4095, 4096,
    20000, 32767, 32768, 65535, 65536, 2**24, 2**31 - 1, 2**31, 2**32 - 1,
)  # fmt: skip

OPS = (
    "flip",
    "byte",
    "int16",
    "int32",
    "truncate",
    "insert",
    "delete",
    "duplicate",
    "header",
    "reseal",
)
"""Mutation names; a mutation is ``(name, position, value)`` with two free integers."""

Mutation = tuple[str, int, int]


# ------------------------------------------------------------------------- seed files


def _encode(img: Image.Image, fmt: str, **kwargs: object) -> bytes:
    buf = BytesIO()
    img.save(buf, fmt, **kwargs)
    return buf.getvalue()


def _noise(height: int, width: int, channels: int = 0, seed: int = 0) -> np.ndarray:
    shape = (height, width, channels) if channels else (height, width)
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def _chunk(ctype: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + ctype + data + struct.pack(">I", zlib.crc32(ctype + data))


def _interlaced_png(pixels: np.ndarray) -> bytes:
    """Encode an 8-bit gray Adam7 PNG (Pillow does not write interlaced files)."""
    height, width = pixels.shape
    passes = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2),
              (0, 1, 1, 2))  # fmt: skip
    raw = b"".join(
        b"\x00" + row.tobytes()
        for x0, y0, dx, dy in passes
        for row in pixels[y0::dy, x0::dx]
        if row.size
    )
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 1)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(raw))


def _rle8_bmp(width: int, height: int) -> bytes:
    """Encode an 8-bit RLE BMP (Pillow reads but does not write them): bands of runs."""
    rows = b""
    for y in range(height):
        rows += bytes([width // 2, y * 7 % 256, width - width // 2, 200]) + b"\x00\x00"
    rows += b"\x00\x01"
    palette = b"".join(bytes([i, i, i, 0]) for i in range(256))
    offset = 14 + 40 + len(palette)
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 8, 1, len(rows), 2835, 2835, 256, 0)
    header = b"BM" + struct.pack("<IHHI", offset + len(rows), 0, 0, offset)
    return header + info + palette + rows


def seeds() -> list[tuple[str, bytes]]:
    """Small valid files: ``(name, bytes)``, every format and several modes of each."""
    gray = Image.fromarray(_noise(16, 24))
    rgb = Image.fromarray(_noise(16, 24, 3, seed=1), "RGB")
    rgba = Image.fromarray(_noise(12, 20, 4, seed=2), "RGBA")
    bits = Image.fromarray(_noise(32, 40, seed=3) > 100)
    palette = gray.convert("P")
    exif = Image.Exif()
    exif[0x0112] = 6
    pages = [Image.fromarray(_noise(16, 24, seed=s)) for s in range(3)]
    return [
        ("png-gray", _encode(gray, "PNG")),
        ("png-rgb", _encode(rgb, "PNG", dpi=(300, 300))),
        ("png-rgba", _encode(rgba, "PNG")),
        ("png-palette-trns", _encode(palette, "PNG", transparency=3)),
        ("png-16bit", _encode(Image.fromarray(_noise(8, 12).astype(np.uint16) * 257), "PNG")),
        ("png-bilevel", _encode(bits, "PNG")),
        ("png-interlaced", _interlaced_png(_noise(9, 13, seed=4)) + _chunk(b"IEND", b"")),
        ("jpeg-gray", _encode(gray, "JPEG", quality=80)),
        ("jpeg-rgb", _encode(rgb, "JPEG", quality=80)),
        ("jpeg-progressive", _encode(rgb, "JPEG", quality=80, progressive=True)),
        ("jpeg-cmyk", _encode(rgb.convert("CMYK"), "JPEG")),
        ("jpeg-exif-6", _encode(gray, "JPEG", exif=exif, dpi=(200, 100))),
        ("tiff-raw", _encode(gray, "TIFF")),
        ("tiff-lzw-rgb", _encode(rgb, "TIFF", compression="tiff_lzw")),
        ("tiff-deflate-rgba", _encode(rgba, "TIFF", compression="tiff_adobe_deflate")),
        ("tiff-packbits", _encode(gray, "TIFF", compression="packbits")),
        ("tiff-group4", _encode(bits, "TIFF", compression="group4")),
        ("tiff-group3", _encode(bits, "TIFF", compression="group3")),
        ("tiff-3-pages", _encode(pages[0], "TIFF", save_all=True, append_images=pages[1:])),
        ("tiff-16bit", _encode(Image.fromarray(_noise(8, 12).astype(np.uint16) * 3), "TIFF")),
        ("tiff-big", _encode(gray, "TIFF", big_tiff=True)),
        ("bmp-gray", _encode(gray, "BMP")),
        ("bmp-rgb", _encode(rgb, "BMP")),
        ("bmp-bilevel", _encode(bits, "BMP")),
        ("bmp-rle8", _rle8_bmp(24, 16)),
    ]


# -------------------------------------------------------------------------- mutations


def _interesting(value: int) -> int:
    return INTERESTING[value % len(INTERESTING)] if value % 3 else value >> 2


def _reseal_png(data: bytearray) -> bytearray:
    """Recompute every PNG chunk's CRC, so a mutation reaches the decoder."""
    at = 8
    while at + 12 <= len(data):
        length = struct.unpack_from(">I", data, at)[0]
        end = at + 8 + length
        if end + 4 > len(data):
            break
        struct.pack_into(">I", data, end, zlib.crc32(data[at + 4 : end]))
        at = end + 4
    return data


def _tiff_entries(data: bytes) -> list[int]:
    """Positions of the value fields of every entry of a little-endian TIFF's IFDs."""
    positions: list[int] = []
    if data[:4] != b"II*\x00":
        return positions
    try:
        offset = struct.unpack_from("<I", data, 4)[0]
        for _ in range(8):
            if not offset:
                break
            count = struct.unpack_from("<H", data, offset)[0]
            positions += [offset + 2 + 12 * i + 8 for i in range(min(count, 64))]
            offset = struct.unpack_from("<I", data, offset + 2 + 12 * count)[0]
    except struct.error:
        pass
    return [p for p in positions if p + 4 <= len(data)]


def _header_fields(data: bytes) -> list[tuple[int, str]]:
    """(position, struct format) of the header fields worth overwriting in `data`."""
    if data.startswith(b"\x89PNG"):
        fields = [(16, ">I"), (20, ">I"), (24, ">B"), (25, ">B"), (28, ">B"), (8, ">I")]
    elif data.startswith(b"\xff\xd8"):
        fields = []
        for marker in (b"\xff\xc0", b"\xff\xc2", b"\xff\xda", b"\xff\xc4", b"\xff\xdb"):
            at = data.find(marker)
            if at >= 0:
                fields += [(at + 2, ">H"), (at + 5, ">H"), (at + 7, ">H"), (at + 9, ">B")]
    elif data.startswith(b"II"):
        fields = [(p, "<I") for p in _tiff_entries(data)] + [(4, "<I")]
    elif data.startswith(b"BM"):
        fields = [(2, "<I"), (10, "<I"), (14, "<I"), (18, "<i"), (22, "<i"), (26, "<H"),
                  (28, "<H"), (30, "<I"), (46, "<I")]  # fmt: skip
    else:
        fields = []
    return [(p, f) for p, f in fields if p + struct.calcsize(f) <= len(data)]


def mutate(data: bytes, mutations: Sequence[Mutation]) -> bytes:
    """Apply `mutations` to `data` in order (deterministic: the same input, the same bytes)."""
    out = bytearray(data)
    for name, position, value in mutations:
        size = len(out)
        at = position % (size + 1)
        if name == "flip" and size:
            out[at % size] ^= 1 << (value % 8)
        elif name == "byte" and size:
            out[at % size] = _interesting(value) & 0xFF
        elif name in ("int16", "int32") and size:
            width = 2 if name == "int16" else 4
            order = "<" if value & 1 else ">"
            fmt = order + ("H" if width == 2 else "I")
            start = min(at, max(size - width, 0))
            field = struct.pack(fmt, _interesting(value >> 1) % (1 << (8 * width)))
            out[start : start + width] = field[: size - start]
        elif name == "truncate":
            del out[at:]
        elif name == "insert":
            count = 1 + value % 16
            out[at:at] = random.Random(value).randbytes(count)
        elif name == "delete":
            del out[at : at + 1 + value % 32]
        elif name == "duplicate":
            piece = out[at : at + 1 + value % 64]
            out[at:at] = piece
        elif name == "header":
            fields = _header_fields(bytes(out))
            if fields:
                where, fmt = fields[position % len(fields)]
                bits = 8 * struct.calcsize(fmt)
                number = _interesting(value) % (1 << bits)
                if fmt.endswith("i"):
                    number -= (1 << 32) if number >= 1 << 31 else 0
                struct.pack_into(fmt, out, where, number)
                if out.startswith(b"\x89PNG"):
                    _reseal_png(out)
        elif name == "reseal" and out.startswith(b"\x89PNG"):
            _reseal_png(out)
    return bytes(out)


def random_mutations(rng: random.Random) -> list[Mutation]:
    """One to four mutations drawn with `rng` (``make fuzz``; the test draws with Hypothesis)."""
    count = rng.choice((1, 1, 2, 2, 3, 4))
    return [(rng.choice(OPS), rng.getrandbits(16), rng.getrandbits(32)) for _ in range(count)]


# ------------------------------------------------------------------------------ cases


def _peak_kib() -> int | None:
    """Linux: the resident high-water mark (VmHWM), in KiB; None elsewhere."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _rss_kib() -> int | None:
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_peak() -> bool:
    """Reset VmHWM to the current resident size (Linux >= 4.0); False when not possible."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as clear:
            clear.write("5")
    except OSError:
        return False
    return True


def check_case(path: Path, data: bytes, limits: dict[str, int] | None = None) -> str:
    """Write `data` to `path`, read it, and return the outcome.

    Returns
    -------
    str
        ``"pages"`` or ``"InputError"``.

    Raises
    ------
    AssertionError
        The pages are malformed, or the case's peak memory grew by more than
        :data:`MEMORY_BOUND`.
    Exception
        Anything :func:`medocr.io.read_pages` raised that is not an InputError.
    """
    path.write_bytes(data)
    measured = _reset_peak()
    before = _rss_kib() if measured else None
    try:
        pages = mio.read_pages(path, **(LIMITS if limits is None else limits))
    except InputError as error:
        assert error.reason and error.path == str(path), error
        outcome = "InputError"
    else:
        assert pages, "no pages"
        for page in pages:
            image = page.image
            assert image.dtype == np.uint8 and image.ndim == 2, (image.dtype, image.shape)
            assert image.flags.c_contiguous and image.flags.writeable
            assert min(image.shape) >= 1
        outcome = "pages"
    if before is not None:
        peak = _peak_kib()
        if peak is not None:
            grown = (peak - before) * 1024
            assert grown <= MEMORY_BOUND, f"peak memory grew by {grown / 2**20:.0f} MiB"
    return outcome


def scratch_root() -> str | None:
    """Return a RAM-backed folder for the scratch file if there is one (/dev/shm), else None.

    Rewriting a file on a journalled disk costs milliseconds, more than reading it.
    """
    shm = "/dev/shm"
    return shm if os.path.isdir(shm) and os.access(shm, os.W_OK) else None


# --------------------------------------------------------------------------- workers


def _limit_address_space() -> None:
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))
    except (ImportError, ValueError, OSError):
        pass


def _run_slice(job: tuple[int, int, int, str]) -> tuple[Counter[str], list[str]]:
    """Run cases ``start..stop`` of run `seed` in this worker; outcomes and failures."""
    start, stop, seed, folder = job
    _limit_address_space()
    files = seeds()
    path = Path(folder) / f"case-{os.getpid()}"
    outcomes: Counter[str] = Counter()
    failures: list[str] = []
    for number in range(start, stop):
        rng = random.Random(f"{seed}:{number}")
        name, data = files[rng.randrange(len(files))]
        mutations = random_mutations(rng)
        try:
            outcomes[check_case(path, mutate(data, mutations))] += 1
        except Exception:  # noqa: BLE001 - every other outcome is the finding
            outcomes["failure"] += 1
            failures.append(
                f"case {number} seed {name} mutations {mutations}:\n{traceback.format_exc()}"
            )
    return outcomes, failures


def main(argv: Sequence[str] | None = None) -> int:
    """Run the fuzz campaign; 0 when every case gave pages or an InputError."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=1_000_000, help="number of cases")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--seed", type=int, default=0, help="run seed (cases are reproducible)")
    parser.add_argument("--slice", type=int, default=2000, help="cases per job")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    outcomes: Counter[str] = Counter()
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="medocr-fuzz-", dir=scratch_root()) as folder:
        jobs = [
            (start, min(start + args.slice, args.cases), args.seed, folder)
            for start in range(0, args.cases, args.slice)
        ]
        run: Callable[..., object]
        with Pool(args.workers, maxtasksperchild=50) as pool:
            run = pool.imap_unordered
            for done, (counts, found) in enumerate(run(_run_slice, jobs), 1):
                outcomes.update(counts)
                failures += found
                for failure in found:
                    print(failure, file=sys.stderr, flush=True)
                if done % 50 == 0 or done == len(jobs):
                    seconds = time.perf_counter() - started
                    total = sum(outcomes.values())
                    print(
                        f"{total} cases, {dict(outcomes)}, {total / seconds:.0f} cases/s",
                        flush=True,
                    )
    seconds = time.perf_counter() - started
    total = sum(outcomes.values())
    print(
        f"fuzz_images: {total} cases in {seconds:.0f} s ({total / seconds:.0f} cases/s): "
        f"{outcomes['pages']} read, {outcomes['InputError']} InputError, "
        f"{outcomes['failure']} failures"
    )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
