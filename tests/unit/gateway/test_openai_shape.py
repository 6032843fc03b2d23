"""Our verdicts in OpenAI's moderation shape: category mapping, scores and flags."""

from __future__ import annotations

import pytest

from services.gateway.openai_shape import (
    CATEGORY_MAP,
    OPENAI_CATEGORIES,
    category_flags,
    category_scores,
    flagged,
)
from shared.schemas import ACTIONS, Action, Verdict, VerdictCategory
from tests.support.factories import NOW
from tests.support.policy_factories import default_policy


def _verdict(action: Action, scores: dict[str, float], threshold: float = 0.5) -> Verdict:
    return Verdict(
        request_id="r",
        tenant_id="t",
        profile="public_assistant",
        action=action,
        categories=tuple(
            VerdictCategory(id=c, score=s, threshold=threshold, triggered=s >= threshold)
            for c, s in scores.items()
        ),
        policy_version="4",
        model_version="m",
        decided_at=NOW,
    )


def test_the_thirteen_openai_categories_in_their_documented_order() -> None:
    assert OPENAI_CATEGORIES == (
        "harassment",
        "harassment/threatening",
        "hate",
        "hate/threatening",
        "illicit",
        "illicit/violent",
        "self-harm",
        "self-harm/intent",
        "self-harm/instructions",
        "sexual",
        "sexual/minors",
        "violence",
        "violence/graphic",
    )


def test_every_source_is_a_category_of_our_policy() -> None:
    ours = set(default_policy().categories)
    for _, sources in CATEGORY_MAP.values():
        assert set(sources) <= ours


def test_scores_take_the_max_of_alternatives_and_the_min_of_combinations() -> None:
    scores = category_scores(
        _verdict(
            "refuse", {"crime_illicit": 0.3, "weapons_cbrn": 0.9, "hate": 0.8, "violence": 0.2}
        )
    )
    assert scores["illicit"] == 0.9 and scores["illicit/violent"] == 0.9
    assert scores["hate"] == 0.8 and scores["hate/threatening"] == 0.2
    assert scores["sexual"] == 0.0  # absent from the verdict: not scored, 0
    assert set(scores) == set(OPENAI_CATEGORIES)


@pytest.mark.parametrize("action", ACTIONS)
def test_flagged_follows_the_policy_action(action: Action) -> None:
    verdict = _verdict(action, {"self_harm": 0.9})
    assert flagged(verdict) is (action in ("refer", "refuse", "escalate"))
    flags = category_flags(verdict)
    expected = flagged(verdict)
    assert (flags["self-harm"], flags["self-harm/intent"]) == (expected, expected)
    assert not flags["hate"]


def test_a_combined_category_needs_both_sources_triggered() -> None:
    only_hate = category_flags(_verdict("refuse", {"hate": 0.9, "violence": 0.1}))
    assert only_hate["hate"] and not only_hate["hate/threatening"]
    both = category_flags(_verdict("refuse", {"hate": 0.9, "violence": 0.7}))
    assert both["hate/threatening"] and both["violence"]


def test_a_blocklist_refusal_is_flagged_without_an_openai_category() -> None:
    verdict = _verdict("refuse", {"blocklist": 1.0})
    assert flagged(verdict) and not any(category_flags(verdict).values())
