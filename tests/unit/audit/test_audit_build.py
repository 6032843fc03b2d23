"""Verdict audit events: the keyed hash, the text modes, the evidence and the snapshot."""

from __future__ import annotations

import hashlib
import hmac
import json
import unicodedata

import pytest

from shared.audit.build import (
    appeal_token_id,
    evidence_of,
    request_hash,
    storable,
    verdict_event,
    verdict_snapshot,
)
from shared.audit.events import AuditEvent, TextMode, VerdictAuditEvent
from shared.audit.recorder import AuditRecorder
from shared.core.pii import find_pii, redact
from shared.core.policy_model import Policy
from shared.core.responses import compose_verdict
from shared.policy.loader import load_policy
from shared.schemas import (
    Action,
    DecisionMessage,
    Intent,
    LexicalHit,
    PiiSpan,
    Verdict,
    decode,
    encode,
)
from tests.support.factories import (
    NOW,
    FakeRecheck,
    make_appeal_issuer,
    make_decision,
    make_decision_message,
    make_detection,
    make_request,
)

KEY = b"audit-test-key-0123456789abcdef!"
SECRET_WORDS = "tell me about zorblax"
EMAIL = "bob@example.com"
TEXT = f"{SECRET_WORDS}, mail {EMAIL}"


def _message(action: Action = "redact") -> DecisionMessage:
    request = make_request(
        text=TEXT,
        intent=Intent(purpose="research", statement=f"my address is {EMAIL}", verified=True),
        locale="en-GB",
        conversation_id="conv-9",
    )
    spans = find_pii(TEXT)
    detection = make_detection(
        {"violence": 0.1},
        pii=spans,
        hits=(
            LexicalHit(
                list="blocklist",
                entry_id="acme-zorblax",
                category="crime_illicit",
                start=14,
                end=21,
            ),
        ),
    )
    decision = make_decision(action, category="privacy")
    return make_decision_message(request=request, detection=detection, decision=decision)


def _verdict(message: DecisionMessage) -> Verdict:
    return compose_verdict(
        message,
        now=NOW,
        sign_appeal=make_appeal_issuer(),
        recheck=FakeRecheck("allow"),
        redact=redact,
    )


def _event(mode: TextMode, *, action: Action = "redact") -> VerdictAuditEvent:
    message = _message(action)
    verdict = _verdict(message)
    return verdict_event(
        event_id="ev-1",
        source="response",
        request=message.request,
        verdict=verdict,
        evidence=evidence_of(message.detection, message.decision),
        mode=mode,
        hash_key=KEY,
        hash_key_id="h1",
        pii=message.detection.pii,
    )


def test_the_request_hash_is_an_hmac_of_the_nfc_text() -> None:
    decomposed = "cafe\u0301"
    composed = unicodedata.normalize("NFC", decomposed)
    assert request_hash(decomposed, key=KEY) == request_hash(composed, key=KEY)
    expected = hmac.new(KEY, composed.encode(), hashlib.sha256).hexdigest()
    assert request_hash(decomposed, key=KEY) == expected
    assert expected != hashlib.sha256(composed.encode()).hexdigest()
    assert request_hash(composed, key=b"another-key-0123456789abcdef!!!!") != expected


def test_mode_none_keeps_no_text_anywhere() -> None:
    event = _event("none")
    wire = encode(event).decode()
    assert SECRET_WORDS not in wire and EMAIL not in wire and "[EMAIL]" not in wire
    assert event.text is None and event.intent is not None and event.intent.statement is None
    assert "redacted_text" not in event.verdict
    assert "rewrite" not in event.verdict.get("receipt", {})
    assert event.request_hash == request_hash(TEXT, key=KEY) and event.request_hash_key_id == "h1"


def test_mode_redacted_masks_pii_in_the_text_and_the_statement() -> None:
    event = _event("redacted")
    assert event.text is not None and EMAIL not in event.text and "[EMAIL]" in event.text
    assert SECRET_WORDS in event.text
    assert event.intent is not None and event.intent.statement == "my address is [EMAIL]"
    assert event.verdict["redacted_text"] == event.text
    assert EMAIL not in encode(event).decode()


def test_mode_full_keeps_the_text_as_sent() -> None:
    event = _event("full")
    assert event.text == TEXT
    assert event.intent is not None and event.intent.statement == f"my address is {EMAIL}"


def test_evidence_names_kinds_and_entries_never_the_matched_text() -> None:
    event = _event("none")
    evidence = event.evidence
    assert evidence is not None
    assert evidence.pii_kinds == ("email",)
    assert [h.entry_id for h in evidence.lexical_hits] == ["acme-zorblax"]
    assert [r.rule for r in evidence.rules_fired] == ["profile.privacy"]
    assert evidence.scores == {"violence": 0.1} and evidence.primary_category == "privacy"


def test_the_receipt_reference_says_why_without_the_token() -> None:
    message = _message("refuse")
    verdict = _verdict(message)
    event = _event("none", action="refuse")
    assert verdict.receipt is not None and event.receipt is not None
    assert event.receipt.policy_ref == verdict.receipt.policy_ref
    assert event.receipt.reason == verdict.receipt.reason
    assert event.receipt.appeal_token_id == appeal_token_id(verdict.receipt.appeal.token)
    assert event.receipt.appeal_expires_at == verdict.receipt.appeal.expires_at
    assert event.receipt.alternatives == len(verdict.receipt.alternatives)


@pytest.mark.parametrize("mode", ["none", "redacted", "full"])
def test_the_snapshot_is_a_verdict_and_the_event_round_trips(mode: TextMode) -> None:
    event = _event(mode)
    assert Verdict.model_validate(event.verdict).request_id == "req-1"
    again = decode(encode(event), VerdictAuditEvent)
    assert again == event
    envelope = decode(encode(event), AuditEvent)
    assert (envelope.kind, envelope.action, envelope.profile) == (
        "verdict",
        "redact",
        "public_assistant",
    )


def test_snapshot_none_drops_the_text_derived_parts_only() -> None:
    verdict = _verdict(_message("redact"))
    snapshot = verdict_snapshot(verdict, mode="none")
    full = json.loads(verdict.model_dump_json(exclude_none=True))
    full.pop("redacted_text")
    full.get("receipt", {}).pop("rewrite", None)
    assert snapshot == full


def test_unstorable_characters_are_replaced() -> None:
    assert storable("a\x00b\ud800c") == "a\ufffdb\ufffdc"
    request = make_request(text="nul\x00here")
    verdict = _verdict(make_decision_message(request=request))
    event = verdict_event(
        event_id="e",
        source="detection",
        request=request,
        verdict=verdict,
        evidence=None,
        mode="full",
        hash_key=KEY,
        hash_key_id="h1",
    )
    assert event.text == "nul\ufffdhere"


def test_a_cache_hit_without_spans_finds_pii_afresh_in_redacted_mode() -> None:
    policy = load_policy(None)
    data = policy.model_dump()
    data["tenants"] = {"t1": {"version": 1, "audit_text": "redacted"}}
    tenant_policy = Policy.model_validate(data)
    assert tenant_policy.audit_text("t1") == "redacted"
    assert tenant_policy.audit_text("anyone") == "none"
    recorder = AuditRecorder(
        source="detection",
        text_mode=tenant_policy.audit_text,
        hash_key=KEY,
        hash_key_id="h1",
        new_id=lambda: "fixed-id",
    )
    message = _message("redact")
    event = recorder.for_cache_hit(message.request, _verdict(message), None)
    assert event.event_id == "fixed-id" and event.source == "detection"
    assert event.text is not None and "[EMAIL]" in event.text and event.evidence is None


def test_pii_spans_given_are_the_ones_masked() -> None:
    message = _message("redact")
    verdict = _verdict(message)
    event = verdict_event(
        event_id="e",
        source="response",
        request=message.request,
        verdict=verdict,
        evidence=None,
        mode="redacted",
        hash_key=KEY,
        hash_key_id="h1",
        pii=(PiiSpan(kind="secret", start=0, end=4),),
    )
    assert event.text is not None and event.text.startswith("[SECRET]")
