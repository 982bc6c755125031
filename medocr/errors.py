"""Exceptions raised by medocr.

Every error medocr raises on purpose derives from :class:`MedocrError`, so a batch
script can catch one class. Messages name the file (or object) and the reason.
"""

from __future__ import annotations

from os import PathLike


class MedocrError(Exception):
    """Base class of every error medocr raises on purpose."""


class InputError(MedocrError):
    """An input file cannot be read as an image (missing, corrupt, unsupported, too large...).

    Parameters
    ----------
    path : str or PathLike
        The offending file, as the caller gave it.
    reason : str
        Why it cannot be read, in words a user can act on.
    """

    def __init__(self, path: str | PathLike[str], reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class TemplateError(MedocrError):
    """A form template is malformed, or a page does not match its template."""


class ModelError(MedocrError):
    """A model bundle is missing, incomplete, corrupt or of an unknown format."""


class LexiconError(MedocrError):
    """A lexicon file is malformed or inconsistent."""


class FontError(MedocrError):
    """No usable handwriting font was found, or a font file cannot be used."""


class OutputError(MedocrError):
    """An output path cannot be used: it is an input, lies inside one, or is not writable."""
