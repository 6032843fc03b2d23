"""Properties of evaluate() over the default policy: monotonic, intent only relaxes, floors hold."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from shared.core.policy import evaluate, resolve_policy_ref
from shared.schemas import ACTION_RANK, Intent, ModerationRequest
from tests.support.policy_factories import default_policy, detection, hit, pii, request

POLICY = default_policy()
SCORED = [c for c in POLICY.categories if c != "blocklist"]
PURPOSES = [
    "education",
    "research",
    "fiction",
    "professional",
    "security_research",
    "journalism",
    "other",
]

scores_st = st.dictionaries(
    st.sampled_from(SCORED), st.floats(min_value=0.0, max_value=1.0, allow_nan=False)
)
intent_st = st.none() | st.builds(Intent, purpose=st.sampled_from(PURPOSES), verified=st.booleans())
request_st = st.builds(
    lambda profile, tenant, purpose: request(profile=profile, tenant_id=tenant, purpose=purpose),
    st.sampled_from(sorted(POLICY.profiles)),
    st.sampled_from(["t-1", "acme", "nocache"]),
    intent_st,
)
extras_st = st.tuples(st.booleans(), st.booleans())


def rank(scores: dict[str, float], asked: ModerationRequest, extras: tuple[bool, bool]) -> int:
    blocked, with_pii = extras
    found = detection(
        scores,
        hits=(hit("acme-zorblax"),) if blocked else (),
        spans=(pii(),) if with_pii else (),
    )
    return ACTION_RANK[evaluate(found, asked, POLICY).action]


@settings(max_examples=300, deadline=None)
@given(
    scores=scores_st,
    asked=request_st,
    extras=extras_st,
    category=st.sampled_from(SCORED),
    raise_by=st.floats(min_value=0.0, max_value=1.0, allow_nan=False),
)
def test_raising_one_score_never_makes_the_action_less_restrictive(
    scores: dict[str, float],
    asked: ModerationRequest,
    extras: tuple[bool, bool],
    category: str,
    raise_by: float,
) -> None:
    higher = {**scores, category: min(1.0, scores.get(category, 0.0) + raise_by)}
    assert rank(higher, asked, extras) >= rank(scores, asked, extras)


@settings(max_examples=200, deadline=None)
@given(scores=scores_st, asked=request_st, extras=extras_st)
def test_intent_never_makes_the_action_more_restrictive(
    scores: dict[str, float], asked: ModerationRequest, extras: tuple[bool, bool]
) -> None:
    without = asked.model_copy(update={"intent": None})
    assert rank(scores, asked, extras) <= rank(scores, without, extras)


@settings(max_examples=200, deadline=None)
@given(scores=scores_st, tenant=st.sampled_from(["t-1", "acme", "nocache"]), purpose=intent_st)
def test_internal_tool_is_never_stricter_than_public_assistant(
    scores: dict[str, float], tenant: str, purpose: Intent | None
) -> None:
    public = request(profile="public_assistant", tenant_id=tenant, purpose=purpose)
    internal = request(profile="internal_tool", tenant_id=tenant, purpose=purpose)
    for extras in [(False, False), (False, True)]:
        assert rank(scores, internal, extras) <= rank(scores, public, extras)


@settings(max_examples=200, deadline=None)
@given(scores=scores_st, asked=request_st, extras=extras_st)
def test_floors_hold_and_every_ref_resolves(
    scores: dict[str, float], asked: ModerationRequest, extras: tuple[bool, bool]
) -> None:
    blocked, with_pii = extras
    found = detection(
        scores, hits=(hit("acme-zorblax"),) if blocked else (), spans=(pii(),) if with_pii else ()
    )
    decision = evaluate(found, asked, POLICY)
    for cid, floor in POLICY.floors.items():
        if scores.get(cid, 0.0) >= floor.min:
            assert ACTION_RANK[decision.action] >= ACTION_RANK[floor.action]
            assert f"floor.{cid}" in {r.rule for r in decision.rules_fired}
    for rule in decision.rules_fired:
        assert resolve_policy_ref(POLICY, rule.policy_ref).category == rule.category
    if decision.action == "allow":
        assert decision.policy_ref is None
    else:
        assert decision.policy_ref is not None
        resolve_policy_ref(POLICY, decision.policy_ref)
    for result in decision.categories:
        assert result.triggered == (result.action != "allow")
