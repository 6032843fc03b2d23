"""Property tests: offset maps stay in bounds and monotone; redaction never leaks a card."""

from __future__ import annotations

import string

from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum import luhn

from shared.core.lexical import match
from shared.core.lists import ListEntry, TermLists
from shared.core.normalize import Normalized, clean, normalize
from shared.core.obfuscation import matching_views
from shared.core.pii import find_pii, redact

TRICKY = (
    "\u200b\u200d\u00ad\ufeff\ufe0f\u0301\u0336"  # invisibles, combining marks
    "\u0430\u0440\u0412\u03b1\u1d0b\uff4b\ufb01\u00df\u0130"  # homoglyphs, expansions
    "@$!|.-_ 0123456789"
)
texts = st.text(
    alphabet=st.one_of(st.characters(codec="utf-8"), st.sampled_from(TRICKY)), max_size=80
)


def assert_well_formed(view: Normalized, original: str) -> None:
    assert view.original_length == len(original)
    assert len(view.starts) == len(view.ends) == len(view.text)
    previous_start = previous_end = 0
    for s, e in zip(view.starts, view.ends, strict=True):
        assert 0 <= s < e <= len(original)
        assert s >= previous_start and e >= previous_end
        previous_start, previous_end = s, e


@settings(max_examples=300, deadline=None)
@given(texts)
def test_offset_maps_are_in_bounds_and_monotone(text: str) -> None:
    assert_well_formed(clean(text), text)
    for view in matching_views(text):
        assert_well_formed(view, text)
        n = len(view.text)
        for a, b in ((0, n), (0, n // 2), (n // 3, n)):
            start, end = view.to_original(a, b)
            assert 0 <= start <= end <= len(text)


@given(st.text(alphabet=string.ascii_lowercase + string.digits + " .,'?!-", max_size=80))
def test_normalise_is_identity_on_ascii_lowercase(text: str) -> None:
    assert normalize(text).text == text


@settings(max_examples=200, deadline=None)
@given(texts)
def test_normalise_is_idempotent(text: str) -> None:
    once = normalize(text).text
    assert normalize(once).text == once


def card_numbers() -> st.SearchStrategy[str]:
    def complete(body: str) -> str:
        return body + luhn.calc_check_digit(body)

    return st.text(alphabet=string.digits, min_size=14, max_size=14).map(
        lambda b: complete("4" + b)
    )


@settings(max_examples=150, deadline=None)
@given(
    card=card_numbers(),
    sep=st.sampled_from(["", " ", "-"]),
    before=st.sampled_from(["", "my card is ", "pay with: ", "card\n"]),
    after=st.sampled_from(["", " thanks", ". ok", "!"]),
)
def test_redact_never_leaves_a_detected_cards_digits(
    card: str, sep: str, before: str, after: str
) -> None:
    written = sep.join(card[i : i + 4] for i in range(0, 16, 4))
    text = f"{before}{written}{after}"
    spans = find_pii(text)
    assert [s.kind for s in spans] == ["payment_card"]
    redacted = redact(text, spans)
    assert card not in "".join(c for c in redacted if c.isdigit())
    assert "[PAYMENT_CARD]" in redacted


@settings(max_examples=100, deadline=None)
@given(texts)
def test_hits_and_spans_lie_inside_the_text(text: str) -> None:
    lists = TermLists(blocklist=(ListEntry(id="k", term="kill"), ListEntry(id="r", regex="a+")))
    for hit in match(lists, text):
        assert 0 <= hit.start < hit.end <= len(text)
    for span in find_pii(text):
        assert 0 <= span.start < span.end <= len(text)
