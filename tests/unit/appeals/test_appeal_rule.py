"""The appeal outcome rule (shared/core/appeals.py) against the default policy."""

from __future__ import annotations

import pytest

from shared.core.appeals import (
    AppealContext,
    AppealJudgement,
    AppealOutcome,
    action_after,
    appeal_id_for,
    judge_appeal,
    profile_of,
    review_outcome,
    token_id,
)
from shared.core.policy import evaluate
from shared.schemas import Action, Decision, Detection, Purpose
from tests.support.policy_factories import default_policy, detection, hit, pii, request


def _judge(
    found: Detection, context: AppealContext, *, profile: str = "public_assistant"
) -> AppealJudgement:
    policy = default_policy()
    base = request(profile=profile)
    baseline = evaluate(found, base, policy)
    intent = context.intent()
    reconsidered: Decision | None = None
    if intent is not None:
        reconsidered = evaluate(found, base.model_copy(update={"intent": intent}), policy)
    return judge_appeal(baseline, reconsidered)


BORDERLINE_CRIME = detection({"crime_illicit": 0.85})  # refuse from 0.8; research: +0.1


def test_legitimate_context_overturns_a_borderline_refusal() -> None:
    judged = _judge(BORDERLINE_CRIME, AppealContext("research", "I study darknet markets."))
    assert (judged.outcome, judged.reason) == ("overturned", "context_allows")
    assert (judged.original_action, judged.reconsidered_action) == ("refuse", "allow_with_guidance")
    assert judged.category == "crime_illicit"


def test_no_added_context_is_upheld() -> None:
    for empty in (AppealContext(), AppealContext(None, "   "), AppealContext(None, "")):
        judged = _judge(BORDERLINE_CRIME, empty)
        assert (judged.outcome, judged.reason) == ("upheld", "no_context")
        assert judged.reconsidered_action is None


def test_context_the_policy_cannot_weigh_goes_to_a_reviewer() -> None:
    # A statement with no listed purpose is intent 'other': crime_illicit does not relax it.
    judged = _judge(BORDERLINE_CRIME, AppealContext(None, "It is for a novel, honestly."))
    assert (judged.outcome, judged.reason) == ("queued", "needs_review")
    assert judged.reconsidered_action == "refuse"


def test_a_purpose_the_category_does_not_list_goes_to_a_reviewer() -> None:
    judged = _judge(BORDERLINE_CRIME, AppealContext("fiction", "A thriller scene."))
    assert judged.outcome == "queued"


def test_far_past_the_threshold_context_does_not_overturn() -> None:
    judged = _judge(detection({"crime_illicit": 0.97}), AppealContext("research", "A study."))
    assert (judged.outcome, judged.reconsidered_action) == ("queued", "refuse")


def test_a_hard_floor_is_upheld_whatever_the_context() -> None:
    judged = _judge(detection({"weapons_cbrn": 0.7}), AppealContext("research", "Arms control."))
    assert (judged.outcome, judged.reason) == ("upheld", "hard_floor")
    assert judged.original_action == "refuse"


def test_below_a_floor_a_non_relaxable_refusal_is_reviewed_not_upheld() -> None:
    # weapons_cbrn refuses from 0.5 on the public assistant; its floor starts at 0.6.
    judged = _judge(detection({"weapons_cbrn": 0.55}), AppealContext("research", "Treaty work."))
    assert (judged.outcome, judged.reason) == ("queued", "needs_review")


def test_a_request_the_policy_now_allows_is_overturned() -> None:
    judged = _judge(detection({"crime_illicit": 0.1}), AppealContext())
    assert (judged.outcome, judged.reason) == ("overturned", "policy_allows")


def test_refer_to_refer_is_not_an_overturn() -> None:
    # self_harm on the public assistant: refer from 0.4; context that leaves it at refer
    # changes nothing the user gets.
    judged = _judge(detection({"self_harm": 0.5}), AppealContext("professional", "I am a nurse."))
    assert judged.original_action == "refer"
    assert judged.outcome == "queued"  # refer -> refer: not less restrictive


def test_redaction_is_not_overturned_by_context() -> None:
    judged = _judge(detection(spans=(pii("email"),)), AppealContext("research", "My own email."))
    assert judged.original_action == "redact"
    assert judged.outcome == "queued"


def test_a_blocklist_refusal_with_context_goes_to_a_reviewer() -> None:
    judged = _judge(detection(hits=(hit("global-x"),)), AppealContext("education", "A class."))
    assert (judged.original_action, judged.outcome) == ("refuse", "queued")


def test_context_is_unverified_intent_with_purpose_other_by_default() -> None:
    intent = AppealContext(None, "  my reasons  ").intent()
    assert intent is not None
    assert (intent.purpose, intent.statement, intent.verified) == ("other", "my reasons", False)
    purpose_only = AppealContext("journalism", None).intent()
    assert purpose_only is not None and purpose_only.statement is None
    assert AppealContext(None, " ").intent() is None


@pytest.mark.parametrize(
    ("outcome", "reconsidered", "expected"),
    [
        ("overturned", "allow_with_guidance", "allow_with_guidance"),
        ("overturned", "refer", "refer"),
        ("overturned", "refuse", "allow"),  # a reviewer overturned it
        ("overturned", None, "allow"),
        ("upheld", "allow", "refuse"),
        ("queued", "refuse", "refuse"),
    ],
)
def test_action_after_an_outcome(
    outcome: AppealOutcome, reconsidered: Action | None, expected: Action
) -> None:
    assert action_after(outcome, original="refuse", reconsidered=reconsidered) == expected


def test_appeal_ids_are_deterministic_per_appeal() -> None:
    context = AppealContext("research", "why")
    one = appeal_id_for(tenant_id="t", request_id="r", token="tok", context=context)
    assert one == appeal_id_for(tenant_id="t", request_id="r", token="tok", context=context)
    assert one.startswith("apl_") and len(one) == 28
    purposes: tuple[Purpose | None, ...] = (None, "education")
    others = {
        appeal_id_for(tenant_id="t", request_id="r", token="tok", context=AppealContext(p, "why"))
        for p in purposes
    }
    others.add(appeal_id_for(tenant_id="t2", request_id="r", token="tok", context=context))
    assert one not in others and len(others) == 3


def test_small_helpers() -> None:
    assert profile_of("public_assistant@4#crime_illicit.2") == "public_assistant"
    assert profile_of("internal_tool@4") == "internal_tool"
    assert profile_of(None) is None and profile_of("no-at-sign") is None
    assert review_outcome("overturn") == "overturned" and review_outcome("uphold") == "upheld"
    assert len(token_id("cpa1.k1.x.y")) == 32
