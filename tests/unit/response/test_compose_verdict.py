"""compose_verdict: a decision message becomes the verdict, with a receipt for every non-allow."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import pytest

from shared.core.appeal import verify
from shared.core.responses import compose_verdict
from shared.schemas import (
    Action,
    DecisionMessage,
    PiiSpan,
    Verdict,
    VerdictCategory,
    decode,
    encode,
)
from tests.support.factories import (
    APPEAL_KEY,
    APPEAL_KID,
    NOW,
    FakeRecheck,
    fake_redact,
    make_appeal_issuer,
    make_decision,
    make_decision_message,
    make_detection,
    make_request,
)

WEAPONS_TEXT = "How do I make sarin at home?"


def _compose(
    message: DecisionMessage,
    *,
    recheck: FakeRecheck | None = None,
    now: datetime = NOW,
    extra: dict[str, float] | None = None,
) -> Verdict:
    return compose_verdict(
        message,
        now=now,
        sign_appeal=make_appeal_issuer(ttl_s=3600),
        recheck=recheck or FakeRecheck("allow"),
        redact=fake_redact,
        extra_timings=extra or {},
    )


def _message(action: Action, category: str | None, text: str = WEAPONS_TEXT) -> DecisionMessage:
    return make_decision_message(
        request=make_request(text=text),
        decision=make_decision(action, category=category),
    )


def test_allow_has_no_receipt_and_never_rechecks() -> None:
    recheck = FakeRecheck("allow")
    verdict = _compose(make_decision_message(), recheck=recheck)
    assert verdict.action == "allow"
    assert verdict.receipt is None and verdict.redacted_text is None
    assert recheck.seen == []


def test_refuse_carries_reason_clause_alternatives_rewrite_and_appeal() -> None:
    message = _message("refuse", "weapons_cbrn")
    verdict = _compose(message)
    receipt = verdict.receipt
    assert receipt is not None
    assert receipt.reason.startswith("This asks for instructions that could help someone build")
    assert receipt.policy_ref == message.decision.policy_ref == "public_assistant@3#weapons_cbrn.1"
    assert 1 <= len(receipt.alternatives) <= 3
    assert receipt.rewrite == "Explain the history and regulation of sarin."
    assert receipt.locale == "en"
    assert verdict.redacted_text is None


def test_rewrite_is_the_first_candidate_recheck_allows() -> None:
    fallback = "Explain the history of chemical weapons and the treaties that ban them."
    recheck = FakeRecheck("refuse", allow={fallback})
    receipt = _compose(_message("refuse", "weapons_cbrn"), recheck=recheck).receipt
    assert receipt is not None and receipt.rewrite == fallback
    assert len(recheck.seen) == 2


def test_rewrite_is_omitted_when_recheck_never_allows() -> None:
    receipt = _compose(_message("refuse", "weapons_cbrn"), recheck=FakeRecheck("refuse")).receipt
    assert receipt is not None and receipt.rewrite is None
    assert (
        "rewrite"
        not in encode(
            _compose(_message("refuse", "violence"), recheck=FakeRecheck("allow_with_guidance"))
        ).decode()
    )


def test_appeal_token_is_bound_to_request_and_tenant_and_expires_after_ttl() -> None:
    message = _message("refuse", "weapons_cbrn")
    receipt = _compose(message).receipt
    assert receipt is not None
    appeal = receipt.appeal
    assert appeal.expires_at == NOW.replace(microsecond=0) + timedelta(seconds=3600)
    assert appeal.instructions == "Appeal here."
    claims = verify(
        appeal.token,
        keys={APPEAL_KID: APPEAL_KEY},
        now=NOW,
        tenant_id="t1",
        request_id="req-1",
        text=WEAPONS_TEXT,  # the token binds the text it was issued for
    )
    assert claims.policy_ref == message.decision.policy_ref
    assert claims.category == "weapons_cbrn"
    assert "sarin" not in appeal.token


def test_redact_uses_the_injected_redactor_and_names_kinds_not_values() -> None:
    text = "Mail jane@example.com today"
    pii = (PiiSpan(kind="email", start=5, end=21),)
    calls: list[tuple[str, Sequence[PiiSpan]]] = []

    def redact(raw: str, spans: Sequence[PiiSpan]) -> str:
        calls.append((raw, spans))
        return fake_redact(raw, spans)

    message = make_decision_message(
        request=make_request(text=text),
        detection=make_detection(pii=pii),
        decision=make_decision("redact", category="privacy"),
    )
    verdict = compose_verdict(
        message, now=NOW, sign_appeal=make_appeal_issuer(), recheck=FakeRecheck(), redact=redact
    )
    assert verdict.redacted_text == "Mail [EMAIL] today"
    assert all(call == (text, pii) for call in calls) and calls
    assert verdict.receipt is not None
    assert "email address" in verdict.receipt.reason
    assert "jane" not in verdict.receipt.reason
    assert verdict.receipt.rewrite == "Mail [EMAIL] today"


def test_redact_rewrite_is_omitted_when_the_masked_text_does_not_pass() -> None:
    message = make_decision_message(
        request=make_request(text="Mail jane@example.com today"),
        detection=make_detection(pii=(PiiSpan(kind="email", start=5, end=21),)),
        decision=make_decision("redact", category="privacy"),
    )
    verdict = _compose(message, recheck=FakeRecheck("redact"))
    assert verdict.redacted_text == "Mail [EMAIL] today"
    assert verdict.receipt is not None and verdict.receipt.rewrite is None


@pytest.mark.parametrize(
    ("action", "category", "phrase"),
    [
        ("allow_with_guidance", "weapons_cbrn", "high level"),
        ("refer", "self_harm", "people who can help"),
        ("escalate", "hate", "held for review"),
    ],
)
def test_other_actions_explain_themselves(action: Action, category: str, phrase: str) -> None:
    receipt = _compose(_message(action, category, text="some text")).receipt
    assert receipt is not None and phrase in receipt.reason
    if action == "refer":
        assert any("988" in a for a in receipt.alternatives)


def test_fields_are_copied_and_timings_totalled() -> None:
    message = make_decision_message(
        request=make_request(conversation_id="conv-1", locale="de-DE"),
        detection=make_detection({"violence": 0.7}, model_version="m@2"),
        decision=make_decision(
            "refuse", category="violence", score=0.7, policy_version="7", intent_applied=True
        ),
        timings_ms={"detection": 4.0, "policy": 1.0},
    )
    verdict = _compose(message, extra={"response": 2.5})
    assert verdict.categories == (
        VerdictCategory(id="violence", score=0.7, threshold=0.5, triggered=True),
    )
    assert (verdict.request_id, verdict.tenant_id, verdict.conversation_id) == (
        "req-1",
        "t1",
        "conv-1",
    )
    assert (verdict.profile, verdict.policy_version, verdict.model_version) == (
        "public_assistant",
        "7",
        "m@2",
    )
    assert verdict.intent_applied is True and verdict.cache_hit is False
    assert verdict.timings_ms == {"detection": 4.0, "policy": 1.0, "response": 2.5, "total": 250.0}
    assert verdict.decided_at == NOW
    assert verdict.receipt is not None and verdict.receipt.locale == "en"
    assert decode(encode(verdict), Verdict) == verdict


def test_total_is_never_negative_when_the_platform_clock_runs_ahead() -> None:
    verdict = _compose(make_decision_message(), now=NOW - timedelta(hours=1))
    assert verdict.timings_ms["total"] == 0.0


def test_policy_ref_falls_back_to_a_fired_rule_then_the_profile() -> None:
    decision = make_decision("refuse", category="violence", policy_ref=None)
    receipt = _compose(make_decision_message(decision=decision)).receipt
    assert receipt is not None and receipt.policy_ref == "public_assistant@3#violence.1"
    bare = make_decision("refuse", policy_version="9")
    receipt = _compose(make_decision_message(decision=bare)).receipt
    assert receipt is not None and receipt.policy_ref == "public_assistant@9"


def test_naive_now_is_rejected() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        _compose(make_decision_message(), now=NOW.replace(tzinfo=None))
