"""The :class:`Lexicon`: an immutable, versioned set of canonical words with counts.

Lookups go exact, then case-insensitive, then accent-insensitive too (:meth:`Lexicon.lookup`);
every change (:meth:`Lexicon.add`, :meth:`Lexicon.remove`, :meth:`Lexicon.merge`) returns a
new lexicon with its patch version bumped and a CHANGELOG line; :meth:`Lexicon.save` writes
it as one transaction (:func:`medocr.lexicon.io.commit_files`).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from medocr._version import __version__
from medocr.errors import LexiconError
from medocr.lexicon.bigram import BigramModel
from medocr.lexicon.io import (
    BIGRAMS_FILE,
    CHANGELOG_FILE,
    FORMAT_VERSION,
    WORDS_FILE,
    commit_files,
    inside_package,
    locked,
    read_word_list,
    sha256_hex,
)
from medocr.lexicon.words import (
    CASE_POLICY,
    NORMALISATION,
    check_count,
    check_total,
    check_word,
    fold,
    group_by_case,
    show,
)
from medocr.text import expand_ligatures, normalize_text
from medocr.text import fold_accents as strip_accents

if TYPE_CHECKING:
    from medocr.text import Alphabet

__all__ = ["Lexicon", "LexiconDiff", "NoChangeError", "counts_note"]

_SEMVER = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")


class NoChangeError(LexiconError):
    """A change that would leave the lexicon as it is (no new version is made)."""


@dataclass(frozen=True)
class LexiconDiff:
    """What changed from one lexicon to another.

    Parameters
    ----------
    old, new : str
        The refs (``name@version+sha``) of the two lexicons.
    added : tuple of str
        Canonical words only in `new`, sorted.
    removed : tuple of str
        Canonical words only in `old`, sorted.
    changed : tuple of (str, int, int)
        ``(word, old count, new count)`` for words in both whose count differs, sorted.

    """

    old: str
    new: str
    added: tuple[str, ...]
    removed: tuple[str, ...]
    changed: tuple[tuple[str, int, int], ...]

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.changed)

    def summary(self) -> str:
        """Return a one-line summary (``+3 words, -1 word, 2 counts changed``)."""
        return (
            f"{self.old} -> {self.new}: +{_plural(len(self.added), 'word')}, "
            f"-{_plural(len(self.removed), 'word')}, "
            f"{_plural(len(self.changed), 'count')} changed"
        )

    def to_dict(self) -> dict[str, Any]:
        """Return JSON-ready data."""
        return {
            "old": self.old,
            "new": self.new,
            "added": list(self.added),
            "removed": list(self.removed),
            "changed": [list(c) for c in self.changed],
        }


def _plural(n: int, what: str) -> str:
    return f"{n} {what}{'' if n == 1 else 's'}"


def _bump_patch(version: str) -> str:
    major, minor, patch = (int(x) for x in _SEMVER.fullmatch(version).groups())  # type: ignore[union-attr]
    return f"{major}.{minor}.{patch + 1}"


def _changelog_header(name: str) -> str:
    return (
        f"# Changelog of the {name} lexicon\n\n"
        "One line per version, oldest first: `- VERSION (DATE): what changed [counts]`.\n\n"
    )


def counts_note(lexicon: Lexicon) -> str:
    """Return the counts a CHANGELOG line ends with: ``[N words, A acronyms, T tokens]``."""
    return f"[{len(lexicon)} words, {len(lexicon.acronyms)} acronyms, {lexicon.total} tokens]"


class Lexicon:
    """An immutable set of canonical words with counts, a version and its provenance.

    Parameters
    ----------
    counts : Mapping of str to int, or iterable of str
        Word -> count (0 to :data:`MAX_COUNT`), or words (count 1 each). Every key must be
        one word (:func:`tokenize`) of at most :data:`MAX_WORD_LENGTH` letters, all in
        :data:`WORD_LETTERS`; spellings differing by case only are merged and stored under
        the case policy (:func:`canonical_form`).
    name : str
        Lexicon name (``fr-medical``).
    version : str, optional
        Semantic version ``MAJOR.MINOR.PATCH``.
    sources : sequence of dict, optional
        Where the words come from; each dict has ``name``, ``attribution``, ``licence``.
    case_policy : str, optional
        :data:`CASE_POLICY`.
    changelog : str, optional
        Text of CHANGELOG.md (one line per version).
    bigrams : BigramModel or callable returning one, optional
        The phrasing model stored beside the words (a callable is loaded on first use).
    meta : Mapping, optional
        Further manifest fields carried along (``description``, ``build``, ``parent``).
    origin : str, optional
        Where the lexicon was loaded from, for display.

    Notes
    -----
    Modifications return a new Lexicon with the patch version bumped and a CHANGELOG
    line added; nothing is written until :meth:`save`.

    """

    __slots__ = (
        "_bigrams",
        "_by_case",
        "_by_fold",
        "_case_policy",
        "_changelog",
        "_counts",
        "_meta",
        "_name",
        "_origin",
        "_sha256",
        "_sources",
        "_surface_cache",
        "_version",
        "_words_tsv",
    )

    def __init__(
        self,
        counts: Mapping[str, int] | Iterable[str],
        *,
        name: str,
        version: str = "0.0.0",
        sources: Sequence[Mapping[str, Any]] = (),
        case_policy: str = CASE_POLICY,
        changelog: str = "",
        bigrams: BigramModel | Callable[[], BigramModel] | None = None,
        meta: Mapping[str, Any] | None = None,
        origin: str | None = None,
    ) -> None:
        self._setup(
            counts,
            strict=True,
            name=name,
            version=version,
            sources=sources,
            case_policy=case_policy,
            changelog=changelog,
            bigrams=bigrams,
            meta=meta,
            origin=origin,
        )

    @classmethod
    def _saved(cls, counts: Mapping[str, int], **kwargs: Any) -> Lexicon:
        """Return a lexicon of words already in a lexicon (not held to the entry limits)."""
        lexicon = cls.__new__(cls)
        lexicon._setup(counts, strict=False, **kwargs)
        return lexicon

    def _setup(
        self,
        counts: Mapping[str, int] | Iterable[str],
        *,
        strict: bool,
        name: str,
        version: str = "0.0.0",
        sources: Sequence[Mapping[str, Any]] = (),
        case_policy: str = CASE_POLICY,
        changelog: str = "",
        bigrams: BigramModel | Callable[[], BigramModel] | None = None,
        meta: Mapping[str, Any] | None = None,
        origin: str | None = None,
    ) -> None:
        if not isinstance(name, str) or not name or any(c in name for c in "@/\\\n"):
            raise LexiconError(f"bad lexicon name {name!r}")
        if not isinstance(version, str) or not _SEMVER.fullmatch(version):
            raise LexiconError(f"lexicon version must be MAJOR.MINOR.PATCH, got {version!r}")
        if case_policy != CASE_POLICY:
            raise LexiconError(f"unknown case policy {case_policy!r} (known: {CASE_POLICY})")
        if isinstance(counts, str):
            raise LexiconError("give a list of words or a word -> count mapping, not a str")
        items = counts.items() if isinstance(counts, Mapping) else ((w, 1) for w in counts)
        checked = []
        for word, count in items:
            text = check_word(word, strict=strict)
            checked.append((text, check_count(count, text, strict=strict)))
        grouped = group_by_case(checked)
        if strict:
            for word, count in grouped.items():
                check_total(count, word)
        sorted_counts = dict(sorted(grouped.items()))
        source_list = []
        for source in sources:
            missing = {"name", "attribution", "licence"} - set(source)
            if missing:
                raise LexiconError(f"lexicon source {dict(source)} lacks {sorted(missing)}")
            source_list.append(dict(source))
        self._name = name
        self._version = version
        self._counts: Mapping[str, int] = MappingProxyType(sorted_counts)
        self._sources = tuple(source_list)
        self._case_policy = case_policy
        self._changelog = changelog
        self._bigrams = bigrams
        self._meta = dict(meta or {})
        self._origin = origin
        self._by_case: dict[str, str] | None = None
        self._by_fold: dict[str, tuple[str, ...]] | None = None
        self._surface_cache: dict[tuple[str, ...] | None, dict[str, str]] = {}
        self._words_tsv: bytes | None = None
        self._sha256: str | None = None

    # --- identity -------------------------------------------------------------------------

    @property
    def name(self) -> str:
        """Lexicon name."""
        return self._name

    @property
    def version(self) -> str:
        """Semantic version (``MAJOR.MINOR.PATCH``)."""
        return self._version

    @property
    def counts(self) -> Mapping[str, int]:
        """Read-only mapping canonical word -> count, sorted by word."""
        return self._counts

    @property
    def sources(self) -> list[dict[str, Any]]:
        """Where the words come from: dicts with ``name``, ``attribution``, ``licence``."""
        return [dict(s) for s in self._sources]

    @property
    def case_policy(self) -> str:
        """How entries are stored (:data:`CASE_POLICY`)."""
        return self._case_policy

    @property
    def changelog(self) -> str:
        """The text of CHANGELOG.md, one line per version."""
        return self._changelog

    @property
    def meta(self) -> dict[str, Any]:
        """Further manifest fields (``description``, ``build``, ``parent``...), a copy."""
        return json.loads(json.dumps(self._meta))

    @property
    def origin(self) -> str | None:
        """Where this lexicon was loaded from (None when built in memory)."""
        return self._origin

    @property
    def acronyms(self) -> tuple[str, ...]:
        """The entries stored in capitals, sorted."""
        return tuple(w for w in self._counts if w.isupper())

    @property
    def total(self) -> int:
        """Sum of the counts (tokens)."""
        return sum(self._counts.values())

    def words_tsv(self) -> bytes:
        """Return the canonical words file: ``word<TAB>count`` lines sorted by word (UTF-8)."""
        if self._words_tsv is None:
            self._words_tsv = "".join(f"{w}\t{c}\n" for w, c in self._counts.items()).encode()
        return self._words_tsv

    @property
    def sha256(self) -> str:
        """sha256 of :meth:`words_tsv` (the ``words.tsv`` file)."""
        if self._sha256 is None:
            self._sha256 = sha256_hex(self.words_tsv())
        return self._sha256

    @property
    def ref(self) -> str:
        """``name@version+sha256[:12]``, what results record."""
        return f"{self._name}@{self._version}+{self.sha256[:12]}"

    @property
    def bigrams(self) -> BigramModel | None:
        """The bigram model stored beside the words (loaded on first use), or None."""
        if callable(self._bigrams) and not isinstance(self._bigrams, BigramModel):
            self._bigrams = self._bigrams()
        return self._bigrams

    def __len__(self) -> int:
        return len(self._counts)

    def __iter__(self) -> Iterator[str]:
        return iter(self._counts)

    def __repr__(self) -> str:
        return f"Lexicon({self.ref}, {len(self)} words)"

    @classmethod
    def from_word_list(cls, path: str | os.PathLike[str]) -> Lexicon:
        """Return a lexicon of the words of a user word list (:func:`read_word_list`).

        Parameters
        ----------
        path : str or PathLike
            The word list.

        Returns
        -------
        Lexicon
            Named after the file, version 0.0.0, source ``word list NAME``.

        """
        path = Path(path)
        name = re.sub(r"[@/\\\s]+", "-", path.stem) or "words"
        return cls(
            read_word_list(path),
            name=name,
            version="0.0.0",
            sources=[
                {
                    "name": f"word list {path.name}",
                    "attribution": "supplied by the user",
                    "licence": "unknown",
                }
            ],
            meta={"description": f"imported from {path.name}"},
            origin=str(path),
        )

    # --- lookup ---------------------------------------------------------------------------

    def _indices(self) -> tuple[dict[str, str], dict[str, tuple[str, ...]]]:
        if self._by_case is None or self._by_fold is None:
            by_case = {w.casefold(): w for w in self._counts}
            by_fold: dict[str, list[str]] = {}
            for word in self._counts:
                by_fold.setdefault(fold(word), []).append(word)
            ranked = {k: tuple(sorted(v, key=self._rank)) for k, v in by_fold.items()}
            self._by_case, self._by_fold = by_case, ranked
        return self._by_case, self._by_fold

    def _rank(self, word: str) -> tuple[int, str]:
        return (-self._counts[word], word)

    def lookup(self, written: str) -> str | None:
        """Return the canonical entry of a written word, or None.

        Matching goes exact, then case-insensitive, then accent-insensitive too. When
        several entries differ only by accents (``âge``, ``âgé``), those agreeing with
        the accents actually written win, then the most frequent.

        Parameters
        ----------
        written : str
            One word as written (``"DECES"``, ``"Insuffisance"``, ``"oedeme"``).

        Returns
        -------
        str or None
            The canonical form (``"décès"``), or None when no entry matches.

        """
        if not isinstance(written, str):
            return None
        text = normalize_text(written)
        if text in self._counts:
            return text
        by_case, by_fold = self._indices()
        found = by_case.get(text.casefold())
        if found is not None:
            return found
        candidates = by_fold.get(fold(text))
        if not candidates:
            return None
        if len(candidates) == 1:
            return candidates[0]
        for candidate in candidates:  # most frequent first
            if _accents_agree(text, candidate):
                return candidate
        return candidates[0]

    def __contains__(self, word: object) -> bool:
        return isinstance(word, str) and self.lookup(word) is not None

    def count(self, word: str) -> int:
        """Return the count of `word`'s entry (found as :meth:`lookup` does), 0 if absent."""
        found = self.lookup(word)
        return 0 if found is None else self._counts[found]

    def surface_forms(self, alphabet: Alphabet | None = None) -> dict[str, str]:
        """Return every written variant a decoder should accept -> its canonical form.

        For each entry: the canonical form, lowercase, Capitalised and UPPER, each also
        without accents and with ``œ``/``æ`` written ``oe``/``ae`` (accents kept). Each
        variant maps to what :meth:`lookup` returns for it, so a variant shared by
        several entries (``age``) maps to the preferred one. The result is cached per
        alphabet.

        Parameters
        ----------
        alphabet : Alphabet, optional
            When given, keep only variants whose characters are all in it.

        Returns
        -------
        dict of str to str
            A new dict (the cache is not exposed).

        """
        key = None if alphabet is None else tuple(alphabet.chars)
        cached = self._surface_cache.get(key)
        if cached is None:
            if key is not None:
                allowed = set(key)
                full = self.surface_forms()
                cached = {v: c for v, c in full.items() if set(v) <= allowed}
            else:
                cached = {}
                for word in self._counts:
                    for variant in _variants(word):
                        if variant not in cached:
                            cached[variant] = self.lookup(variant) or word
            self._surface_cache[key] = cached
        return dict(cached)

    # --- modifications --------------------------------------------------------------------

    def _derive(
        self,
        counts: Mapping[str, int],
        note: str,
        action: str,
        sources: Sequence[Mapping[str, Any]] | None = None,
    ) -> Lexicon:
        if not isinstance(note, str):
            raise LexiconError("note must be a str")
        version = _bump_patch(self._version)
        child = Lexicon._saved(
            counts,
            name=self._name,
            version=version,
            sources=self._sources if sources is None else sources,
            case_policy=self._case_policy,
            changelog="",
            bigrams=self._bigrams,
            meta={**self._meta, "parent": self.ref},
            origin=None,
        )
        text = " ".join(f"{action}: {note}".split()) if note.strip() else action
        date = dt.date.today().isoformat()
        line = f"- {version} ({date}): {text} {counts_note(child)}\n"
        changelog = self._changelog or _changelog_header(self._name)
        if not changelog.endswith("\n"):
            changelog += "\n"
        child._changelog = changelog + line
        return child

    def _resolve_additions(self, items: Iterable[tuple[str, int]]) -> dict[str, int]:
        by_case, _ = self._indices()
        new: list[tuple[str, int]] = []
        resolved: dict[str, int] = {}
        for word, count in items:
            text = check_word(word)
            count = check_count(count, text)
            existing = by_case.get(text.casefold())
            if existing is not None:
                resolved[existing] = resolved.get(existing, 0) + count
            else:
                new.append((text, count))
        for word, count in group_by_case(new).items():
            resolved[word] = resolved.get(word, 0) + count
        return resolved

    def _added(self, additions: Mapping[str, int]) -> dict[str, int]:
        """Return this lexicon's counts plus `additions`, each total at most MAX_COUNT."""
        counts = dict(self._counts)
        for word, count in additions.items():
            total = counts.get(word, 0) + count
            check_total(total, word)
            counts[word] = total
        return counts

    def add(self, words_or_counts: Mapping[str, int] | Iterable[str], *, note: str) -> Lexicon:
        """Return a new lexicon with words added (or their counts increased).

        Parameters
        ----------
        words_or_counts : Mapping of str to int, or iterable of str
            Word -> count to add, or words (count 1 each). A word matching an entry
            case-insensitively adds to that entry; a new word follows the case policy.
        note : str
            Why, for the CHANGELOG.

        Returns
        -------
        Lexicon
            Patch version bumped, one CHANGELOG line added.

        Raises
        ------
        LexiconError
            When a word is not exactly one word, is longer than :data:`MAX_WORD_LENGTH` or
            has a letter outside :data:`WORD_LETTERS`; when a count is not an int from 0
            to :data:`MAX_COUNT` or would exceed :data:`MAX_COUNT`; when nothing would
            change (no words, or counts of 0 for words already there).

        """
        if isinstance(words_or_counts, str):
            words_or_counts = [words_or_counts]
        items = (
            words_or_counts.items()
            if isinstance(words_or_counts, Mapping)
            else ((w, 1) for w in words_or_counts)
        )
        additions = self._resolve_additions(items)
        if not additions:
            raise NoChangeError("nothing to add")
        counts = self._added(additions)
        if counts == dict(self._counts):
            raise NoChangeError(
                f"nothing to add: every word is already in the {self._name} lexicon and "
                "a count of 0 changes nothing"
            )
        n_new = sum(1 for w in additions if w not in self._counts)
        what = f"added {_plural(n_new, 'word')}"
        if len(additions) > n_new:
            what += f", raised {_plural(len(additions) - n_new, 'count')}"
        return self._derive(counts, note, what)

    def find(self, word: str) -> str | None:
        """Return the entry matching `word` exactly or by case only (accents respected)."""
        text = normalize_text(word)
        if text in self._counts:
            return text
        return self._indices()[0].get(text.casefold())

    def remove(self, words: Iterable[str], *, note: str) -> Lexicon:
        """Return a new lexicon without `words`.

        Words match entries exactly or case-insensitively, never accent-insensitively
        (removing ``age`` never removes ``âge``).

        Parameters
        ----------
        words : iterable of str
            Words to remove.
        note : str
            Why, for the CHANGELOG.

        Returns
        -------
        Lexicon
            Patch version bumped, one CHANGELOG line added.

        Raises
        ------
        LexiconError
            Listing the words that are not in the lexicon (nothing is removed then).

        """
        if isinstance(words, str):
            words = [words]
        words = list(words)
        found = {w: self.find(w) for w in words}
        missing = [w for w, entry in found.items() if entry is None]
        if missing:
            listed = ", ".join(show(w) for w in missing[:20]) + (", …" if len(missing) > 20 else "")
            raise LexiconError(f"not in the {self._name} lexicon: {listed}")
        if not words:
            raise LexiconError("nothing to remove")
        drop = {entry for entry in found.values() if entry is not None}
        counts = {w: c for w, c in self._counts.items() if w not in drop}
        return self._derive(counts, note, f"removed {_plural(len(drop), 'word')}")

    def merge(self, other: Lexicon | Mapping[str, int], *, note: str) -> Lexicon:
        """Return a new lexicon holding both word sets, counts summed.

        Entries of this lexicon keep their spelling; `other`'s sources are appended.

        Parameters
        ----------
        other : Lexicon or Mapping of str to int
            Words to merge in (e.g. :func:`read_word_list` output).
        note : str
            Why, for the CHANGELOG.

        Returns
        -------
        Lexicon
            Patch version bumped, one CHANGELOG line added.

        Raises
        ------
        LexiconError
            As :meth:`add`: a word or count beyond the limits, or nothing to merge (`other`
            has no words, or only words already there with counts of 0).

        """
        counts_in = other.counts if isinstance(other, Lexicon) else other
        additions = self._resolve_additions(counts_in.items())
        given = other.ref if isinstance(other, Lexicon) else "the words given"
        if not additions:
            raise NoChangeError(f"nothing to merge: {given} has no words")
        counts = self._added(additions)
        if counts == dict(self._counts):
            raise NoChangeError(
                f"nothing to merge: every word of {given} is already in the {self._name} "
                "lexicon and its counts add 0"
            )
        sources = list(self._sources)
        if isinstance(other, Lexicon):
            sources += [s for s in other._sources if s not in sources]
            what = f"merged {other.ref}"
        else:
            what = f"merged {len(additions)} words"
        n_new = sum(1 for w in additions if w not in self._counts)
        return self._derive(counts, note, f"{what} ({n_new} new)", sources)

    def diff(self, other: Lexicon) -> LexiconDiff:
        """Return what changes from this lexicon to `other` (canonical words compared).

        Parameters
        ----------
        other : Lexicon
            The newer lexicon.

        Returns
        -------
        LexiconDiff
            Added, removed and count changes.

        """
        mine, theirs = self._counts, other.counts
        return LexiconDiff(
            old=self.ref,
            new=other.ref,
            added=tuple(sorted(w for w in theirs if w not in mine)),
            removed=tuple(sorted(w for w in mine if w not in theirs)),
            changed=tuple(
                (w, mine[w], theirs[w])
                for w in sorted(mine)
                if w in theirs and mine[w] != theirs[w]
            ),
        )

    # --- files ----------------------------------------------------------------------------

    def manifest(self, files: Mapping[str, bytes] | None = None) -> dict[str, Any]:
        """Return the manifest describing this lexicon (JSON-ready).

        Parameters
        ----------
        files : Mapping of str to bytes, optional
            The files to list with their sha256 (default: words.tsv, bigrams.tsv when the
            lexicon has a bigram model, and CHANGELOG.md).

        Returns
        -------
        dict
            ``name``, ``version``, ``sources``, ``normalisation``, ``case_policy``,
            ``counts``, ``sha256`` (of words.tsv), ``files``, ``medocr_version`` and the
            carried fields (``description``, ``build``, ``bigram_model``, ``parent``).

        """
        if files is None:
            files = self._files()
        counts: dict[str, Any] = {
            "words": len(self),
            "acronyms": len(self.acronyms),
            "tokens": self.total,
        }
        model = self.bigrams
        if model is not None:
            counts["bigrams"] = len(model)
            counts["bigram_contexts"] = model.contexts
        manifest: dict[str, Any] = {
            "format_version": FORMAT_VERSION,
            "name": self._name,
            "version": self._version,
            "description": self._meta.get("description", ""),
            "sources": [dict(s) for s in self._sources],
            "normalisation": dict(NORMALISATION),
            "case_policy": self._case_policy,
            "counts": counts,
            "sha256": self.sha256,
            "files": {
                name: {"sha256": sha256_hex(data), "bytes": len(data)}
                for name, data in sorted(files.items())
            },
            "medocr_version": __version__,
        }
        if model is not None:
            manifest["bigram_model"] = {**self._meta.get("bigram_model", {}), **model.describe()}
        for key in ("build", "parent"):
            if key in self._meta:
                manifest[key] = self._meta[key]
        return manifest

    def _files(self) -> dict[str, bytes]:
        """Return the files of a saved lexicon but the manifest: name -> bytes."""
        files = {WORDS_FILE: self.words_tsv()}
        if self.bigrams is not None:
            files[BIGRAMS_FILE] = self.bigrams.to_tsv()
        changelog = self._changelog or _changelog_header(self._name)
        files[CHANGELOG_FILE] = changelog.encode("utf-8")
        return files

    def save(self, folder: str | os.PathLike[str]) -> Path:
        """Write the lexicon to `folder` as one transaction: all of it, or nothing.

        The folder holds ``manifest.json``, ``words.tsv``, ``bigrams.tsv`` (when the
        lexicon has a bigram model) and ``CHANGELOG.md``; the manifest lists the sha256 of
        every other file. A save writes the new files complete (fsynced) into the hidden
        folder ``.staging/`` under their sha256, then replaces ``manifest.json`` in one
        ``os.replace``: that rename is the switch from the previous version to the new one.
        The staged files are then renamed over the old ones and ``.staging/`` is removed.
        A save killed before the switch leaves the previous version current and whole
        (stale staged files are ignored, then removed by the next save); killed after it,
        the new version is current, :func:`load_lexicon` reading the files still staged.
        Saves to one folder are serialised by a lock on the folder (POSIX ``flock``).

        Parameters
        ----------
        folder : str or PathLike
            Created if needed.

        Returns
        -------
        Path
            The folder.

        Raises
        ------
        LexiconError
            For the folder of the lexicon shipped inside medocr, or when the folder cannot
            be written (the previous version, if any, is then still current).

        """
        out = Path(folder)
        if inside_package(out):
            raise LexiconError(
                f"{out}: this is the lexicon shipped inside medocr; it is only written by "
                "lexicon/fr-medical/build.py"
            )
        files = self._files()
        manifest = json.dumps(self.manifest(files), ensure_ascii=False, indent=2) + "\n"
        try:
            out.mkdir(parents=True, exist_ok=True)
            with locked(out):
                commit_files(out, files, manifest.encode("utf-8"))
        except OSError as exc:
            raise LexiconError(
                f"{out}: cannot save the lexicon ({exc.strerror or exc}); the previous "
                "version, if any, is unchanged"
            ) from None
        return out


def _accents_agree(written: str, candidate: str) -> bool:
    """Return whether every accent written is also in `candidate` (missing ones are fine)."""
    a = expand_ligatures(written.casefold())
    b = expand_ligatures(candidate.casefold())
    if len(a) != len(b):
        return False
    return all(x == y or x == strip_accents(y) for x, y in zip(a, b, strict=True))


def _variants(word: str) -> dict[str, None]:
    """Return the written variants of a canonical word, in a fixed order."""
    bases = [word, word.lower(), word[:1].upper() + word[1:].lower(), word.upper()]
    variants: dict[str, None] = {}
    for base in bases:
        variants.setdefault(base, None)
        variants.setdefault(expand_ligatures(base), None)
        variants.setdefault(strip_accents(base), None)
    return variants


# ---------------------------------------------------------------------------------------------
# Loading.
