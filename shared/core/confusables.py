"""Small, documented folding tables: homoglyphs (to Latin), leetspeak and diacritics.

Fullwidth forms, mathematical alphanumerics (bold, script, double-struck ...),
circled and superscript letters are already handled by NFKC; these tables cover
what NFKC leaves alone. They are a deliberately small, curated subset of Unicode
TR39 ``confusables.txt``, written with Unicode character names so that the source
stays unambiguous. Every entry maps one character to one character, so offsets
never move.

Homoglyph rules (see :func:`shared.core.normalize.normalize`):

* :data:`ALWAYS` — Latin-script look-alikes (small capitals, IPA letters) fold everywhere.
* :data:`MIXED_UPPER` / :data:`MIXED_LOWER` — Cyrillic, Greek and Armenian look-alikes
  fold only inside a word that also has an ASCII letter ("paypal" spelt with Cyrillic
  er, a and u but a Latin l), or whose letters are all in :data:`STRONG` in either
  case (lower-case Cyrillic look-alikes: "paypal" spelt entirely in Cyrillic, with
  palochka for l). Ordinary Greek and Russian words keep their script, so tenant
  regexes over them still work; a Russian word spelt only with look-alikes (e.g.
  "cop" in Cyrillic) is folded, an accepted cost.
* Upper-case entries are applied before casefolding and lower-case ones after it, so
  Cyrillic capital VE (looks like B) becomes "b" while small ve (does not look like
  b) is left alone, and normalising twice changes nothing.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from functools import lru_cache
from typing import Final

__all__ = [
    "ALWAYS",
    "LEET",
    "LEET_INNER",
    "LEET_SYMBOLS",
    "MIXED_LOWER",
    "MIXED_UPPER",
    "STRONG",
    "fold_diacritic",
]


def _named(script: str, pairs: str) -> dict[int, str]:
    """``_named("CYRILLIC SMALL LETTER", "A=a, IE=e")`` → {ord(<that letter>): "a", ...}."""
    table: dict[int, str] = {}
    for pair in pairs.split(","):
        name, latin = pair.strip().rsplit("=", 1)
        table[ord(unicodedata.lookup(f"{script} {name}"))] = latin
    return table


_CYRILLIC_LOWER: Final = _named(
    "CYRILLIC SMALL LETTER",
    "A=a, IE=e, O=o, ER=p, ES=c, U=y, HA=x, DZE=s, BYELORUSSIAN-UKRAINIAN I=i, JE=j,"
    " KOMI DE=d, PALOCHKA=l, SHHA=h, QA=q, WE=w, STRAIGHT U=y",
)
_CYRILLIC_UPPER: Final = _named(
    "CYRILLIC CAPITAL LETTER",
    "A=A, VE=B, IE=E, KA=K, EM=M, EN=H, O=O, ER=P, ES=C, TE=T, HA=X, DZE=S,"
    " BYELORUSSIAN-UKRAINIAN I=I, JE=J, U=Y, STRAIGHT U=Y",
)
_CYRILLIC_UPPER[ord(unicodedata.lookup("CYRILLIC LETTER PALOCHKA"))] = "I"
_GREEK_LOWER: Final = _named(
    "GREEK SMALL LETTER",
    "ALPHA=a, EPSILON=e, IOTA=i, KAPPA=k, NU=v, OMICRON=o, RHO=p, TAU=t, UPSILON=u, CHI=x, GAMMA=y",
)
_GREEK_UPPER: Final = _named(
    "GREEK CAPITAL LETTER",
    "ALPHA=A, BETA=B, EPSILON=E, ZETA=Z, ETA=H, IOTA=I, KAPPA=K, MU=M, NU=N,"
    " OMICRON=O, RHO=P, TAU=T, UPSILON=Y, CHI=X",
)
_ARMENIAN: Final = _named("ARMENIAN SMALL LETTER", "OH=o, SEH=u, VO=n, HO=h")
_LATIN_LOOKALIKES: Final = {
    **_named(
        "LATIN LETTER SMALL CAPITAL",
        "A=a, B=b, C=c, D=d, E=e, G=g, H=h, I=i, J=j, K=k, L=l, M=m, N=n, O=o, P=p,"
        " R=r, S=s, T=t, U=u, V=v, W=w, Y=y, Z=z",
    ),
    **_named("LATIN SMALL LETTER", "ALPHA=a, SCRIPT G=g"),
}

ALWAYS: Final[Mapping[int, str]] = _LATIN_LOOKALIKES
#: Applied before casefolding (upper-case shapes differ from lower-case ones).
MIXED_UPPER: Final[Mapping[int, str]] = {**_CYRILLIC_UPPER, **_GREEK_UPPER}
#: Applied after casefolding.
MIXED_LOWER: Final[Mapping[int, str]] = {**_CYRILLIC_LOWER, **_GREEK_LOWER, **_ARMENIAN}
#: Lower-case Cyrillic look-alikes; a word made only of these (in either case) is folded.
STRONG: Final[frozenset[str]] = frozenset(map(chr, _CYRILLIC_LOWER))

#: Digits read as letters; "1" is ambiguous (i or l) and is chosen by the caller.
LEET: Final[Mapping[str, str]] = {
    "0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "8": "b", "9": "g",
}  # fmt: skip
#: Symbols read as letters anywhere in a token that has a letter ("@ss", "a$$").
LEET_SYMBOLS: Final[Mapping[str, str]] = {"@": "a", "$": "s", "€": "e"}
#: Symbols read as letters only between two letters or digits ("sh!t", "ki|l").
LEET_INNER: Final[Mapping[str, str]] = {"!": "i", "|": "l"}

_NO_DECOMPOSITION: Final = {
    unicodedata.lookup(f"LATIN SMALL LETTER {name}"): latin
    for name, latin in (
        ("DOTLESS I", "i"),
        ("L WITH STROKE", "l"),
        ("O WITH STROKE", "o"),
        ("D WITH STROKE", "d"),
        ("H WITH STROKE", "h"),
        ("T WITH STROKE", "t"),
        ("ETH", "d"),
    )
}


@lru_cache(maxsize=4096)
def fold_diacritic(ch: str) -> str:
    """A letter without its accent when its base is an ASCII letter ("í" → "i"); else ``ch``."""
    if ch in _NO_DECOMPOSITION:
        return _NO_DECOMPOSITION[ch]
    base = unicodedata.normalize("NFD", ch)[:1]
    return base if base.isascii() and base.isalpha() else ch
