"""Properties: compose_verdict never raises for valid decisions; a receipt iff action != allow."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from shared.core.receipt_text import TEXTS
from shared.core.responses import compose_verdict
from shared.schemas import (
    ACTIONS,
    Action,
    CategoryResult,
    Decision,
    DecisionMessage,
    Detection,
    Intent,
    LexicalHit,
    PiiSpan,
    RuleFired,
    encode,
)
from tests.support.factories import NOW, FakeRecheck, fake_redact, make_appeal_issuer, make_request

CATEGORIES = st.one_of(
    st.sampled_from(sorted(TEXTS["en"].categories)),
    st.text(min_size=1, max_size=20),
)
OFFSETS = st.integers(min_value=0, max_value=300)
SCORES = st.floats(min_value=0.0, max_value=1.0)
ACTION = st.sampled_from(ACTIONS)

PII = st.builds(PiiSpan, kind=st.text(min_size=1, max_size=15), start=OFFSETS, end=OFFSETS)
HITS = st.builds(
    LexicalHit,
    list=st.sampled_from(["blocklist", "allowlist"]),
    entry_id=st.text(max_size=8),
    category=CATEGORIES,
    start=OFFSETS,
    end=OFFSETS,
)
RESULTS = st.builds(
    CategoryResult,
    id=CATEGORIES,
    score=SCORES,
    threshold=SCORES,
    triggered=st.booleans(),
    action=ACTION,
)
RULES = st.builds(
    RuleFired, rule=st.text(), category=CATEGORIES, action=ACTION, policy_ref=st.text()
)
DECISIONS = st.builds(
    Decision,
    action=ACTION,
    profile=st.text(max_size=20),
    categories=st.lists(RESULTS, max_size=4).map(tuple),
    rules_fired=st.lists(RULES, max_size=3).map(tuple),
    primary_category=st.none() | CATEGORIES,
    policy_ref=st.none() | st.text(max_size=40),
    policy_version=st.text(max_size=10),
    intent_applied=st.booleans(),
)
INTENTS = st.none() | st.builds(
    Intent,
    purpose=st.sampled_from(["education", "research", "fiction", "professional", "other"]),
)


@st.composite
def messages(draw: st.DrawFn) -> DecisionMessage:
    request = make_request(
        text=draw(st.text(max_size=200)),
        intent=draw(INTENTS),
        locale=draw(st.none() | st.sampled_from(["en", "en-GB", "fr", "zz-Latn", "x"])),
    )
    detection = Detection(
        scores=draw(st.dictionaries(CATEGORIES, SCORES, max_size=4)),
        hits=tuple(draw(st.lists(HITS, max_size=3))),
        pii=tuple(draw(st.lists(PII, max_size=3))),
        model_version=draw(st.text(max_size=20)),
    )
    timings = draw(st.dictionaries(st.text(max_size=10), st.floats(0, 1e6), max_size=3))
    return DecisionMessage(
        request=request, detection=detection, decision=draw(DECISIONS), timings_ms=timings
    )


@settings(max_examples=300, deadline=None)
@given(
    message=messages(),
    recheck_action=ACTION,
    delay_ms=st.integers(min_value=-10_000, max_value=10**9),
)
def test_compose_never_raises_and_receipt_iff_not_allow(
    message: DecisionMessage, recheck_action: Action, delay_ms: int
) -> None:
    recheck = FakeRecheck(recheck_action)
    now = NOW + timedelta(milliseconds=delay_ms)
    verdict = compose_verdict(
        message, now=now, sign_appeal=make_appeal_issuer(), recheck=recheck, redact=fake_redact
    )
    allowed = message.decision.action == "allow"
    assert (verdict.receipt is None) == allowed
    assert (verdict.redacted_text is not None) == (message.decision.action == "redact")
    assert verdict.timings_ms["total"] >= 0.0
    if verdict.receipt is not None:
        receipt = verdict.receipt
        assert "\n" not in receipt.reason and receipt.reason
        assert 1 <= len(receipt.alternatives) <= 3
        assert receipt.rewrite is None or recheck_action == "allow"
        assert receipt.locale == "en"
    encode(verdict)
