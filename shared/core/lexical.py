"""Tenant blocklists and allowlists compiled once and matched through obfuscation.

Terms are normalised like the text (:func:`shared.core.normalize.normalize`),
compiled into one trie-shaped regex per list and matched word-bounded against
every view from :func:`shared.core.obfuscation.matching_views` (canonical,
separators collapsed, leetspeak folded). At each word start the trie yields the
longest term; shorter terms that end on a word boundary inside it are reported
too, so "kill" and "kill them" both hit. Whitespace inside a term matches any
run of whitespace. Regex entries run (case-insensitive) over the same views.

Hits carry entry ids and offsets in the ORIGINAL text, never the matched text.
An allowlist hit suppresses every blocklist hit it overlaps; allowlist hits are
reported as such.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Final, Literal

from shared.core.lists import ListEntry, TermLists
from shared.core.normalize import Normalized, normalize
from shared.core.obfuscation import matching_views
from shared.schemas import LexicalHit

__all__ = ["CompiledLists", "compile_lists", "match", "match_compiled"]

ListName = Literal["blocklist", "allowlist"]
_SPACE: Final = " "  # a trie unit standing for a run of whitespace
_WS: Final = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class _Side:
    """One list compiled: a trie regex for its terms and its own regexes."""

    name: ListName
    trie: re.Pattern[str] | None
    terms: Mapping[str, tuple[ListEntry, ...]]
    regexes: tuple[tuple[ListEntry, re.Pattern[str]], ...]


@dataclass(frozen=True, slots=True)
class CompiledLists:
    """A :class:`TermLists` ready to match; build with :func:`compile_lists`."""

    blocklist: _Side
    allowlist: _Side

    @property
    def empty(self) -> bool:
        return not any(s.trie or s.regexes for s in (self.blocklist, self.allowlist))


def _term_key(term: str) -> str:
    return _WS.sub(_SPACE, normalize(term).text).strip()


class _Node(dict[str, "_Node"]):
    """A trie node: next unit → child; the key "" marks the end of a term."""


def _trie_regex(keys: Iterable[str]) -> str:
    """A regex matching exactly ``keys``, longest alternative first, prefixes shared."""
    root = _Node()
    for key in keys:
        node = root
        for unit in key:
            node = node.setdefault(unit, _Node())
        node[""] = _Node()

    def render(node: _Node) -> str:
        alternatives = [
            (r"\s+" if unit == _SPACE else re.escape(unit)) + render(child)
            for unit, child in sorted(node.items())
            if unit
        ]
        if not alternatives:
            return ""
        body = alternatives[0] if len(alternatives) == 1 else f"(?:{'|'.join(alternatives)})"
        return f"(?:{body})?" if "" in node else body

    return render(root)


def _compile_side(name: ListName, entries: Iterable[ListEntry]) -> _Side:
    terms: dict[str, list[ListEntry]] = {}
    regexes: list[tuple[ListEntry, re.Pattern[str]]] = []
    for entry in entries:
        if entry.regex is not None:
            regexes.append((entry, re.compile(entry.regex, re.IGNORECASE)))
        elif entry.term is not None and (key := _term_key(entry.term)):
            terms.setdefault(key, []).append(entry)
    trie = re.compile(rf"(?<!\w)(?=({_trie_regex(terms)})(?!\w))") if terms else None
    return _Side(name, trie, {k: tuple(v) for k, v in terms.items()}, tuple(regexes))


@lru_cache(maxsize=128)
def _compile_by_value(lists: TermLists) -> CompiledLists:
    return CompiledLists(
        _compile_side("blocklist", lists.blocklist), _compile_side("allowlist", lists.allowlist)
    )


_BY_ID: dict[int, tuple[weakref.ref[TermLists], CompiledLists]] = {}
_BY_ID_MAX: Final = 256


def compile_lists(lists: TermLists) -> CompiledLists:
    """Compile ``lists`` once; later calls with the same object (or equal lists) reuse it.

    Looking up the same object is O(1); equal but distinct objects are found by
    value (hashing every entry), so callers should keep one object per tenant.
    """
    cached = _BY_ID.get(id(lists))
    if cached is not None and cached[0]() is lists:
        return cached[1]
    compiled = _compile_by_value(lists)
    if len(_BY_ID) >= _BY_ID_MAX:
        _BY_ID.pop(next(iter(_BY_ID)))
    _BY_ID[id(lists)] = (weakref.ref(lists), compiled)
    return compiled


def _term_spans(side: _Side, view: Normalized) -> Iterator[tuple[ListEntry, int, int]]:
    if side.trie is None:
        return
    text = view.text
    for m in side.trie.finditer(text):
        start, found = m.start(1), m.group(1)
        for end in range(start + 1, start + len(found) + 1):
            if end < start + len(found) and (text[end].isalnum() or text[end] == "_"):
                continue  # a shorter term must also end on a word boundary
            entries = side.terms.get(_WS.sub(_SPACE, text[start:end]))
            for entry in entries or ():
                yield entry, start, end


def _regex_spans(side: _Side, view: Normalized) -> Iterator[tuple[ListEntry, int, int]]:
    for entry, pattern in side.regexes:
        for m in pattern.finditer(view.text):
            if m.end() > m.start():
                yield entry, m.start(), m.end()


def _hits(side: _Side, views: tuple[Normalized, ...]) -> set[LexicalHit]:
    hits: set[LexicalHit] = set()
    for view in views:
        for spans in (_term_spans(side, view), _regex_spans(side, view)):
            for entry, start, end in spans:
                o_start, o_end = view.to_original(start, end)
                hits.add(
                    LexicalHit(
                        list=side.name,
                        entry_id=entry.id,
                        category=entry.category,
                        start=o_start,
                        end=o_end,
                    )
                )
    return hits


def match_compiled(compiled: CompiledLists, text: str) -> tuple[LexicalHit, ...]:
    """Blocklist and allowlist hits in ``text`` (original offsets), sorted by position."""
    if compiled.empty or not text:
        return ()
    views = matching_views(text)
    allowed = _hits(compiled.allowlist, views)
    blocked = {
        h
        for h in _hits(compiled.blocklist, views)
        if not any(a.start < h.end and h.start < a.end for a in allowed)
    }
    return tuple(sorted(allowed | blocked, key=lambda h: (h.start, h.end, h.list, h.entry_id)))


def match(lists: TermLists, text: str) -> tuple[LexicalHit, ...]:
    """Match ``lists`` (compiled once and cached) against ``text``; see :func:`match_compiled`."""
    return match_compiled(compile_lists(lists), text)
