"""What the verdict cache stores, and how a stored verdict answers a new request (pure).

The cached value is the verdict minus everything bound to one request: ids, timings,
``decided_at`` and the receipt's appeal token (it binds request, tenant, text and expiry). On a
hit :func:`from_cached` rebuilds the verdict for the new request with a freshly signed
token, ``cache_hit=True`` and the timings it is given.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Final

from pydantic import Field

from shared.audit.events import AuditEvidence
from shared.core.appeal import AppealSigner
from shared.core.fingerprint import text_digest
from shared.schemas import Action, ModerationRequest, Receipt, Verdict, VerdictCategory, WireModel

__all__ = ["CACHE_SCHEMA_VERSION", "CachedReceipt", "CachedVerdict", "from_cached", "to_cached"]

CACHE_SCHEMA_VERSION: Final = 1


class CachedReceipt(WireModel):
    """A receipt without its appeal (re-signed for every request served)."""

    reason: str
    policy_ref: str
    alternatives: tuple[str, ...] = Field(min_length=1, max_length=3)
    rewrite: str | None = None
    locale: str = "en"


class CachedVerdict(WireModel):
    """The request-independent part of a verdict, as stored under its cache key."""

    schema_version: int = CACHE_SCHEMA_VERSION
    profile: str
    action: Action
    categories: tuple[VerdictCategory, ...] = ()
    receipt: CachedReceipt | None = None
    redacted_text: str | None = None
    policy_version: str
    model_version: str
    intent_applied: bool = False
    category: str | None = Field(
        default=None, description="Primary category: the appeal claim and the metrics label."
    )
    source_digest: str = Field(description="text_digest of the exact text it was computed from.")
    evidence: AuditEvidence | None = Field(
        default=None, description="What detection found and which rules fired (for the audit)."
    )

    @property
    def text_bound(self) -> bool:
        """Whether parts of it (redacted text, rewrite) were computed from the text's offsets."""
        return self.redacted_text is not None or (
            self.receipt is not None and self.receipt.rewrite is not None
        )

    def serves(self, text: str) -> bool:
        """Whether it may answer ``text`` (whose key matched): text-bound parts need the same
        exact text, since light normalisation may have shifted their offsets."""
        return not self.text_bound or self.source_digest == text_digest(text)

    def encode(self) -> bytes:
        return self.model_dump_json().encode()

    @classmethod
    def decode(cls, raw: bytes | str) -> CachedVerdict:
        return cls.model_validate_json(raw)


def to_cached(
    verdict: Verdict, *, category: str | None, text: str, evidence: AuditEvidence | None = None
) -> CachedVerdict:
    """The cacheable part of ``verdict`` (``category``: the decision's primary category;
    ``evidence``: the decision's, so a cache hit's audit event can say why too)."""
    receipt = verdict.receipt
    return CachedVerdict(
        profile=verdict.profile,
        action=verdict.action,
        categories=verdict.categories,
        receipt=None
        if receipt is None
        else CachedReceipt(
            reason=receipt.reason,
            policy_ref=receipt.policy_ref,
            alternatives=receipt.alternatives,
            rewrite=receipt.rewrite,
            locale=receipt.locale,
        ),
        redacted_text=verdict.redacted_text,
        policy_version=verdict.policy_version,
        model_version=verdict.model_version,
        intent_applied=verdict.intent_applied,
        category=category,
        source_digest=text_digest(text),
        evidence=evidence,
    )


def from_cached(
    cached: CachedVerdict,
    request: ModerationRequest,
    *,
    now: datetime,
    sign_appeal: AppealSigner,
    timings_ms: Mapping[str, float],
) -> Verdict:
    """``cached`` as the verdict for ``request`` at ``now``: its ids, a fresh appeal token,
    ``timings_ms`` plus ``total`` (from ``submitted_at``), ``cache_hit=True``."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    stored = cached.receipt
    receipt = None
    if stored is not None:
        receipt = Receipt(
            reason=stored.reason,
            policy_ref=stored.policy_ref,
            alternatives=stored.alternatives,
            rewrite=stored.rewrite,
            locale=stored.locale,
            appeal=sign_appeal(
                request_id=request.request_id,
                tenant_id=request.tenant_id,
                policy_ref=stored.policy_ref,
                category=cached.category,
                now=now,
                text=request.text,
            ),
        )
    total_ms = max(0.0, (now - request.submitted_at).total_seconds() * 1000.0)
    return Verdict(
        request_id=request.request_id,
        tenant_id=request.tenant_id,
        conversation_id=request.conversation_id,
        profile=cached.profile,
        action=cached.action,
        categories=cached.categories,
        receipt=receipt,
        redacted_text=cached.redacted_text,
        policy_version=cached.policy_version,
        model_version=cached.model_version,
        intent_applied=cached.intent_applied,
        cache_hit=True,
        timings_ms={**timings_ms, "total": total_ms},
        decided_at=now,
    )
