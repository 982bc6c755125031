"""Builders several test modules share: noise images, encoded files, PNG chunks, frames.

Imported as ``from helpers import ...``: pytest puts ``tests/`` (the folder of the
top-level conftest.py) on ``sys.path``.
"""

from __future__ import annotations

import struct
import zlib
from io import BytesIO

import numpy as np
from PIL import Image

from medocr.text import Alphabet
from medocr.types import FrameProbs


def noise(height: int = 48, width: int = 64, seed: int = 0) -> np.ndarray:
    """A uint8 ``(height, width)`` image of uniform random gray levels."""
    return np.random.default_rng(seed).integers(0, 256, (height, width), dtype=np.uint8)


def encode(img: Image.Image, fmt: str, **kwargs: object) -> bytes:
    """The bytes of `img` saved by Pillow as `fmt` (with Pillow's save options)."""
    buf = BytesIO()
    img.save(buf, fmt, **kwargs)
    return buf.getvalue()


def chunk(ctype: bytes, data: bytes) -> bytes:
    """A PNG chunk: length, type, data and CRC."""
    return struct.pack(">I", len(data)) + ctype + data + struct.pack(">I", zlib.crc32(ctype + data))


def spelled(
    alphabet: Alphabet, text: str, confusions: dict[int, tuple[str, float]] | None = None
) -> FrameProbs:
    """Frames spelling `text`: one per character (0.96 on it, 0.04 spread), then a blank one.

    ``confusions[i] = (other, p)`` moves probability p of character i to `other`. An empty
    `text` gives one blank frame.
    """
    n = alphabet.num_classes
    rows = []
    for i, char in enumerate(text):
        row = np.full(n, 0.04 / (n - 1))
        row[alphabet.chars.index(char)] = 0.96
        if confusions and i in confusions:
            other, p = confusions[i]
            row[alphabet.chars.index(char)] -= p
            row[alphabet.chars.index(other)] += p
        blank = np.full(n, 0.04 / (n - 1))
        blank[alphabet.blank] = 0.96
        rows += [row, blank]
    if not rows:  # nothing written: one blank frame
        rows = [np.eye(n)[alphabet.blank]]
    return FrameProbs(np.array(rows, dtype=np.float32), alphabet)
