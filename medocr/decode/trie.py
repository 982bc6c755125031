"""Prefix trie over a lexicon's written forms, built once per (lexicon, alphabet) and cached.

The trie stores every surface form (canonical, lower, Capitalised, UPPER, unaccented...)
whose characters are all *word characters* of the alphabet, i.e. alphabet characters that
are not in the decoder's ``non_word_chars`` (by default: every letter). It is kept as flat
numpy arrays (CSR: the children of node ``n`` are edges ``first[n]:first[n + 1]``, sorted by
label), 14 bytes per node, plus the stored forms as one string (for
:func:`medocr.decode.lexicon_search`); the children of the nodes a search visits are turned
into small dicts on first use and memoised (at most :data:`MEMO_LIMIT` nodes). A 40,000-word
lexicon (164,000 forms, 960,000 nodes) takes about 17 MiB (``benchmarks/bench_decode.py``).

>>> from medocr.text import Alphabet
>>> trie = get_trie(["avc", "arrêt"], Alphabet(tuple("abcdefghijklmnopqrstuvwxyzêAVCR ")))
>>> trie.lookup("AVC"), trie.lookup("arret"), trie.lookup("avcx")
('avc', 'arrêt', None)
"""

from __future__ import annotations

import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from typing import Any, cast

import numpy as np

from medocr.decode._common import WordSource
from medocr.text import Alphabet, fold_accents, normalize_text

CACHE_SIZE = 4
"""How many tries :func:`get_trie` keeps (least recently used dropped first)."""

MEMO_LIMIT = 50_000
"""Nodes whose children dict is memoised before the memo is cleared."""


def default_non_word_chars(alphabet: Alphabet) -> frozenset[str]:
    """Return the alphabet characters that are not letters (digits, spaces, punctuation).

    Parameters
    ----------
    alphabet : Alphabet
        A recognizer's alphabet.

    Returns
    -------
    frozenset of str
        Every ``c`` of ``alphabet.chars`` with ``not c.isalpha()``.
    """
    return frozenset(c for c in alphabet.chars if not c.isalpha())


def surface_forms(lexicon: WordSource, alphabet: Alphabet) -> dict[str, str]:
    """Return the ``written form -> canonical form`` map of any accepted word source.

    Parameters
    ----------
    lexicon : Lexicon-like, mapping or iterable of str
        An object with ``surface_forms(alphabet)`` (taken as it is); a mapping
        ``surface -> canonical`` (taken as it is); or plain words, each expanded to its
        variants: itself, lower case, Capitalised, UPPER, and each of these unaccented
        (an exact word wins over another word's variant).
    alphabet : Alphabet
        Passed to ``surface_forms``.

    Returns
    -------
    dict of str to str
        NFC keys (apostrophes normalised); forms with characters outside the alphabet are
        kept here and dropped by the trie.

    Raises
    ------
    TypeError
        If `lexicon` is a single string or not iterable.
    """
    if hasattr(lexicon, "surface_forms") and callable(lexicon.surface_forms):
        items: Iterable[tuple[str, str]] = dict(lexicon.surface_forms(alphabet)).items()
        return {normalize_text(s): c for s, c in items}
    if isinstance(lexicon, str | bytes):
        raise TypeError("a lexicon must be a collection of words, not a single string")
    if isinstance(lexicon, Mapping):
        return {normalize_text(str(s)): str(c) for s, c in lexicon.items()}
    try:
        words = [normalize_text(str(w)).strip() for w in cast(Iterable[str], lexicon)]
    except TypeError as exc:
        raise TypeError(
            "lexicon must be a Lexicon, a mapping surface -> canonical or an iterable of "
            f"words, got {type(lexicon).__name__}"
        ) from exc
    words = [w for w in words if w]
    forms = {w: w for w in words}
    for word in words:
        cased = (word.lower(), word[:1].upper() + word[1:].lower(), word.upper())
        for variant in (*cased, *(fold_accents(v) for v in (word, *cased))):
            forms.setdefault(variant, word)
    return forms


class LexiconTrie:
    """Prefix trie of the surface forms of one lexicon for one alphabet.

    Build it with :func:`get_trie` (cached) rather than directly.

    Parameters
    ----------
    forms : Mapping of str to str
        ``surface -> canonical``; surfaces with a character that is not a word character
        are skipped (counted in :attr:`n_skipped`).
    alphabet : Alphabet
        Gives the class index of each character (the trie's edge labels).
    word_chars : frozenset of str
        Characters that may appear inside a word.

    Attributes
    ----------
    n_forms : int
        Surface forms stored.
    n_skipped : int
        Surface forms left out (characters outside the word characters).
    n_nodes : int
        Nodes, root included.
    """

    def __init__(self, forms: Mapping[str, str], alphabet: Alphabet, word_chars: frozenset[str]):
        self.alphabet = alphabet
        self.word_chars = frozenset(word_chars)
        self._index = {c: i for i, c in enumerate(alphabet.chars) if c in self.word_chars}
        self._memo: dict[int, tuple[dict[int, int], str | None]] = {}
        self._lock = threading.Lock()
        self._csr: tuple[np.ndarray, ...] | None = None  # int32 arrays, made on first use
        self._build(forms)

    # -- construction --------------------------------------------------------------------

    def _build(self, forms: Mapping[str, str]) -> None:
        surfaces = [s for s in forms if s]
        labels, lengths = self._encode(surfaces)
        offsets = np.concatenate(([0], np.cumsum(lengths)))
        valid = np.zeros(len(surfaces), dtype=bool)
        if len(surfaces):
            valid = np.minimum.reduceat(labels, offsets[:-1]) >= 0
        keep = np.flatnonzero(valid)
        self.n_forms = int(keep.size)
        self.n_skipped = len(forms) - self.n_forms
        kept = [surfaces[i] for i in keep.tolist()]
        self._surfaces = "\n".join(kept)  # compact (no word character is a newline)
        canonicals = sorted({forms[s] for s in kept})
        canon_index = {c: i for i, c in enumerate(canonicals)}
        self.canonicals: tuple[str, ...] = tuple(canonicals)
        if keep.size == 0:
            self._set_arrays(np.zeros(1, np.int64), np.zeros(1, np.int64), np.full(1, -1))
            return
        # Padded (forms, max_len) label matrix, -1 after the end (sorts before any label).
        kept_lengths = lengths[keep]
        max_len = int(kept_lengths.max())
        dtype = np.int16 if len(self.alphabet.chars) < 2**15 else np.int32
        matrix = np.full((keep.size, max_len), -1, dtype=dtype)
        rows = np.repeat(np.arange(keep.size), kept_lengths)
        starts = offsets[:-1][keep]
        positions = np.arange(rows.size) - np.repeat(
            np.cumsum(kept_lengths) - kept_lengths, kept_lengths
        )
        matrix[rows, positions] = labels[np.repeat(starts, kept_lengths) + positions]
        word_ids = np.array([canon_index[forms[surfaces[i]]] for i in keep.tolist()], np.int32)
        order = np.lexsort(matrix.T[::-1])
        matrix, kept_lengths, word_ids = matrix[order], kept_lengths[order], word_ids[order]
        # Longest common prefix with the previous form: the nodes deeper than it are new.
        same = np.logical_and.accumulate(matrix[1:] == matrix[:-1], axis=1).sum(axis=1)
        lcp = np.concatenate(([0], same))
        new_counts = kept_lengths - lcp
        base = 1 + np.concatenate(([0], np.cumsum(new_counts)[:-1]))
        n_nodes = 1 + int(new_counts.sum())
        parent = np.zeros(n_nodes, dtype=np.int32)
        label = np.full(n_nodes, -1, dtype=np.int32)
        word_of = np.full(n_nodes, -1, dtype=np.int32)
        # Nodes are numbered in preorder, so the latest node created at a depth has the
        # largest id: a running maximum carries each form's node at that depth forward.
        previous = np.zeros(keep.size, dtype=np.int64)
        for depth in range(1, max_len + 1):
            is_new = (depth > lcp) & (depth <= kept_lengths)
            ids = np.where(is_new, base + depth - lcp - 1, -1)
            current = np.maximum.accumulate(ids)
            parent[ids[is_new]] = previous[is_new]
            label[ids[is_new]] = matrix[is_new, depth - 1]
            ends = kept_lengths == depth
            word_of[current[ends]] = word_ids[ends]
            previous = current
        self._set_arrays(parent, label, word_of)

    def _encode(self, surfaces: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Return the concatenated labels of `surfaces` (-1 for non-word chars) and lengths."""
        lengths = np.fromiter(map(len, surfaces), dtype=np.int64, count=len(surfaces))
        points = np.frombuffer("".join(surfaces).encode("utf-32-le"), dtype=np.uint32)
        known = sorted((ord(c), i) for c, i in self._index.items())
        if not known or points.size == 0:
            return np.full(points.size, -1, dtype=np.int64), lengths
        codes = np.array([k for k, _ in known], dtype=np.uint32)
        values = np.array([i for _, i in known], dtype=np.int64)
        pos = np.minimum(np.searchsorted(codes, points), codes.size - 1)
        return np.where(codes[pos] == points, values[pos], -1), lengths

    def _set_arrays(self, parent: np.ndarray, label: np.ndarray, word_of: np.ndarray) -> None:
        n_nodes = parent.size
        order = np.argsort(parent[1:], kind="stable").astype(np.int32) + 1
        self._edge_child = order
        self._edge_label = label[order].astype(
            np.int16 if n_nodes and label.max() < 2**15 else np.int32
        )
        self._first = np.searchsorted(parent[order], np.arange(n_nodes + 1)).astype(np.int32)
        self._word_of = word_of.astype(np.int32)
        self.n_nodes = int(n_nodes)

    # -- queries ------------------------------------------------------------------------

    def node(self, node: int) -> tuple[dict[int, int], str | None]:
        """Return the children (``label -> node``) and canonical word (or None) of `node`.

        Parameters
        ----------
        node : int
            A node id; 0 is the root.

        Returns
        -------
        tuple of (dict of int to int, str or None)
            Memoised; do not modify the dict.
        """
        entry = self._memo.get(node)
        if entry is None:
            start, end = int(self._first[node]), int(self._first[node + 1])
            kids = dict(
                zip(
                    self._edge_label[start:end].tolist(),
                    self._edge_child[start:end].tolist(),
                    strict=True,
                )
            )
            word = int(self._word_of[node])
            entry = (kids, self.canonicals[word] if word >= 0 else None)
            with self._lock:
                if len(self._memo) >= MEMO_LIMIT:
                    self._memo.clear()
                self._memo[node] = entry
        return entry

    def children(self, node: int) -> dict[int, int]:
        """Return the children (``label -> node``) of `node` (memoised; do not modify)."""
        entry = self._memo.get(node)
        return (entry if entry is not None else self.node(node))[0]

    def completion(self, node: int) -> tuple[tuple[int, ...], str] | None:
        """Return the only way to finish the word whose prefix ends at `node`, if unique.

        Parameters
        ----------
        node : int
            A node id, not the root.

        Returns
        -------
        tuple of (tuple of int, str) or None
            The labels to append (empty when `node` is itself a whole form with no longer
            one) and the canonical word reached, when exactly one stored form starts with
            the prefix of `node`; None when none or several do (or `node` is the root).
        """
        if node == 0:
            return None
        labels: list[int] = []
        while True:
            start, end = int(self._first[node]), int(self._first[node + 1])
            word = self.word_at(node)
            if word is not None:
                # Every leaf is a whole form: a word node with children has several.
                return (tuple(labels), word) if start == end else None
            if end - start != 1:
                return None
            labels.append(int(self._edge_label[start]))
            node = int(self._edge_child[start])

    def word_at(self, node: int) -> str | None:
        """Return the canonical word that `node` ends, None if it ends none (not memoised)."""
        word = int(self._word_of[node])
        return self.canonicals[word] if word >= 0 else None

    def _child(self, node: int, label: int) -> int | None:
        """Return the child of `node` by `label`, from the memo or the arrays (not memoised).

        Lookups and completions walk nodes once; only the searches, which come back to the
        same nodes frame after frame, fill the memo (:meth:`node`).
        """
        entry = self._memo.get(node)
        if entry is not None:
            return entry[0].get(label)
        start, end = int(self._first[node]), int(self._first[node + 1])
        hits = np.flatnonzero(self._edge_label[start:end] == label)
        return int(self._edge_child[start + hits[0]]) if hits.size else None

    def lookup(self, word: str) -> str | None:
        """Return the canonical form of the written `word`, or None if it is not stored.

        Parameters
        ----------
        word : str
            A written form (exact case and accents).

        Returns
        -------
        str or None
            The canonical form.
        """
        node = 0
        for char in normalize_text(word):
            label = self._index.get(char)
            if label is None:
                return None
            child = self._child(node, label)
            if child is None:
                return None
            node = child
        return self.word_at(node) if node else None

    def csr(self) -> tuple[np.ndarray, ...]:
        """Return the trie as int32 arrays, for the compiled word beam search.

        Returns
        -------
        first : numpy.ndarray
            ``(n_nodes + 1,)``: node ``n``'s edges are ``first[n]:first[n + 1]``.
        edge_label, edge_child : numpy.ndarray
            ``(n_edges,)``: the label and child node of each edge.
        word_of : numpy.ndarray
            ``(n_nodes,)``: the canonical word index (in :attr:`canonicals`) a node ends,
            -1 for none.
        """
        if self._csr is None:
            self._csr = tuple(
                np.ascontiguousarray(a, dtype=np.int32)
                for a in (self._first, self._edge_label, self._edge_child, self._word_of)
            )
        return self._csr

    def surfaces(self) -> list[str]:
        """Return the surface forms stored (a new list, in no particular order)."""
        return self._surfaces.split("\n") if self._surfaces else []

    def nbytes(self) -> int:
        """Return the bytes held by the trie (arrays and strings; the memo excluded)."""
        arrays = (self._edge_child, self._edge_label, self._first, self._word_of)
        strings = sys.getsizeof(self._surfaces) + sum(sys.getsizeof(c) for c in self.canonicals)
        return sum(a.nbytes for a in arrays) + strings

    def __repr__(self) -> str:
        return (
            f"LexiconTrie({self.n_forms} forms, {self.n_nodes} nodes, "
            f"{len(self.canonicals)} canonical words)"
        )


_CACHE: OrderedDict[tuple[Any, ...], tuple[object, LexiconTrie]] = OrderedDict()
_CACHE_LOCK = threading.Lock()


def _word_chars(alphabet: Alphabet, non_word_chars: Iterable[str] | None) -> frozenset[str]:
    if non_word_chars is None:
        non_word = default_non_word_chars(alphabet)
    elif isinstance(non_word_chars, str):
        non_word = frozenset(non_word_chars)
    else:
        non_word = frozenset(str(c) for c in non_word_chars)
    return frozenset(c for c in alphabet.chars if c not in non_word)


def get_trie(
    lexicon: WordSource | LexiconTrie,
    alphabet: Alphabet,
    non_word_chars: Iterable[str] | None = None,
) -> LexiconTrie:
    """Return the (cached) prefix trie of `lexicon` for `alphabet`.

    Parameters
    ----------
    lexicon : Lexicon-like, mapping, iterable of str, or LexiconTrie
        See :func:`surface_forms`. A :class:`LexiconTrie` is returned as it is after a
        check that it was built for this alphabet and these word characters.
    alphabet : Alphabet
        The recognizer's alphabet.
    non_word_chars : str or iterable of str, optional
        Characters that separate words; default :func:`default_non_word_chars`.
        Characters outside the alphabet are ignored.

    Returns
    -------
    LexiconTrie
        Cached on ``(lexicon.ref, alphabet, word characters)`` when the lexicon has a
        string ``ref`` (its content id), else on the object's identity (the cache holds a
        reference, so a plain list is read once: pass a new list after changing it).

    Raises
    ------
    ValueError
        A prebuilt trie made for another alphabet or other word characters.
    """
    word_chars = _word_chars(alphabet, non_word_chars)
    if isinstance(lexicon, LexiconTrie):
        if lexicon.alphabet.chars != alphabet.chars or lexicon.word_chars != word_chars:
            raise ValueError(
                "this LexiconTrie was built for another alphabet or other non-word characters"
            )
        return lexicon
    ref = getattr(lexicon, "ref", None)
    if isinstance(ref, str) and hasattr(lexicon, "surface_forms"):
        key: tuple[Any, ...] = ("ref", type(lexicon).__qualname__, ref)
    else:
        key = ("id", id(lexicon))
    key += (alphabet.chars, word_chars)
    with _CACHE_LOCK:
        hit = _CACHE.get(key)
        if hit is not None and (key[0] == "ref" or hit[0] is lexicon):
            _CACHE.move_to_end(key)
            return hit[1]
    trie = LexiconTrie(surface_forms(lexicon, alphabet), alphabet, word_chars)
    with _CACHE_LOCK:
        _CACHE[key] = (lexicon if key[0] == "id" else None, trie)
        _CACHE.move_to_end(key)
        while len(_CACHE) > CACHE_SIZE:
            _CACHE.popitem(last=False)
    return trie


def clear_trie_cache() -> None:
    """Forget every cached trie (e.g. after editing a word list in place)."""
    with _CACHE_LOCK:
        _CACHE.clear()


def lexicon_lookup(
    lexicon: WordSource | LexiconTrie | None, alphabet: Alphabet
) -> Callable[[str], str | None] | None:
    """Return ``word -> canonical or None`` for `lexicon` (None when `lexicon` is None).

    Parameters
    ----------
    lexicon : Lexicon-like, mapping, iterable of str, LexiconTrie or None
        The word source.
    alphabet : Alphabet
        The recognizer's alphabet.

    Returns
    -------
    callable or None
        :meth:`LexiconTrie.lookup` of the cached trie.
    """
    if lexicon is None:
        return None
    if isinstance(lexicon, LexiconTrie):
        return lexicon.lookup
    return get_trie(lexicon, alphabet).lookup
