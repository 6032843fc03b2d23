"""PII detection: validated kinds, regions, overlaps, and ordinary text left alone."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import pytest

from shared.core.pii import DEFAULT_REGIONS, KINDS, find_pii, redact, region_of
from shared.schemas import PiiSpan

DOTS = "\u2022" * 4


def found(
    text: str,
    *,
    regions: Sequence[str] = DEFAULT_REGIONS,
    locale: str | None = None,
    kinds: Iterable[str] = KINDS,
) -> list[tuple[str, str]]:
    spans = find_pii(text, regions=regions, locale=locale, kinds=kinds)
    return [(s.kind, text[s.start : s.end]) for s in spans]


@pytest.mark.parametrize(
    ("text", "kind", "value"),
    [
        ("card 4111 1111 1111 1111 thanks", "payment_card", "4111 1111 1111 1111"),
        ("card 4111-1111-1111-1111.", "payment_card", "4111-1111-1111-1111"),
        ("amex 378282246310005", "payment_card", "378282246310005"),
        ("mc 5555 5555 5555 4444", "payment_card", "5555 5555 5555 4444"),
        ("iban GB82 WEST 1234 5698 7654 32 please", "iban", "GB82 WEST 1234 5698 7654 32"),
        ("iban GB82WEST12345698765432", "iban", "GB82WEST12345698765432"),
        ("de DE89 3704 0044 0532 0130 00", "iban", "DE89 3704 0044 0532 0130 00"),
        ("write to jane.doe+tag@mail.example.co.uk.", "email", "jane.doe+tag@mail.example.co.uk"),
        ("call +1 650-253-0000 today", "phone", "+1 650-253-0000"),
        ("ssn 123-45-6789", "us_ssn", "123-45-6789"),
        ("my social security number is 123 45 6789", "us_ssn", "123 45 6789"),
        ("NI number AB 12 34 56 C", "uk_nino", "AB 12 34 56 C"),
        ("server at 8.8.8.8.", "ipv4", "8.8.8.8"),
    ],
)
def test_valid_pii_is_found(text: str, kind: str, value: str) -> None:
    assert found(text) == [(kind, value)]


@pytest.mark.parametrize(
    "text",
    [
        "card 4111 1111 1111 1112",  # Luhn fails
        "card 1234 5678 9012 3456",  # no issuer, Luhn fails
        "iban GB83 WEST 1234 5698 7654 32",  # checksum fails
        "ssn 000-12-3456",
        "ssn 666-12-3456",
        "ssn 900-12-3456",
        "ssn 123-00-4567",
        "ref 123456789",  # nine digits without SSN context
        "host 192.168.0.1 and 999.1.1.1",  # private, impossible
        "not.an.email@localhost",
        "I have 3 apples and 1000 dollars",
        "How do I kill a Python process?",
        "on 2024-01-15 at 10:30, order 12345",
        "version 2.4.1 costs $19.99",
    ],
)
def test_invalid_or_ordinary_text_has_no_pii(text: str) -> None:
    assert found(text) == []


def test_national_phone_needs_its_region() -> None:
    text = "ring 020 7946 0958 tonight"
    assert found(text, regions=("US",)) == []
    assert found(text, regions=("GB",)) == [("phone", "020 7946 0958")]
    assert found(text, regions=("US",), locale="en-GB") == [("phone", "020 7946 0958")]
    assert found(text) == [("phone", "020 7946 0958")]  # GB is among the defaults


def test_region_of_locale() -> None:
    assert region_of("en-GB") == "GB"
    assert region_of("de_DE") == "DE"
    assert region_of("fr") is None
    assert region_of(None) is None


def test_overlaps_resolve_to_the_longest_span() -> None:
    assert found("mail 4111111111111111@example.com") == [("email", "4111111111111111@example.com")]


def test_several_kinds_sorted_without_overlap() -> None:
    text = "a@b.io, +44 20 7946 0958, 4111 1111 1111 1111"
    assert found(text) == [
        ("email", "a@b.io"),
        ("phone", "+44 20 7946 0958"),
        ("payment_card", "4111 1111 1111 1111"),
    ]


def test_obfuscated_digits_are_seen_and_offsets_are_original() -> None:
    text = "card \uff14\uff11\uff11\uff11 1111\u200b 1111 1111 ok"
    (span,) = find_pii(text)
    assert span.kind == "payment_card"
    assert text[span.start : span.end] == "\uff14\uff11\uff11\uff11 1111\u200b 1111 1111"


def test_kinds_can_be_limited() -> None:
    assert found("a@b.io 4111 1111 1111 1111", kinds={"email"}) == [("email", "a@b.io")]


def test_redact_labels_by_default() -> None:
    text = "mail a@b.io or card 4111 1111 1111 1111"
    assert redact(text, find_pii(text)) == "mail [EMAIL] or card [PAYMENT_CARD]"


def test_redact_partial_keeps_last_four_card_digits() -> None:
    text = "card 4111 1111 1111 1234"
    spans = (PiiSpan(kind="payment_card", start=5, end=24),)
    assert redact(text, spans, style="partial") == f"card {DOTS} {DOTS} {DOTS} 1234"
    phone = "call +1 650-253-0000"
    assert redact(phone, find_pii(phone), style="partial") == (
        f"call +\u2022 {DOTS[:3]}-{DOTS[:3]}-{DOTS}"
    )


def test_redact_merges_overlaps_and_clips_bounds() -> None:
    spans = (
        PiiSpan(kind="email", start=0, end=5),
        PiiSpan(kind="phone", start=3, end=8),
        PiiSpan(kind="iban", start=9, end=99),
        PiiSpan(kind="email", start=4, end=4),
    )
    assert redact("abcdefgh xyz", spans) == "[EMAIL] [IBAN]"
    assert redact("unchanged", ()) == "unchanged"
