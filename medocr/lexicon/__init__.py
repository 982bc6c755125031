"""Lexicons: the words medocr may read, with counts, versions and a bigram model of phrasing.

A :class:`Lexicon` is an immutable set of *canonical* words with counts. Every change
(:meth:`Lexicon.add`, :meth:`Lexicon.remove`, :meth:`Lexicon.merge`) returns a new lexicon
whose version is bumped (patch) and whose CHANGELOG gains a line. The default lexicon,
``fr-medical``, is built by ``lexicon/fr-medical/build.py`` from the words of the CIM-10 FR
labels and a curated list of death-certificate vocabulary; a frozen copy ships in
``medocr/data/lexicons/fr-medical`` and is what :func:`load_lexicon` returns by default.

Words
    :func:`tokenize` is the one definition of a word used everywhere in medocr: a maximal
    run of letters (``str.isalpha``, accented letters included) in the NFC text with
    apostrophes normalised. Digits, spaces, apostrophes, hyphens and punctuation separate
    words: ``"d'inhalation"`` gives ``d``, ``inhalation``; ``"48h"`` gives ``h``. It lives
    in the core text layer, :mod:`medocr.text`, with :func:`~medocr.text.normalize_text`
    and the one accent folding (:func:`~medocr.text.fold_accents`, also importable here
    as ``strip_accents``).
Case policy (``lower-except-acronyms``)
    A word is stored in lowercase, except acronyms, stored in capitals. A word is an
    acronym when every spelling of it in a source is written in capitals (``AVC``, ``K``,
    ``VIH``); when a source also writes it in lowercase it is a plain word. Two entries
    never differ by case only.
Limits
    A word added (:class:`Lexicon`, :meth:`Lexicon.add`, :meth:`Lexicon.merge`, word lists)
    has at most :data:`MAX_WORD_LENGTH` (64) letters, all in :data:`WORD_LETTERS` (those
    the shipped recognizer writes: ``a-z``, French accented letters, ``æ``, ``œ``, and
    capitals); a count is an int from 0 to :data:`MAX_COUNT` (10^12). A lexicon folder
    already saved loads as it is, whatever it holds.
Saving
    :meth:`Lexicon.save` writes a folder as one transaction: the new files are staged,
    then ``manifest.json`` is replaced in one rename; a killed save leaves one whole
    version, the previous one or the new one.
Matching
    :meth:`Lexicon.lookup` maps a written word to its canonical entry, case- and
    accent-insensitively (``DECES`` and ``deces`` -> ``décès``, ``oedeme`` -> ``œdème``); the
    caller keeps the written form and gets the canonical one alongside.
Modules
    :mod:`~medocr.lexicon.words` (what a word is: limits, checks, case policy),
    :mod:`~medocr.lexicon.bigram` (:class:`BigramModel`), :mod:`~medocr.lexicon.model`
    (:class:`Lexicon`), :mod:`~medocr.lexicon.io` (word lists, the folder format and its
    transactional save, the packaged folder), :mod:`~medocr.lexicon.load`
    (:func:`load_lexicon`), :mod:`~medocr.lexicon.build` (:func:`build_fr_medical`, in the
    *apps* layer: it uses the synthetic phrase sampler, so it is imported only when one of
    its names is asked for). The CIM-10 labels file is located and opened by
    :mod:`medocr.cim10`. Every name of the former single module ``lexicon.py`` is still
    importable from ``medocr.lexicon``.

>>> lexicon = Lexicon({"décès": 3, "AVC": 5}, name="demo")
>>> lexicon.lookup("DECES"), lexicon.lookup("avc"), "Deces" in lexicon
('décès', 'AVC', True)
>>> tokenize("Pneumopathie d'inhalation / arrêt cardio-respiratoire 48h")
['Pneumopathie', 'd', 'inhalation', 'arrêt', 'cardio', 'respiratoire', 'h']
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from medocr._lazy import lazy_attributes

# Every name the single module lexicon.py had is re-exported, used here or not.
from medocr.cim10 import find_cim10
from medocr.errors import LexiconError  # noqa: F401 - importable here before the split
from medocr.lexicon.bigram import BigramModel
from medocr.lexicon.io import (  # noqa: F401
    BIGRAMS_FILE,
    CHANGELOG_FILE,
    DEFAULT_LEXICON,
    FORMAT_VERSION,
    MANIFEST_FILE,
    STAGING_DIR,
    WORDS_FILE,
    inside_package,
    locked,
    packaged_lexicon_path,
    read_word_list,
    sha256_hex,
)
from medocr.lexicon.load import load_lexicon
from medocr.lexicon.model import Lexicon, LexiconDiff, NoChangeError
from medocr.lexicon.words import (  # noqa: F401
    CASE_POLICY,
    MAX_COUNT,
    MAX_WORD_LENGTH,
    NORMALISATION,
    WORD_LETTERS,
    canonical_form,
    fold,
    show,
)
from medocr.text import APOSTROPHES, is_word_char, normalize_text, tokenize  # noqa: F401
from medocr.text import fold_accents as strip_accents

if TYPE_CHECKING:
    from medocr.lexicon.build import (  # noqa: F401
        CIM10_SOURCE,
        CURATED_FILE,
        CURATED_SOURCE,
        DEFAULT_SAMPLES,
        DEFAULT_SEED,
        build_fr_medical,
    )

__all__ = [
    "CASE_POLICY",
    "DEFAULT_LEXICON",
    "MAX_COUNT",
    "MAX_WORD_LENGTH",
    "WORD_LETTERS",
    "BigramModel",
    "Lexicon",
    "LexiconDiff",
    "build_fr_medical",
    "canonical_form",
    "find_cim10",
    "fold",
    "is_word_char",
    "load_lexicon",
    "packaged_lexicon_path",
    "read_word_list",
    "strip_accents",
    "tokenize",
]

# The names medocr.lexicon had as one module and that now live in medocr.lexicon.build (the
# apps layer, which imports medocr.synth): loaded on first use, named here only as strings.
_LAZY = {
    name: "medocr.lexicon.build"
    for name in (
        "CIM10_SOURCE",
        "CURATED_FILE",
        "CURATED_SOURCE",
        "DEFAULT_SAMPLES",
        "DEFAULT_SEED",
        "build_fr_medical",
    )
}

# Old private names, still imported by medocr.lexicon_cli and the tests.
_inside_package = inside_package
_locked = locked
_NoChangeError = NoChangeError
_sha256 = sha256_hex
_show = show


__getattr__, __dir__ = lazy_attributes(__name__, _LAZY, globals())
