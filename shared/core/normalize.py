"""Obfuscation-robust text normalisation that keeps an offset map back to the original text.

Views (each a :class:`Normalized` whose offsets map to the original text):

* :func:`normalize` — the *canonical* view, used for term and regex matching:
  NFKC (per grapheme-ish cluster, so offsets stay exact), removal of invisible
  format characters, removal of stray combining marks on ASCII letters ("zalgo"),
  homoglyph folding (:mod:`shared.core.confusables`) and casefolding. ASCII
  text takes a fast path (lower-casing, identity offsets).
* :func:`clean` — NFKC plus invisible removal only (case kept): the view PII runs on.
* :func:`collapse_separators` — runs of three or more single letters joined by
  separators ("k.i.l.l", "b a d", "k - i - l - l") glued together.
* :func:`leet_fold` — leetspeak and diacritics folded (1:1, offsets shared with
  its input). Matching-only: see :func:`leet_fold` for the rules that keep ordinary
  numbers ("1000", "3 apples", "Galaxy A55") intact.

:func:`matching_views` returns the distinct views a term matcher should scan.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from shared.core.confusables import (
    ALWAYS,
    LEET,
    LEET_INNER,
    LEET_SYMBOLS,
    MIXED_LOWER,
    MIXED_UPPER,
    STRONG,
    fold_diacritic,
)

__all__ = [
    "INVISIBLE",
    "Normalized",
    "clean",
    "collapse_separators",
    "leet_fold",
    "matching_views",
    "normalize",
]

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

_WORD: Final = re.compile(r"[^\W\d_]+")
_LATIN: Final = re.compile(r"[A-Za-z]")
_SEP: Final = r"[\s.\-_*·•~/\\]"
_SPACED_RUN: Final = re.compile(rf"(?<!\w)[^\W_](?:{_SEP}{{1,3}}[^\W_]){{2,}}(?!\w)")
_SEP_CHAR: Final = re.compile(_SEP)
_LEET_TOKEN: Final = re.compile(r"[\w@$!|€]+")


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


def _clusters(text: str) -> list[tuple[str, int, int]]:
    """NFKC per cluster (a character and its combining marks), invisibles removed.

    Returns (normalised cluster, original start, original end) triples; NFKC per
    cluster rather than per character keeps compositions such as e + acute = é.
    """
    out: list[tuple[str, int, int]] = []
    needs_nfkc = not unicodedata.is_normalized("NFKC", text)
    i, n = 0, len(text)
    while i < n:
        j = i + 1
        while j < n and unicodedata.combining(text[j]):
            j += 1
        cluster = "".join(c for c in text[i:j] if not _invisible(c))
        if needs_nfkc:
            cluster = unicodedata.normalize("NFKC", cluster)
        if cluster:
            out.append((cluster, i, j))
        i = j
    return out


def _fold_homoglyphs(text: str, table: Mapping[int, str]) -> str:
    """Fold look-alike letters to Latin, word by word (1:1, so offsets are unchanged)."""
    text = text.translate(ALWAYS)

    def fold(m: re.Match[str]) -> str:
        word = m.group()
        if _LATIN.search(word) or all(c.lower() in STRONG for c in word):
            return word.translate(table)
        return word

    return _WORD.sub(fold, text)


def _casefold(clusters: list[tuple[str, int, int]]) -> tuple[str, list[int], list[int]]:
    """Casefold (re-NFKC'd, as NFKC_Casefold does), dropping marks left on ASCII letters."""
    chars: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    on_ascii_letter = False
    for cluster, start, end in clusters:
        piece = cluster.casefold()
        if not unicodedata.is_normalized("NFKC", piece):
            piece = unicodedata.normalize("NFKC", piece)
        for ch in piece:
            if unicodedata.combining(ch):
                if on_ascii_letter:
                    continue  # no precomposed form exists: decoration such as strike-through
            else:
                on_ascii_letter = ch.isascii() and ch.isalpha()
            chars.append(ch)
            starts.append(start)
            ends.append(end)
    return "".join(chars), starts, ends


def normalize(text: str) -> Normalized:
    """The canonical matching view: NFKC, invisibles removed, homoglyphs folded, casefolded."""
    if text.isascii():
        n = len(text)
        return Normalized(text.lower(), tuple(range(n)), tuple(range(1, n + 1)), n)
    clusters = _clusters(text)
    upper = _fold_homoglyphs("".join(c for c, _, _ in clusters), MIXED_UPPER)
    at = 0
    for k, (cluster, start, end) in enumerate(clusters):
        clusters[k] = (upper[at : at + len(cluster)], start, end)
        at += len(cluster)
    folded, starts, ends = _casefold(clusters)
    return Normalized(_fold_homoglyphs(folded, MIXED_LOWER), tuple(starts), tuple(ends), len(text))


def clean(text: str) -> Normalized:
    """NFKC and invisible removal only; case and script are kept (for PII detection)."""
    if text.isascii():
        return _identity(text)
    chars, starts, ends = [], [], []
    for cluster, start, end in _clusters(text):
        chars.append(cluster)
        starts += [start] * len(cluster)
        ends += [end] * len(cluster)
    return Normalized("".join(chars), tuple(starts), tuple(ends), len(text))


def collapse_separators(view: Normalized) -> Normalized:
    """Remove the separators inside runs of 3+ single letters ("k.i.l.l" → "kill")."""
    drop: set[int] = set()
    for m in _SPACED_RUN.finditer(view.text):
        base = m.start()
        drop.update(base + s.start() for s in _SEP_CHAR.finditer(m.group()))
    if not drop:
        return view
    keep = [i for i in range(len(view.text)) if i not in drop]
    return Normalized(
        "".join(view.text[i] for i in keep),
        tuple(view.starts[i] for i in keep),
        tuple(view.ends[i] for i in keep),
        view.original_length,
    )


def _leet_token(token: str, one: str) -> str:
    letters = sum(c.isalpha() for c in token)
    if letters == 0:
        return token
    out = []
    last = len(token) - 1
    for k, c in enumerate(token):
        if c.isdigit() and c in LEET and letters >= 2:
            c = one if c == "1" else LEET[c]
        elif c in LEET_SYMBOLS:
            c = LEET_SYMBOLS[c]
        elif c in LEET_INNER and 0 < k < last and token[k - 1].isalnum() and token[k + 1].isalnum():
            c = LEET_INNER[c]
        elif not c.isascii():
            c = fold_diacritic(c)
        out.append(c)
    return "".join(out)


def leet_fold(view: Normalized, *, one: str = "i") -> Normalized:
    """Fold leetspeak and diacritics inside letter-bearing tokens (``one`` is what "1" becomes).

    Digits fold only in tokens with at least two letters ("k1ll", "5ex", but not
    "1000" or "a55"); "@", "$" and "€" in tokens with a letter ("@ss", "a$$");
    "!" and "|" only between letters or digits ("sh!t").
    """
    text = _LEET_TOKEN.sub(lambda m: _leet_token(m.group(), one), view.text)
    if text == view.text:
        return view
    return Normalized(text, view.starts, view.ends, view.original_length)


def matching_views(text: str) -> tuple[Normalized, ...]:
    """The distinct views a term matcher scans: canonical, collapsed and leet-folded ones."""
    canonical = normalize(text)
    collapsed = collapse_separators(canonical)
    candidates = [canonical, collapsed, leet_fold(collapsed, one="i")]
    if "1" in collapsed.text:
        candidates.append(leet_fold(collapsed, one="l"))
    views: list[Normalized] = []
    seen: set[str] = set()
    for view in candidates:
        if view.text not in seen:
            seen.add(view.text)
            views.append(view)
    return tuple(views)
