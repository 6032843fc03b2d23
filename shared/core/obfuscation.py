"""Matching-only views of a text: separators collapsed and leetspeak folded.

Both are built on the canonical view of :func:`shared.core.normalize.normalize`
and keep its offset map, so a hit in any view maps back to the original text.
They exist only for term and regex matching (never for PII, never shown):

* :func:`collapse_separators` — runs of three or more single letters joined by
  separators ("k.i.l.l", "b a d", "k - i - l - l") glued together. Runs of two
  ("a b", "U.S.") and multi-letter words are left alone.
* :func:`leet_fold` — leetspeak and diacritics folded, one character for one, with
  rules that keep ordinary numbers ("1000", "3 apples", "Galaxy A55") intact.

:func:`matching_views` returns the distinct views a matcher should scan.
"""

from __future__ import annotations

import re
from typing import Final

from shared.core.confusables import LEET, LEET_INNER, LEET_SYMBOLS, fold_diacritic
from shared.core.normalize import Normalized, normalize

__all__ = ["collapse_separators", "leet_fold", "matching_views"]

_SEP: Final = r"[\s.\-_*·•~/\\]"
_SPACED_RUN: Final = re.compile(rf"(?<!\w)[^\W_](?:{_SEP}{{1,3}}[^\W_]){{2,}}(?!\w)")
_SEP_CHAR: Final = re.compile(_SEP)
#: Tokens that hold something leet_fold may change: a digit, a symbol or a non-ASCII letter.
_LEET_TOKEN: Final = re.compile(r"(?<![\w@$!|€])[\w@$!|€]*?[0-9@$!|€\x80-\U0010ffff][\w@$!|€]*")


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
