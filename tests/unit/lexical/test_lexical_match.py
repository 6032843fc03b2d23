"""Blocklist/allowlist matching through obfuscation, with offsets in the original text."""

from __future__ import annotations

import pytest

from shared.core.lexical import compile_lists, match
from shared.core.lists import ListEntry, TermLists
from shared.schemas import LexicalHit

LISTS = TermLists(
    blocklist=(
        ListEntry(id="b-kill", term="kill", category="violence"),
        ListEntry(id="b-kill-them", term="kill  them", category="violence"),
        ListEntry(id="b-ass", term="ass", category="harassment"),
        ListEntry(id="b-paypal", term="PayPal login", category="crime_illicit"),
        ListEntry(id="b-shit", regex=r"sh[i1]t+(y|ty)?", category="harassment"),
        ListEntry(id="b-4chan", term="4chan", category="hate"),
    ),
    allowlist=(
        ListEntry(id="a-kill-process", term="kill process"),
        ListEntry(id="a-kill-switch", regex=r"kill[ -]switch"),
    ),
)


def spans(text: str, lists: TermLists = LISTS) -> list[tuple[str, str, str]]:
    """(list, entry id, original substring) per hit."""
    return [(h.list, h.entry_id, text[h.start : h.end]) for h in match(lists, text)]


@pytest.mark.parametrize(
    ("text", "covered"),
    [
        ("I will kill you", "kill"),
        ("I will KILL you", "KILL"),
        ("I will k1ll you", "k1ll"),
        ("I will k\u200bi\u200bl\u200bl you", "k\u200bi\u200bl\u200bl"),
        ("I will k.i.l.l you", "k.i.l.l"),
        ("I will k i l l you", "k i l l"),
        ("I will \uff4b\uff49\uff4c\uff4c you", "\uff4b\uff49\uff4c\uff4c"),
        ("I will \u1d0b\u026a\u029f\u029f you", "\u1d0b\u026a\u029f\u029f"),
        ("I will k\u00edll you", "k\u00edll"),
    ],
)
def test_term_matches_through_obfuscation(text: str, covered: str) -> None:
    assert ("blocklist", "b-kill", covered) in spans(text)


def test_homoglyph_phrase_with_whitespace() -> None:
    text = "your \u0420\u0430\u0443\u0420\u0430l  Login expired"
    assert spans(text) == [("blocklist", "b-paypal", "\u0420\u0430\u0443\u0420\u0430l  Login")]


@pytest.mark.parametrize(
    "text", ["class", "assistant", "the classic pass", "Assassin", "bass guitar", "killer", "skill"]
)
def test_terms_are_word_bounded(text: str) -> None:
    assert spans(text) == []


def test_term_hits_in_punctuation() -> None:
    assert spans("(ass)") == [("blocklist", "b-ass", "ass")]
    assert spans("you @ss!") == [("blocklist", "b-ass", "@ss")]


def test_a_term_inside_a_longer_term_both_hit() -> None:
    assert spans("go kill them now") == [
        ("blocklist", "b-kill", "kill"),
        ("blocklist", "b-kill-them", "kill them"),
    ]


def test_regex_runs_over_normalised_views() -> None:
    assert spans("oh SH1TTY day") == [("blocklist", "b-shit", "SH1TTY")]
    assert spans("sh\u200bit") == [("blocklist", "b-shit", "sh\u200bit")]


def test_term_with_digits_matches_literally() -> None:
    assert spans("posted on 4chan today") == [("blocklist", "b-4chan", "4chan")]


def test_allowlist_suppresses_overlapping_blocklist_hits() -> None:
    assert spans("how to kill process 42") == [("allowlist", "a-kill-process", "kill process")]
    assert spans("add a kill-switch") == [("allowlist", "a-kill-switch", "kill-switch")]
    assert spans("kill process, then kill them") == [
        ("allowlist", "a-kill-process", "kill process"),
        ("blocklist", "b-kill", "kill"),
        ("blocklist", "b-kill-them", "kill them"),
    ]


def test_hits_carry_ids_and_categories_but_no_text() -> None:
    (hit,) = match(LISTS, "kill")
    assert hit == LexicalHit(
        list="blocklist", entry_id="b-kill", category="violence", start=0, end=4
    )
    assert "kill" not in hit.model_dump_json().replace('"b-kill"', "")


def test_ordinary_text_and_empty_lists() -> None:
    assert match(TermLists(), "How do I kill a Python process?") == ()
    assert match(LISTS, "") == ()
    assert spans("I have 3 apples and 1000 dollars") == []


def test_compiled_matchers_are_cached() -> None:
    assert compile_lists(LISTS) is compile_lists(LISTS)
    equal = TermLists(blocklist=LISTS.blocklist, allowlist=LISTS.allowlist)
    assert compile_lists(equal) is compile_lists(LISTS)


def test_many_terms_compile_into_one_pattern() -> None:
    entries = tuple(ListEntry(id=f"t{i}", term=f"word{i}x") for i in range(2000))
    lists = TermLists(blocklist=entries)
    assert spans("say word1999x and word7x", lists) == [
        ("blocklist", "t1999", "word1999x"),
        ("blocklist", "t7", "word7x"),
    ]
