"""evaluate(): bands, floors, intent, tenants, blocklists, PII, and the decision's shape."""

from __future__ import annotations

from typing import Any

import pytest

from shared.core.policy import UnknownProfile, evaluate, resolve_policy_ref
from shared.errors import PoisonMessage
from shared.policy.summary import anchor_for, render_html
from shared.schemas import Action
from tests.support.policy_factories import (
    default_policy,
    detection,
    edited_policy,
    hit,
    intent,
    pii,
    request,
)


def rules(decision: Any) -> list[str]:
    return [r.rule for r in decision.rules_fired]


@pytest.mark.parametrize(
    ("profile", "category", "score", "expected"),
    [
        ("public_assistant", "violence", 0.23, "allow"),
        ("public_assistant", "violence", 0.24, "allow_with_guidance"),
        ("public_assistant", "violence", 0.79, "allow_with_guidance"),
        ("public_assistant", "violence", 0.8, "refuse"),
        ("public_assistant", "self_harm", 0.4, "refer"),
        ("public_assistant", "specialized_advice", 0.6, "allow_with_guidance"),
        ("public_assistant", "specialized_advice", 0.9, "refer"),
        ("public_assistant", "sexual_minors", 0.65, "escalate"),
        ("internal_tool", "violence", 0.8, "allow_with_guidance"),
        ("internal_tool", "violence", 0.6, "allow"),
        # A referral costs little when wrong: internal tools refer as early as public ones.
        ("internal_tool", "self_harm", 0.39, "allow"),
        ("internal_tool", "self_harm", 0.45, "refer"),
        ("internal_tool", "specialized_advice", 0.95, "allow_with_guidance"),
    ],
)
def test_thresholds_map_to_actions_per_profile(
    profile: str, category: str, score: float, expected: Action
) -> None:
    decision = evaluate(detection({category: score}), request(profile=profile), default_policy())
    assert decision.action == expected
    assert decision.profile == profile


def test_category_results_report_lowest_band_as_threshold() -> None:
    decision = evaluate(detection({"violence": 0.55}), request(), default_policy())
    violence = next(c for c in decision.categories if c.id == "violence")
    assert (violence.threshold, violence.triggered, violence.action) == (
        0.24,
        True,
        "allow_with_guidance",
    )
    hate = next(c for c in decision.categories if c.id == "hate")
    assert (hate.score, hate.threshold, hate.triggered, hate.action) == (0.0, 0.5, False, "allow")
    assert "blocklist" not in {c.id for c in decision.categories}


def test_allow_has_no_policy_ref_or_rules() -> None:
    decision = evaluate(detection({"violence": 0.1}), request(), default_policy())
    assert decision.action == "allow"
    assert decision.policy_ref is None and decision.primary_category is None
    assert decision.rules_fired == ()
    assert decision.intent_applied is False


def test_refusal_cites_the_band_clause() -> None:
    decision = evaluate(detection({"violence": 0.9}), request(), default_policy())
    assert decision.action == "refuse"
    assert decision.primary_category == "violence"
    assert decision.policy_ref == "public_assistant@7#violence.2"
    assert rules(decision) == ["profile.public_assistant.violence"]
    assert decision.policy_version == "clearpath-default@7"


def test_most_restrictive_category_wins_and_ties_go_to_highest_score() -> None:
    scores = {"violence": 0.85, "hate": 0.95, "self_harm": 0.5}
    decision = evaluate(detection(scores), request(), default_policy())
    assert decision.action == "refuse"
    assert decision.primary_category == "hate"


def test_floor_fires_and_wins_ties_even_with_a_lower_score() -> None:
    scores = {"weapons_cbrn": 0.65, "violence": 0.99}
    decision = evaluate(detection(scores), request(profile="internal_tool"), default_policy())
    assert decision.action == "refuse"
    assert "floor.weapons_cbrn" in rules(decision)
    assert decision.primary_category == "weapons_cbrn"
    assert decision.policy_ref == "internal_tool@7#weapons_cbrn.3"


def test_floor_is_not_relaxed_by_verified_intent_even_on_a_relaxable_category() -> None:
    def make_weapons_relaxable(data: dict[str, Any]) -> None:
        data["categories"]["weapons_cbrn"]["relaxable"] = True
        data["categories"]["weapons_cbrn"]["intent"] = {"purposes": ["research"], "clause": 1}

    policy = edited_policy(make_weapons_relaxable)
    verified = request(purpose=intent("research", verified=True))
    below = evaluate(detection({"weapons_cbrn": 0.55}), verified, policy)
    assert below.action == "allow_with_guidance" and below.intent_applied
    above = evaluate(detection({"weapons_cbrn": 0.65}), verified, policy)
    assert above.action == "refuse"
    assert above.primary_category == "weapons_cbrn"
    assert "floor.weapons_cbrn" in rules(above)
    assert above.intent_applied is False


@pytest.mark.parametrize("verified", [False, True])
def test_sexual_minors_floor_ignores_every_intent(verified: bool) -> None:
    for purpose in ("education", "research", "fiction", "professional"):
        asked = request(profile="internal_tool", purpose=intent(purpose, verified=verified))
        decision = evaluate(detection({"sexual_minors": 0.3}), asked, default_policy())
        assert decision.action == "refuse"
        assert decision.intent_applied is False
        assert decision.primary_category == "sexual_minors"


def test_unverified_intent_shifts_thresholds_and_records_the_intent_rule() -> None:
    asked = request(purpose=intent("fiction"))
    decision = evaluate(detection({"violence": 0.85}), asked, default_policy())
    assert decision.action == "allow_with_guidance"
    assert decision.intent_applied is True
    assert rules(decision) == ["intent.violence"]
    assert decision.policy_ref == "public_assistant@7#violence.3"
    violence = next(c for c in decision.categories if c.id == "violence")
    assert violence.threshold == pytest.approx(0.34)  # 0.24 shifted up by 0.1


def test_verified_relaxes_more_than_unverified() -> None:
    scores = detection({"violence": 0.95})
    unverified = evaluate(scores, request(purpose=intent("fiction")), default_policy())
    verified = evaluate(scores, request(purpose=intent("fiction", verified=True)), default_policy())
    assert unverified.action == "refuse" and unverified.intent_applied is False
    assert verified.action == "allow_with_guidance" and verified.intent_applied is True


def test_verified_cap_keeps_self_harm_at_refer() -> None:
    asked = request(purpose=intent("professional", verified=True))
    decision = evaluate(detection({"self_harm": 0.99}), asked, default_policy())
    assert decision.action == "refer"


def test_intent_relaxes_only_listed_purposes() -> None:
    scores = detection({"violence": 0.85})
    for purpose in ("professional", "security_research", "other"):
        decision = evaluate(
            scores, request(purpose=intent(purpose, verified=True)), default_policy()
        )
        assert decision.action == "refuse"
        assert decision.intent_applied is False
        assert not any(r.startswith("intent.") for r in rules(decision))


def test_intent_never_relaxes_non_relaxable_categories() -> None:
    for category in ("prompt_attack", "privacy", "weapons_cbrn", "sexual_minors"):
        scores = detection({category: 0.85})
        base = evaluate(scores, request(), default_policy())
        for purpose in ("research", "education", "security_research", "professional"):
            asked = request(purpose=intent(purpose, verified=True))
            decision = evaluate(scores, asked, default_policy())
            assert decision.action == base.action
            assert decision.intent_applied is False


def test_intent_applied_only_when_the_outcome_changed() -> None:
    # Violence is relaxed, but crime (not relaxable for fiction) still refuses.
    scores = detection({"violence": 0.85, "crime_illicit": 0.9})
    decision = evaluate(scores, request(purpose=intent("fiction")), default_policy())
    assert decision.action == "refuse"
    assert decision.intent_applied is False
    assert decision.primary_category == "crime_illicit"
    assert "intent.violence" in rules(decision)  # the audit still shows what intent did


def test_unknown_profile_is_poison_input() -> None:
    with pytest.raises(UnknownProfile, match="no_such_profile") as caught:
        evaluate(detection(), request(profile="no_such_profile"), default_policy())
    assert isinstance(caught.value, PoisonMessage)
    assert caught.value.error_type == "unknown_profile"


def test_tenant_blocklist_hit_refuses_with_a_resolvable_anchored_ref() -> None:
    policy = default_policy()
    decision = evaluate(detection(hits=(hit("acme-zorblax"),)), request(tenant_id="acme"), policy)
    assert decision.action == "refuse"
    assert rules(decision) == ["tenant.acme.blocklist"]
    assert decision.primary_category == "blocklist"
    assert decision.policy_ref == "public_assistant@7#blocklist.1"
    assert decision.policy_version == "clearpath-default@7+acme@2"
    clause = resolve_policy_ref(policy, decision.policy_ref)
    assert clause.category == "blocklist" and "block" in clause.text
    assert f'id="{anchor_for(decision.policy_ref)}"' in render_html(policy)
    blocklist = next(c for c in decision.categories if c.id == "blocklist")
    assert (blocklist.triggered, blocklist.action) == (True, "refuse")


def test_blocklist_scopes_and_allowlist_hits() -> None:
    hits = (hit("acme-zorblax"), hit("global-1"), hit("acme-zorblax-recall", list_name="allowlist"))
    decision = evaluate(detection(hits=hits), request(tenant_id="acme"), default_policy())
    assert rules(decision) == ["global.blocklist", "tenant.acme.blocklist"]
    allow_only = evaluate(
        detection(hits=(hit("acme-zorblax-recall", list_name="allowlist"),)),
        request(tenant_id="acme"),
        default_policy(),
    )
    assert allow_only.action == "allow"


def test_pii_is_redacted_under_public_assistant_only() -> None:
    found = detection(spans=(pii(),))
    public = evaluate(found, request(), default_policy())
    assert public.action == "redact"
    assert rules(public) == ["pii.redact"]
    assert public.primary_category == "privacy"
    assert public.policy_ref == "public_assistant@7#privacy.3"
    internal = evaluate(found, request(profile="internal_tool"), default_policy())
    assert internal.action == "allow"


def test_pii_redaction_yields_to_a_refusal() -> None:
    decision = evaluate(detection({"violence": 0.9}, spans=(pii(),)), request(), default_policy())
    assert decision.action == "refuse"
    assert set(rules(decision)) == {"profile.public_assistant.violence", "pii.redact"}


def test_tenant_override_bands_apply_only_to_that_tenant() -> None:
    scores = detection({"crime_illicit": 0.45})
    acme = evaluate(scores, request(tenant_id="acme"), default_policy())
    other = evaluate(scores, request(tenant_id="other"), default_policy())
    assert acme.action == "allow_with_guidance"
    assert rules(acme) == ["tenant.acme.crime_illicit"]
    assert other.action == "allow"
    internal = evaluate(
        scores, request(profile="internal_tool", tenant_id="acme"), default_policy()
    )
    assert internal.action == "allow"


def test_tenant_pii_override() -> None:
    def acme_redacts_internal(data: dict[str, Any]) -> None:
        data["tenants"] = {
            "acme": {"version": 1, "profiles": {"internal_tool": {"pii_action": "redact"}}}
        }

    policy = edited_policy(acme_redacts_internal)
    decision = evaluate(
        detection(spans=(pii(),)), request(profile="internal_tool", tenant_id="acme"), policy
    )
    assert decision.action == "redact"


def test_evaluate_is_deterministic_and_every_ref_resolves() -> None:
    policy = default_policy()
    scores = {"violence": 0.9, "weapons_cbrn": 0.7, "sexual_minors": 0.7, "self_harm": 0.5}
    found = detection(scores, hits=(hit("acme-zorblax"),), spans=(pii(),))
    asked = request(tenant_id="acme", purpose=intent("fiction", verified=True))
    first, second = evaluate(found, asked, policy), evaluate(found, asked, policy)
    assert first == second
    assert first.action == "escalate"
    assert first.primary_category == "sexual_minors"
    for rule in first.rules_fired:
        assert resolve_policy_ref(policy, rule.policy_ref).category == rule.category


# -- the unsafe signal (policy.unsafe: the classifier's any-harm score corroborates) --------


def test_unsafe_signal_judges_the_leading_category_at_its_last_band() -> None:
    # violence 0.79 alone is guidance; with unsafe at the signal's minimum it is refused,
    # citing the last band's clause, under a rule named for the signal.
    scores = {"violence": 0.79, "crime_illicit": 0.3}
    plain = evaluate(detection(scores), request(), default_policy())
    assert plain.action == "allow_with_guidance"
    decision = evaluate(detection({**scores, "unsafe": 0.84}), request(), default_policy())
    assert decision.action == "refuse"
    assert rules(decision) == ["unsafe.violence"]
    assert decision.policy_ref == "public_assistant@7#violence.2"
    violence = next(c for c in decision.categories if c.id == "violence")
    assert (violence.score, violence.action) == (0.79, "refuse")  # the score is reported as is
    crime = next(c for c in decision.categories if c.id == "crime_illicit")
    assert crime.action == "allow"  # below its first band: untouched


def test_unsafe_signal_below_its_minimum_changes_nothing() -> None:
    decision = evaluate(detection({"violence": 0.79, "unsafe": 0.83}), request(), default_policy())
    assert decision.action == "allow_with_guidance"
    assert rules(decision) == ["profile.public_assistant.violence"]


def test_uncorroborated_unsafe_answers_the_top_category_at_its_first_band() -> None:
    # v7: every category below its first band, unsafe above its threshold. The request is
    # not answered as if nothing were there: the highest-scoring category (crime_illicit,
    # not violence) is judged at its first band, guidance, citing that band's clause.
    scores = {"violence": 0.2, "crime_illicit": 0.36, "unsafe": 0.87}
    decision = evaluate(detection(scores), request(), default_policy())
    assert decision.action == "allow_with_guidance"
    assert rules(decision) == ["unsafe.crime_illicit"]
    assert decision.policy_ref == "public_assistant@7#crime_illicit.1"
    crime = next(c for c in decision.categories if c.id == "crime_illicit")
    assert (crime.score, crime.triggered) == (0.36, False)  # the score itself is reported
    # Below the unsafe threshold nothing changes.
    calm = evaluate(detection({**scores, "unsafe": 0.83}), request(), default_policy())
    assert calm.action == "allow" and calm.rules_fired == ()


def test_uncorroborated_unsafe_never_refuses() -> None:
    # self_harm's first band is a referral: that stays.
    decision = evaluate(detection({"self_harm": 0.05, "unsafe": 0.99}), request(), default_policy())
    assert decision.action == "refer"
    assert rules(decision) == ["unsafe.self_harm"]
    # sexual_minors' first band refuses: reached only through the unsafe signal, it answers
    # with guidance instead (its floor, at 0.3, still refuses on the score itself).
    minors = evaluate(
        detection({"sexual_minors": 0.1, "unsafe": 0.99}), request(), default_policy()
    )
    assert minors.action == "allow_with_guidance"
    assert rules(minors) == ["unsafe.sexual_minors"]
    floor = evaluate(
        detection({"sexual_minors": 0.35, "unsafe": 0.99}), request(), default_policy()
    )
    assert floor.action == "escalate"  # corroborated (0.35 reached the 0.2 band): last band
    # Each profile's own first band: internal tools give guidance on violence from 0.7.
    internal = evaluate(
        detection({"violence": 0.3, "unsafe": 0.99}),
        request(profile="internal_tool"),
        default_policy(),
    )
    assert internal.action == "allow_with_guidance"
    assert rules(internal) == ["unsafe.violence"]


def test_uncorroborated_unsafe_yields_to_a_declared_intent() -> None:
    scores = {"violence": 0.2, "unsafe": 0.95}
    plain = evaluate(detection(scores), request(), default_policy())
    assert plain.action == "allow_with_guidance"
    # Fiction shifts violence's first band from 0.24 to 0.34: the raised score stays below.
    fiction = evaluate(detection(scores), request(purpose=intent("fiction")), default_policy())
    assert fiction.action == "allow"
    assert fiction.intent_applied is True


def test_uncorroborated_allow_keeps_the_v6_behaviour() -> None:
    def v6(data: dict[str, Any]) -> None:
        data["unsafe"] = {"min": 0.84, "uncorroborated": "allow"}

    decision = evaluate(detection({"violence": 0.2, "unsafe": 0.99}), request(), edited_policy(v6))
    assert decision.action == "allow"
    assert decision.rules_fired == ()
    # and the corroborated case is untouched
    corroborated = {"violence": 0.79, "unsafe": 0.95}
    assert evaluate(detection(corroborated), request(), edited_policy(v6)).action == "refuse"


def test_uncorroborated_must_be_a_known_mode() -> None:
    from shared.errors import ConfigurationError

    def bad(data: dict[str, Any]) -> None:
        data["unsafe"] = {"min": 0.84, "uncorroborated": "refuse"}

    with pytest.raises((ConfigurationError, ValueError)):
        edited_policy(bad)


def test_unsafe_signal_raises_only_the_highest_scoring_triggered_category() -> None:
    scores = {"violence": 0.5, "crime_illicit": 0.6, "unsafe": 0.9}
    decision = evaluate(detection(scores), request(), default_policy())
    assert decision.action == "refuse"
    assert rules(decision) == ["profile.public_assistant.violence", "unsafe.crime_illicit"]
    assert decision.primary_category == "crime_illicit"


def test_unsafe_signal_still_yields_to_a_declared_intent() -> None:
    # Fiction shifts violence's bands up by 0.1: the corroborated score sits at the last
    # band's unshifted minimum, so the declared purpose keeps the answer at guidance.
    scores = {"violence": 0.79, "unsafe": 0.95}
    decision = evaluate(detection(scores), request(purpose=intent("fiction")), default_policy())
    assert decision.action == "allow_with_guidance"
    assert rules(decision) == ["intent.violence"]
    assert decision.intent_applied is True
    # A category no purpose relaxes is refused whatever is declared.
    cbrn = {"weapons_cbrn": 0.35, "unsafe": 0.95}
    decision = evaluate(detection(cbrn), request(purpose=intent("fiction")), default_policy())
    assert decision.action == "refuse"
    assert rules(decision) == ["unsafe.weapons_cbrn"]


def test_a_policy_without_the_unsafe_signal_ignores_the_score() -> None:
    def drop(data: dict[str, Any]) -> None:
        data.pop("unsafe")

    decision = evaluate(
        detection({"violence": 0.79, "unsafe": 0.99}), request(), edited_policy(drop)
    )
    assert decision.action == "allow_with_guidance"
