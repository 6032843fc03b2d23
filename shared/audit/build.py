"""Building verdict audit events (pure): the keyed request hash, the text modes, the snapshot.

Everything is passed in: the event id, the hash key, the tenant's text mode and the PII
spans to mask. Nothing here reads the clock, draws random numbers or touches a client.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final

import orjson

from shared.audit.events import (
    AUDIT_SCHEMA_VERSION,
    AuditEvidence,
    AuditIntent,
    AuditLexicalHit,
    AuditReceipt,
    TextMode,
    VerdictAuditEvent,
)
from shared.core.pii import find_pii, redact
from shared.schemas import Decision, Detection, ModerationRequest, PiiSpan, Receipt, Verdict

if TYPE_CHECKING:  # cached_verdict imports shared.audit.events: no cycle at run time
    from shared.core.cached_verdict import CachedEntry, RenderedVerdict

__all__ = [
    "appeal_token_id",
    "cache_hit_event_json",
    "evidence_of",
    "request_hash",
    "storable",
    "verdict_event",
    "verdict_snapshot",
]

#: Characters PostgreSQL cannot keep in text or jsonb: NUL and lone surrogates.
_UNSTORABLE: Final = re.compile("[\x00\ud800-\udfff]")


def request_hash(text: str, *, key: bytes) -> str:
    """HMAC-SHA256 hex of the NFC form of ``text``: matches a known text, reveals no guess."""
    normal = unicodedata.normalize("NFC", text).encode("utf-8", "surrogatepass")
    return hmac.new(key, normal, hashlib.sha256).hexdigest()


def appeal_token_id(token: str) -> str:
    """A stable reference to an appeal token that is not the token itself."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()[:32]


def storable(text: str) -> str:
    """``text`` with NUL and lone surrogates replaced by U+FFFD (the store cannot hold them)."""
    return _UNSTORABLE.sub("\ufffd", text)


def evidence_of(detection: Detection, decision: Decision) -> AuditEvidence:
    """What detection found and the policy did, without text or PII values."""
    return AuditEvidence(
        scores=dict(detection.scores),
        lexical_hits=tuple(
            AuditLexicalHit(list=h.list, entry_id=h.entry_id, category=h.category)
            for h in detection.hits
        ),
        pii_kinds=tuple(dict.fromkeys(span.kind for span in detection.pii)),
        rules_fired=decision.rules_fired,
        primary_category=decision.primary_category,
    )


def _masked(text: str, mode: TextMode, spans: Sequence[PiiSpan] | None, locale: str | None) -> str:
    if mode == "full":
        return storable(text)
    found = find_pii(text, locale=locale) if spans is None else spans
    return storable(redact(text, found))


def verdict_snapshot(verdict: Verdict, *, mode: TextMode) -> dict[str, Any]:
    """``verdict`` as JSON (what ``GET /v1/decisions/{id}`` serves), per the text mode.

    ``none`` drops the text-derived parts: ``redacted_text`` and the receipt's ``rewrite``
    (the user's own words, PII masked). ``redacted`` and ``full`` keep them: both are masked.
    """
    snapshot: dict[str, Any] = verdict.model_dump(mode="json", exclude_none=True)
    if mode == "none":
        snapshot.pop("redacted_text", None)
        if isinstance(snapshot.get("receipt"), dict):
            snapshot["receipt"].pop("rewrite", None)
    else:
        if "redacted_text" in snapshot:
            snapshot["redacted_text"] = storable(snapshot["redacted_text"])
        receipt = snapshot.get("receipt")
        if isinstance(receipt, dict) and "rewrite" in receipt:
            receipt["rewrite"] = storable(receipt["rewrite"])
    return snapshot


def _receipt(receipt: Receipt | None) -> AuditReceipt | None:
    if receipt is None:
        return None
    return AuditReceipt(
        reason=receipt.reason,
        policy_ref=receipt.policy_ref,
        locale=receipt.locale,
        alternatives=len(receipt.alternatives),
        rewrite_offered=receipt.rewrite is not None,
        appeal_token_id=appeal_token_id(receipt.appeal.token),
        appeal_expires_at=receipt.appeal.expires_at,
    )


def verdict_event(
    *,
    event_id: str,
    source: str,
    request: ModerationRequest,
    verdict: Verdict,
    evidence: AuditEvidence | None,
    mode: TextMode,
    hash_key: bytes,
    hash_key_id: str,
    pii: Sequence[PiiSpan] | None = None,
) -> VerdictAuditEvent:
    """The audit event for ``verdict``, given for ``request``.

    ``pii``: the spans detection found in the text (the ones the ``redact`` action masks);
    None (a cache hit) finds them afresh when the mode is ``redacted``. The intent statement
    is user text too: it follows the mode, its PII found afresh.
    """
    text = None if mode == "none" else _masked(request.text, mode, pii, request.locale)
    intent = request.intent
    audit_intent = None
    if intent is not None:
        statement = intent.statement
        audit_intent = AuditIntent(
            purpose=intent.purpose,
            verified=intent.verified,
            statement=None
            if statement is None or mode == "none"
            else _masked(statement, mode, None, request.locale),
        )
    return VerdictAuditEvent(
        event_id=event_id,
        source=source,
        request_id=request.request_id,
        tenant_id=request.tenant_id,
        conversation_id=request.conversation_id,
        profile=verdict.profile,
        role=request.role,
        locale=request.locale,
        intent=audit_intent,
        submitted_at=request.submitted_at,
        text_mode=mode,
        request_hash=request_hash(request.text, key=hash_key),
        request_hash_key_id=hash_key_id,
        text=text,
        evidence=evidence,
        action=verdict.action,
        categories=verdict.categories,
        policy_version=verdict.policy_version,
        model_version=verdict.model_version,
        intent_applied=verdict.intent_applied,
        cache_hit=verdict.cache_hit,
        timings_ms=dict(verdict.timings_ms),
        receipt=_receipt(verdict.receipt),
        decided_at=verdict.decided_at,
        verdict=verdict_snapshot(verdict, mode=mode),
    )


def _snapshot_of(doc: dict[str, Any], mode: TextMode) -> dict[str, Any]:
    """:func:`verdict_snapshot` of a rendered verdict document."""
    snapshot = dict(doc)
    receipt = snapshot.get("receipt")
    if mode == "none":
        snapshot.pop("redacted_text", None)
        if receipt is not None and "rewrite" in receipt:
            snapshot["receipt"] = {k: v for k, v in receipt.items() if k != "rewrite"}
    else:
        if "redacted_text" in snapshot:
            snapshot["redacted_text"] = storable(snapshot["redacted_text"])
        if receipt is not None and "rewrite" in receipt:
            snapshot["receipt"] = {**receipt, "rewrite": storable(receipt["rewrite"])}
    return snapshot


def cache_hit_event_json(
    *,
    event_id: str,
    source: str,
    request: ModerationRequest,
    entry: CachedEntry,
    rendered: RenderedVerdict,
    mode: TextMode,
    hash_key: bytes,
    hash_key_id: str,
) -> bytes:
    """:func:`verdict_event` for a verdict :func:`~shared.core.cached_verdict.render_cached`
    served from ``entry``, written straight to JSON (it decodes to the same event)."""
    verdict = rendered.doc
    doc: dict[str, Any] = {
        "schema_version": AUDIT_SCHEMA_VERSION,
        "event_id": event_id,
        "kind": "verdict",
        "source": source,
        "tenant_id": request.tenant_id,
        "request_id": request.request_id,
        "action": verdict["action"],
        "profile": verdict["profile"],
        "decided_at": verdict["decided_at"],
    }
    if request.conversation_id is not None:
        doc["conversation_id"] = request.conversation_id
    doc["role"] = request.role
    if request.locale is not None:
        doc["locale"] = request.locale
    intent = request.intent
    if intent is not None:
        audit_intent: dict[str, Any] = {"purpose": intent.purpose, "verified": intent.verified}
        if intent.statement is not None and mode != "none":
            audit_intent["statement"] = _masked(intent.statement, mode, None, request.locale)
        doc["intent"] = audit_intent
    doc["submitted_at"] = request.submitted_at
    doc["text_mode"] = mode
    doc["request_hash"] = request_hash(request.text, key=hash_key)
    doc["request_hash_key_id"] = hash_key_id
    if mode != "none":
        doc["text"] = _masked(request.text, mode, None, request.locale)
    if entry.evidence is not None:
        doc["evidence"] = entry.evidence
    doc["categories"] = verdict["categories"]
    doc["policy_version"] = verdict["policy_version"]
    doc["model_version"] = verdict["model_version"]
    doc["intent_applied"] = verdict["intent_applied"]
    doc["cache_hit"] = True
    doc["timings_ms"] = verdict["timings_ms"]
    receipt = verdict.get("receipt")
    if receipt is not None and rendered.appeal is not None:
        doc["receipt"] = {
            "reason": receipt["reason"],
            "policy_ref": receipt["policy_ref"],
            "locale": receipt["locale"],
            "alternatives": len(receipt["alternatives"]),
            "rewrite_offered": "rewrite" in receipt,
            "appeal_token_id": appeal_token_id(rendered.appeal.token),
            "appeal_expires_at": rendered.appeal.expires_at,
        }
    doc["verdict"] = _snapshot_of(verdict, mode)
    return orjson.dumps(doc, option=orjson.OPT_UTC_Z)
