"""Handwriting fonts for synthesis: discovery, glyph coverage, safe substitution.

Fonts come from registry packages installed by ``scripts/install-fonts.sh`` (Debian
``fonts-*`` handwriting packages and npm ``@fontsource/*`` families). medocr looks in
the standard font folders for the file names listed in :data:`KNOWN_HANDWRITING`, and
takes every font found in the folders of ``$MEDOCR_FONT_DIRS`` (``:``-separated) as a
handwriting font too, so users can add their own.

A font is usable only if it covers :data:`REQUIRED_CHARS` (ASCII letters, digits and the
common French accented letters).
Characters it lacks among the rest of the French alphabet are replaced before rendering
(:meth:`HandwritingFont.substitute`), so a missing glyph is never drawn; the ground
truth records the text actually rendered.
"""

from __future__ import annotations

import os
import string
import unicodedata
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from medocr.errors import FontError
from medocr.templates.draw import FONT_DIRS, font_files
from medocr.templates.draw import FONT_SUFFIXES as FONT_SUFFIXES  # re-exported

# A usable font draws ASCII letters and digits and the common French accented letters;
# rarer ones (œ, æ, capitals with accents...) fall back to a replacement.
REQUIRED_CHARS = frozenset(string.ascii_letters + string.digits + "éèêàâîôûùçÉ")
FRENCH_LETTERS = "éèêëàâîïôùûüçœæÉÈÊËÀÂÎÏÔÙÛÜÇŒÆ"
PUNCTUATION = "'’-,./()?:+%;"
WANTED_CHARS = frozenset(FRENCH_LETTERS + PUNCTUATION) | REQUIRED_CHARS

# File-name stems of the handwriting fonts installed by scripts/install-fonts.sh.
KNOWN_HANDWRITING = frozenset(
    {
        "dkg",
        "dkgBd",
        "dkgIt",
        "Breip",
        "BecauseWeBuild-Regular",
        "BecauseWeConnect-Regular",
        "BecauseWeCreate-Regular",
        "BecauseWeLearn-Regular",
        "BecauseWeMentor-Regular",
        "BecauseWeOrganize-Regular",
        "DancingScript-Regular",
        "DancingScript-Bold",
        "Ecolier-court",
        "femkeklaver",
        "Humor-Sans",
        "Joscelyn-Regular",
        "KaushanScript-Regular",
        "KleeOne-Regular",
        "Kristi",
        "Rufscript010",
        "Delphine",
        "SteveHand",
        "TomsonTalks",
        "ComicNeue-Regular",
        "ComicNeue-Italic",
        "ComicNeue-Light",
        "TypoScript",
        # npm @fontsource families (latin subset, weight 400)
        "caveat-latin-400-normal",
        "indie-flower-latin-400-normal",
        "homemade-apple-latin-400-normal",
        "shadows-into-light-latin-400-normal",
        "reenie-beanie-latin-400-normal",
        "nothing-you-could-do-latin-400-normal",
        "cedarville-cursive-latin-400-normal",
        "zeyada-latin-400-normal",
        "gochi-hand-latin-400-normal",
        "kalam-latin-400-normal",
        "sacramento-latin-400-normal",
        "la-belle-aurore-latin-400-normal",
        "covered-by-your-grace-latin-400-normal",
        "just-me-again-down-here-latin-400-normal",
        "dawning-of-a-new-day-latin-400-normal",
        "mrs-saint-delafield-latin-400-normal",
        "over-the-rainbow-latin-400-normal",
        "waiting-for-the-sunrise-latin-400-normal",
        "patrick-hand-latin-400-normal",
        "architects-daughter-latin-400-normal",
    }
)

_FALLBACKS = {
    "’": "'",
    "œ": "oe",
    "Œ": "OE",
    "æ": "ae",
    "Æ": "AE",
    ";": ",",
    "%": " pc",
    "+": " et ",
    "?": "",
    ":": "",
    "(": "",
    ")": "",
}


@dataclass(frozen=True)
class HandwritingFont:
    """A font file usable for synthetic handwriting.

    Parameters
    ----------
    path : str
        Font file.
    name : str
        File stem, recorded in the ground truth.
    charset : frozenset of str
        The characters of :data:`WANTED_CHARS` the font has glyphs for.
    """

    path: str
    name: str
    charset: frozenset[str]

    def substitute(self, text: str) -> str:
        """Rewrite `text` with only characters this font can draw.

        Missing characters fall back to a typographic equivalent (``’`` -> ``'``,
        ``œ`` -> ``oe``), then to the unaccented letter, else they are dropped.
        Spaces and newlines are kept.
        """
        out = []
        for char in text:
            out.append(char if char in self.charset or char in " \n" else self._fallback(char))
        return "".join(out)

    def _fallback(self, char: str) -> str:
        replacement = _FALLBACKS.get(char)
        if replacement is not None and all(c in self.charset or c == " " for c in replacement):
            return replacement
        base = unicodedata.normalize("NFD", char)[0]
        return base if base in self.charset else ""


def font_charset(path: str | Path) -> frozenset[str]:
    """Return the characters of :data:`WANTED_CHARS` that the font at `path` maps to glyphs.

    Raises
    ------
    FontError
        If the file cannot be parsed as a font.
    """
    import logging

    from fontTools.ttLib import TTFont, TTLibError

    logging.getLogger("fontTools").setLevel(logging.ERROR)
    try:
        with TTFont(str(path), lazy=True, fontNumber=0) as font:
            cmap = font.getBestCmap() or {}
            glyph_order = set(font.getGlyphOrder())
    except (TTLibError, OSError, ValueError, KeyError, AssertionError) as exc:
        raise FontError(f"{path}: not a usable font ({exc})") from exc
    return frozenset(
        c
        for c in WANTED_CHARS
        if ord(c) in cmap and cmap[ord(c)] in glyph_order and cmap[ord(c)] != ".notdef"
    )


def _user_font_dirs() -> list[Path]:
    value = os.environ.get("MEDOCR_FONT_DIRS", "")
    return [Path(p).expanduser() for p in value.split(os.pathsep) if p]


@cache
def _discover(user_dirs: tuple[str, ...]) -> tuple[HandwritingFont, ...]:
    candidates: dict[str, Path] = {}
    for folder in FONT_DIRS:
        for path in font_files(Path(folder).expanduser()):
            if path.stem in KNOWN_HANDWRITING:
                candidates.setdefault(path.stem, path)
    for folder in user_dirs:
        for path in font_files(Path(folder)):
            candidates.setdefault(path.stem, path)
    fonts = []
    for stem in sorted(candidates):
        try:
            charset = font_charset(candidates[stem])
        except FontError:
            continue
        if charset >= REQUIRED_CHARS:
            fonts.append(HandwritingFont(str(candidates[stem]), stem, charset))
    return tuple(fonts)


def find_handwriting_fonts() -> tuple[HandwritingFont, ...]:
    """Return every usable handwriting font on this machine, sorted by name.

    Raises
    ------
    FontError
        If none is found (the message says how to install them).
    """
    fonts = _discover(tuple(str(p) for p in _user_font_dirs()))
    if not fonts:
        raise FontError(
            "no handwriting font found: run `bash scripts/install-fonts.sh` "
            "(Debian fonts-* and npm @fontsource packages), or point "
            "MEDOCR_FONT_DIRS at a folder of .ttf/.otf/.woff handwriting fonts"
        )
    return fonts
