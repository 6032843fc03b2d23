"""What the verdict cache stores, and how a stored verdict answers a new request (pure).

The cached value is the verdict minus everything bound to one request: ids, timings,
``decided_at`` and the receipt's appeal token (it binds request, tenant, text and expiry). On a
hit :func:`from_cached` rebuilds the verdict for the new request with a freshly signed
token, ``cache_hit=True`` and the timings it is given.

The workers' hot path does the same without models: :class:`CachedEntry` is the stored JSON
document parsed once (the cache holds only what :meth:`CachedVerdict.encode` wrote; a
document of any other shape goes through full validation instead), and
:func:`render_cached` writes the verdict for the new request straight to JSON, reusing the
stored categories as they are. Validating and re-serialising those models took most of a
cache hit's time (docs/BENCHMARKS.md, "The cache-hit path"); the two paths give the same
verdict (``tests/unit/cache/test_cached_render.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any, Final

import orjson
from pydantic import Field, ValidationError

from shared.audit.events import AuditEvidence
from shared.core.appeal import AppealSigner
from shared.core.fingerprint import text_digest
from shared.schemas import (
    ACTIONS,
    SCHEMA_VERSION,
    Action,
    AppealInfo,
    ModerationRequest,
    Receipt,
    Verdict,
    VerdictCategory,
    WireModel,
)

__all__ = [
    "CACHE_SCHEMA_VERSION",
    "CachedEntry",
    "CachedReceipt",
    "CachedVerdict",
    "RenderedVerdict",
    "from_cached",
    "render_cached",
    "to_cached",
]

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


_JSON_OPTIONS: Final = orjson.OPT_UTC_Z
_TEXT_FIELDS: Final = ("profile", "policy_version", "model_version", "source_digest")


def _well_formed(doc: object) -> bool:
    """Whether ``doc`` has the shape :meth:`CachedVerdict.encode` writes at this schema
    version (top level only: the entries are ours, written from validated models, and their
    keys carry the policy and model fingerprints; a different version or shape goes through
    full validation)."""
    return (
        isinstance(doc, dict)
        and doc.get("schema_version") == CACHE_SCHEMA_VERSION
        and doc.get("action") in ACTIONS
        and all(type(doc.get(f)) is str for f in _TEXT_FIELDS)
        and type(doc.get("intent_applied")) is bool
        and type(doc.get("categories")) is list
        and _receipt_well_formed(doc.get("receipt"))
        and type(doc.get("evidence")) in (dict, type(None))
        and type(doc.get("redacted_text")) in (str, type(None))
        and type(doc.get("category")) in (str, type(None))
    )


def _receipt_well_formed(receipt: object) -> bool:
    """The stored receipt's fields that :func:`render_cached` reads, if there is one."""
    if receipt is None:
        return True
    return (
        isinstance(receipt, dict)
        and all(type(receipt.get(f)) is str for f in ("reason", "policy_ref", "locale"))
        and type(receipt.get("alternatives")) is list
        and type(receipt.get("rewrite")) in (str, type(None))
    )


class CachedEntry:
    """A stored verdict as read back from the cache: its JSON document, and the validated
    :class:`CachedVerdict` when something asks for it (parsed once, then kept)."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc

    @classmethod
    def parse(cls, raw: bytes | str) -> CachedEntry | None:
        """The entry ``raw`` holds, or None when it is not a cached verdict (a miss)."""
        try:
            doc = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return None
        if _well_formed(doc):
            return cls(doc)
        try:  # another shape at the top level (another writer, a coercible type): validate
            model = CachedVerdict.model_validate(doc)
        except ValidationError:
            return None
        return cls.of(model)

    @classmethod
    def of(cls, model: CachedVerdict) -> CachedEntry:
        entry = cls(model.model_dump(mode="json"))
        entry.__dict__["model"] = model
        return entry

    @cached_property
    def model(self) -> CachedVerdict:
        return CachedVerdict.model_validate(self.doc)

    @property
    def action(self) -> Action:
        action: Action = self.doc["action"]
        return action

    @property
    def profile(self) -> str:
        return str(self.doc["profile"])

    @property
    def category(self) -> str | None:
        category: str | None = self.doc.get("category")
        return category

    @property
    def evidence(self) -> dict[str, Any] | None:
        evidence: dict[str, Any] | None = self.doc.get("evidence")
        return evidence

    def serves(self, text: str) -> bool:
        """:meth:`CachedVerdict.serves` on the document."""
        receipt = self.doc.get("receipt")
        bound = self.doc.get("redacted_text") is not None or (
            receipt is not None and receipt.get("rewrite") is not None
        )
        return not bound or self.doc["source_digest"] == text_digest(text)


@dataclass(frozen=True, slots=True)
class RenderedVerdict:
    """A cache hit's verdict: the JSON on the wire, its document and the appeal it carries."""

    json: bytes
    doc: dict[str, Any]
    appeal: AppealInfo | None


def render_cached(
    entry: CachedEntry,
    request: ModerationRequest,
    *,
    now: datetime,
    sign_appeal: AppealSigner,
    timings_ms: Mapping[str, float],
) -> RenderedVerdict:
    """:func:`from_cached`, written straight to JSON (``encode(from_cached(...))`` decodes to
    the same verdict). Field order and omitted Nones follow :class:`~shared.schemas.Verdict`."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    stored = entry.doc
    doc: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "request_id": request.request_id,
        "tenant_id": request.tenant_id,
    }
    if request.conversation_id is not None:
        doc["conversation_id"] = request.conversation_id
    doc["profile"] = stored["profile"]
    doc["action"] = stored["action"]
    doc["categories"] = stored["categories"]
    appeal = None
    receipt = stored.get("receipt")
    if receipt is not None:
        appeal = sign_appeal(
            request_id=request.request_id,
            tenant_id=request.tenant_id,
            policy_ref=receipt["policy_ref"],
            category=stored.get("category"),
            now=now,
            text=request.text,
        )
        out: dict[str, Any] = {
            "reason": receipt["reason"],
            "policy_ref": receipt["policy_ref"],
            "alternatives": receipt["alternatives"],
        }
        if receipt.get("rewrite") is not None:
            out["rewrite"] = receipt["rewrite"]
        out["appeal"] = {
            "token": appeal.token,
            "expires_at": appeal.expires_at,
            "instructions": appeal.instructions,
        }
        out["locale"] = receipt["locale"]
        doc["receipt"] = out
    if stored.get("redacted_text") is not None:
        doc["redacted_text"] = stored["redacted_text"]
    doc["policy_version"] = stored["policy_version"]
    doc["model_version"] = stored["model_version"]
    doc["intent_applied"] = stored["intent_applied"]
    doc["cache_hit"] = True
    total_ms = max(0.0, (now - request.submitted_at).total_seconds() * 1000.0)
    doc["timings_ms"] = {**timings_ms, "total": total_ms}
    doc["decided_at"] = now
    return RenderedVerdict(orjson.dumps(doc, option=_JSON_OPTIONS), doc, appeal)
