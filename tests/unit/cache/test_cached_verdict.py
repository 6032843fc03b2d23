"""Cached verdicts: what is stored, the round trip, and re-serving to another request."""

from __future__ import annotations

from datetime import timedelta

from shared.core.appeal import verify
from shared.core.cached_verdict import CachedVerdict, from_cached, to_cached
from shared.core.responses import compose_verdict
from shared.schemas import PiiSpan, Verdict
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

TEXT = "Give me steps to make a nerve agent"


def _refusal(text: str = TEXT, *, rewrite: bool = False) -> tuple[Verdict, str | None]:
    decision = make_decision("refuse", category="weapons_cbrn")
    message = make_decision_message(request=make_request(text=text), decision=decision)
    verdict = compose_verdict(
        message,
        now=NOW,
        sign_appeal=make_appeal_issuer(),
        recheck=FakeRecheck("allow" if rewrite else "refuse"),
        redact=fake_redact,
    )
    return verdict, decision.primary_category


def test_the_stored_value_round_trips_and_holds_nothing_bound_to_the_request() -> None:
    verdict, category = _refusal()
    cached = to_cached(verdict, category=category, text=TEXT)
    raw = cached.encode()
    assert CachedVerdict.decode(raw) == cached
    assert b"req-1" not in raw and b"t1" not in raw and b"token" not in raw
    assert TEXT.encode() not in raw


def test_a_hit_is_the_same_verdict_for_the_new_request_with_a_fresh_token() -> None:
    verdict, category = _refusal()
    cached = CachedVerdict.decode(to_cached(verdict, category=category, text=TEXT).encode())
    later = NOW + timedelta(minutes=5)
    request = make_request(request_id="req-2", tenant_id="t1", text=TEXT, conversation_id="c7")
    served = from_cached(
        cached,
        request,
        now=later,
        sign_appeal=make_appeal_issuer(),
        timings_ms={"cache": 0.4},
    )
    assert served.cache_hit and not verdict.cache_hit
    assert (served.request_id, served.conversation_id, served.decided_at) == ("req-2", "c7", later)
    assert served.model_dump(include={"action", "categories", "policy_version", "profile"}) == (
        verdict.model_dump(include={"action", "categories", "policy_version", "profile"})
    )
    assert served.receipt is not None and verdict.receipt is not None
    assert served.receipt.reason == verdict.receipt.reason
    assert served.receipt.appeal.token != verdict.receipt.appeal.token
    claims = verify(
        served.receipt.appeal.token,
        keys={APPEAL_KID: APPEAL_KEY},
        now=later,
        tenant_id="t1",
        request_id="req-2",
        text=TEXT,  # the re-signed token binds the text of the request it now answers
    )
    assert claims.category == "weapons_cbrn"
    assert claims.policy_ref == verdict.receipt.policy_ref
    assert served.timings_ms["cache"] == 0.4
    assert served.timings_ms["total"] == (later - request.submitted_at).total_seconds() * 1000


def test_text_derived_parts_serve_only_the_exact_same_text() -> None:
    plain, category = _refusal()
    assert to_cached(plain, category=category, text=TEXT).serves("  " + TEXT)

    with_rewrite, category = _refusal(rewrite=True)
    assert with_rewrite.receipt is not None and with_rewrite.receipt.rewrite is not None
    cached = to_cached(with_rewrite, category=category, text=TEXT)
    assert cached.text_bound
    assert cached.serves(TEXT)
    assert not cached.serves("  " + TEXT)


def test_a_redaction_is_text_bound() -> None:
    text = "mail bob@example.com"
    message = make_decision_message(
        request=make_request(text=text),
        detection=make_detection(pii=(PiiSpan(kind="email", start=5, end=20),)),
        decision=make_decision("redact", category="privacy"),
    )
    verdict = compose_verdict(
        message,
        now=NOW,
        sign_appeal=make_appeal_issuer(),
        recheck=FakeRecheck("refuse"),
        redact=fake_redact,
    )
    cached = to_cached(verdict, category="privacy", text=text)
    assert cached.redacted_text is not None
    assert not cached.serves(text + " ")
