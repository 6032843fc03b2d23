"""The receipt wording table: every (category, action) pair reads as one line with 1-3 steps."""

from __future__ import annotations

import itertools

import pytest

from shared.core.receipt_text import DEFAULT_CATEGORY, TEXTS
from shared.core.responses import (
    RECEIPT_ACTIONS,
    receipt_alternatives,
    receipt_reason,
    resolve_locale,
)
from shared.schemas import Action, PiiSpan

PAIRS = [
    (locale, category, action)
    for locale, text in TEXTS.items()
    for category, action in itertools.product(
        [*text.categories, "policy_added_category", None], RECEIPT_ACTIONS
    )
]


@pytest.mark.parametrize(("locale", "category", "action"), PAIRS)
def test_every_pair_has_a_one_line_reason_and_one_to_three_alternatives(
    locale: str, category: str | None, action: Action
) -> None:
    reason = receipt_reason(category, action, locale=locale)
    assert reason.strip() == reason and reason.endswith(".")
    assert "\n" not in reason and "{" not in reason and len(reason) <= 160
    alternatives = receipt_alternatives(category, action, locale=locale)
    assert 1 <= len(alternatives) <= 3
    assert len(set(alternatives)) == len(alternatives)
    assert all(a.strip() and "\n" not in a and len(a) <= 120 for a in alternatives)


def test_table_knows_the_taxonomy() -> None:
    assert set(TEXTS["en"].categories) >= {
        "violence",
        "weapons_cbrn",
        "crime_illicit",
        "hate",
        "harassment",
        "self_harm",
        "sexual",
        "sexual_minors",
        "privacy",
        "specialized_advice",
        "prompt_attack",
        "blocklist",
        DEFAULT_CATEGORY,
    }


def test_refuse_reason_for_weapons() -> None:
    assert receipt_reason("weapons_cbrn", "refuse") == (
        "This asks for instructions that could help someone build a weapon capable of mass harm."
    )


def test_refer_points_to_crisis_and_professional_help() -> None:
    assert any("988" in a for a in receipt_alternatives("self_harm", "refer"))
    assert any("emergency" in a for a in receipt_alternatives("violence", "refer"))
    assert any("qualified" in a for a in receipt_alternatives("specialized_advice", "refer"))


def test_guidance_says_the_answer_stays_high_level() -> None:
    assert "high level" in receipt_reason("weapons_cbrn", "allow_with_guidance")


def test_escalate_says_it_is_held_for_review() -> None:
    assert "held for review" in receipt_reason("hate", "escalate")
    assert receipt_alternatives("hate", "escalate")[0].startswith("Wait for the review")


def test_redact_names_the_kinds_never_the_values() -> None:
    pii = [
        PiiSpan(kind="email", start=0, end=5),
        PiiSpan(kind="phone", start=6, end=9),
        PiiSpan(kind="email", start=10, end=15),
        PiiSpan(kind="passport_number", start=16, end=20),
    ]
    reason = receipt_reason("privacy", "redact", pii=pii)
    assert "(email address, phone number, passport number)" in reason
    assert receipt_reason("privacy", "redact") == (
        "Personal data in your message was masked before it was passed on."
    )


@pytest.mark.parametrize(
    ("requested", "used"),
    [(None, "en"), ("en", "en"), ("en-GB", "en"), ("EN_us", "en"), ("de-DE", "en"), ("", "en")],
)
def test_locale_falls_back_to_english(requested: str | None, used: str) -> None:
    assert resolve_locale(requested) == used
