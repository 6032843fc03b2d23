"""Obfuscation-robust text normalisation that keeps an offset map back to the original text.

Views (each a :class:`Normalized` whose offsets map to the original text):

* :func:`normalize` — the *canonical* view, used for term and regex matching:
  NFKC (per grapheme-ish cluster, so offsets stay exact), removal of invisible
  format characters, removal of stray combining marks on ASCII letters ("zalgo"),
  homoglyph folding (:mod:`shared.core.confusables`) and casefolding. ASCII
  text takes a fast path (lower-casing, identity offsets).
* :func:`clean` — NFKC plus invisible removal only (case kept): the view PII runs on.

The matching-only views built on top of the canonical one (separators collapsed,
leetspeak folded) live in :mod:`shared.core.obfuscation`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from shared.core.confusables import ALWAYS, MIXED_LOWER, MIXED_UPPER, STRONG

__all__ = ["INVISIBLE", "Normalized", "clean", "normalize"]

#: Characters removed before matching: zero-width, bidi controls, soft hyphen,
#: variation selectors, grapheme joiner, tags, Hangul fillers. Every other
#: format character (category ``Cf``) is removed too.
INVISIBLE: Final[frozenset[str]] = frozenset(
    "\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b\u180c\u180d\u180e\u3164\uffa0\ufeff"
    + "".join(map(chr, range(0x200B, 0x2010)))
    + "".join(map(chr, range(0x202A, 0x202F)))
    + "".join(map(chr, range(0x2060, 0x2070)))
    + "".join(map(chr, range(0xFE00, 0xFE10)))
    + "".join(map(chr, range(0xE0100, 0xE01F0)))
    + "".join(map(chr, range(0xE0000, 0xE0080)))
)

_ASCII_RUN: Final = re.compile(r"[\x00-\x7f]+")
_LATIN: Final = re.compile(r"[A-Za-z]")


@dataclass(frozen=True, slots=True)
class Normalized:
    """A view of a text: character ``i`` of :attr:`text` came from ``original[starts[i]:ends[i]]``.

    Both tuples are non-decreasing, so spans map to spans.
    """

    text: str
    starts: tuple[int, ...]
    ends: tuple[int, ...]
    original_length: int

    def to_original(self, start: int, end: int) -> tuple[int, int]:
        """Map the half-open span ``[start, end)`` of :attr:`text` to the original text."""
        if not 0 <= start <= end <= len(self.text):
            raise ValueError(f"span {start}:{end} outside 0:{len(self.text)}")
        if start == end:
            at = self.starts[start] if start < len(self.text) else self.original_length
            return at, at
        return self.starts[start], self.ends[end - 1]


def _identity(text: str) -> Normalized:
    n = len(text)
    return Normalized(text, tuple(range(n)), tuple(range(1, n + 1)), n)


def _invisible(ch: str) -> bool:
    return ch in INVISIBLE or unicodedata.category(ch) == "Cf"


#: (piece, original start, original end, is_run): an ASCII run maps character by
#: character from ``start``; any other piece is one cluster mapped as a whole.
_Piece = tuple[str, int, int, bool]


def _pieces(text: str) -> list[_Piece]:
    """ASCII runs and NFKC'd clusters (a character and its combining marks), invisibles removed.

    NFKC per cluster rather than per character keeps compositions (e + acute = é)
    while every output character still maps to a span of the original.
    """
    out: list[_Piece] = []
    needs_nfkc = not unicodedata.is_normalized("NFKC", text)
    i, n = 0, len(text)
    while i < n:
        run = _ASCII_RUN.match(text, i)
        if run:
            j = run.end()
            if j < n and unicodedata.combining(text[j]):
                j -= 1  # the last ASCII character is the base of the next cluster
            if j > i:
                out.append((text[i:j], i, j, True))
                i = j
        j = i + 1
        while j < n and unicodedata.combining(text[j]):
            j += 1
        cluster = "".join(c for c in text[i:j] if not _invisible(c))
        if needs_nfkc:
            cluster = unicodedata.normalize("NFKC", cluster)
        if cluster:
            out.append((cluster, i, j, False))
        i = j
    return out


def _view(pieces: list[_Piece], original_length: int) -> Normalized:
    starts: list[int] = []
    ends: list[int] = []
    for piece, start, end, is_run in pieces:
        if is_run:
            starts.extend(range(start, start + len(piece)))
            ends.extend(range(start + 1, start + len(piece) + 1))
        else:
            starts.extend([start] * len(piece))
            ends.extend([end] * len(piece))
    text = "".join(p for p, _, _, _ in pieces)
    return Normalized(text, tuple(starts), tuple(ends), original_length)


def _words_with(table: Mapping[int, str]) -> re.Pattern[str]:
    """Whole words (letters only) that contain at least one key of ``table``."""
    keys = re.escape("".join(map(chr, table)))
    return re.compile(rf"(?<![^\W\d_])[^\W\d_]*?[{keys}][^\W\d_]*")


_ALWAYS_KEYS: Final = re.compile(f"[{re.escape(''.join(map(chr, ALWAYS)))}]")
_UPPER: Final = (MIXED_UPPER, _words_with(MIXED_UPPER))
_LOWER: Final = (MIXED_LOWER, _words_with(MIXED_LOWER))


def _fold_homoglyphs(text: str, fold: tuple[Mapping[int, str], re.Pattern[str]]) -> str:
    """Fold look-alike letters to Latin, word by word (1:1, so offsets are unchanged)."""
    table, words = fold

    def fold_word(m: re.Match[str]) -> str:
        word = m.group()
        if _LATIN.search(word) or all(c.lower() in STRONG for c in word):
            return word.translate(table)
        return word

    if _ALWAYS_KEYS.search(text):
        text = text.translate(ALWAYS)
    return words.sub(fold_word, text)


def _casefold(pieces: list[_Piece]) -> list[_Piece]:
    """Casefold (re-NFKC'd, as NFKC_Casefold does), dropping marks left on ASCII letters."""
    out: list[_Piece] = []
    on_ascii_letter = False
    for piece, start, end, is_run in pieces:
        if is_run:
            folded = piece.lower()
            on_ascii_letter = folded[-1].isalpha()
        else:
            folded = piece.casefold()
            if not unicodedata.is_normalized("NFKC", folded):
                folded = unicodedata.normalize("NFKC", folded)
            kept = []
            for ch in folded:
                if unicodedata.combining(ch):
                    if on_ascii_letter:
                        continue  # no precomposed form exists: decoration (strike-through)
                else:
                    on_ascii_letter = ch.isascii() and ch.isalpha()
                kept.append(ch)
            folded = "".join(kept)
        if folded:
            out.append((folded, start, end, is_run))
    return out


def _refill(pieces: list[_Piece], text: str) -> list[_Piece]:
    """``pieces`` with their text replaced by the same-length slices of ``text``."""
    out: list[_Piece] = []
    at = 0
    for piece, start, end, is_run in pieces:
        out.append((text[at : at + len(piece)], start, end, is_run))
        at += len(piece)
    return out


def normalize(text: str) -> Normalized:
    """The canonical matching view: NFKC, invisibles removed, homoglyphs folded, casefolded."""
    if text.isascii():
        n = len(text)
        return Normalized(text.lower(), tuple(range(n)), tuple(range(1, n + 1)), n)
    pieces = _pieces(text)
    upper = _fold_homoglyphs("".join(p for p, _, _, _ in pieces), _UPPER)
    folded = _casefold(_refill(pieces, upper))
    lower = _fold_homoglyphs("".join(p for p, _, _, _ in folded), _LOWER)
    return _view(_refill(folded, lower), len(text))


def clean(text: str) -> Normalized:
    """NFKC and invisible removal only; case and script are kept (for PII detection)."""
    if text.isascii():
        return _identity(text)
    return _view(_pieces(text), len(text))
