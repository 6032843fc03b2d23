"""Audit wire contract (``clearpath.audit.v1``): the envelope every kind shares, and the verdict.

Every event is one JSON object on the audit topic. :class:`AuditEvent` is the envelope the
audit sink reads (identity, kind, who and when); the sink stores the whole object, unknown
fields included, so a newer producer's fields are kept and hashed. :class:`VerdictAuditEvent`
is the ``verdict`` kind. A new kind (``appeal_outcome``, ...) subclasses the envelope with
its own ``kind`` literal and fields, and is added to :data:`AUDIT_KINDS`; the sink needs no
change.

No raw text unless the tenant's ``audit_text`` mode asks for it (see
:class:`~shared.core.policy_model.Tenant`): ``none`` (default) keeps only a keyed hash of the
text, ``redacted`` adds the text with PII masked, ``full`` adds the text as sent.
"""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal

from pydantic import AwareDatetime, Field

from shared.schemas import (
    SCHEMA_VERSION,
    Action,
    Identifier,
    Purpose,
    RuleFired,
    VerdictCategory,
    WireModel,
)

__all__ = [
    "AUDIT_KINDS",
    "AUDIT_SCHEMA_VERSION",
    "TEXT_MODES",
    "AuditEvent",
    "AuditEvidence",
    "AuditIntent",
    "AuditLexicalHit",
    "AuditReceipt",
    "TextMode",
    "VerdictAuditEvent",
]

AUDIT_SCHEMA_VERSION: Final = SCHEMA_VERSION
#: Kinds producers emit today. The sink accepts any well-formed kind (forward compatible).
AUDIT_KINDS: Final = ("verdict", "appeal_outcome")

TextMode = Literal["none", "redacted", "full"]
TEXT_MODES: Final[tuple[TextMode, ...]] = ("none", "redacted", "full")

Kind = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")]


class AuditEvent(WireModel):
    """The envelope of every audit event: what the sink indexes and chains."""

    schema_version: int = Field(default=AUDIT_SCHEMA_VERSION, description="Wire schema version.")
    event_id: Identifier = Field(description="Unique id of this event (a UUID).")
    kind: Kind = Field(description="What happened: 'verdict' (later 'appeal_outcome', ...).")
    source: str = Field(max_length=64, description="Producer: detection, response, gateway.")
    tenant_id: Identifier
    request_id: Identifier
    action: Action | None = Field(default=None, description="The action in force afterwards.")
    profile: str | None = Field(default=None, max_length=128)
    decided_at: AwareDatetime = Field(description="When the decision was made.")


class AuditIntent(WireModel):
    """The declared intent; the statement is user text and follows the text mode."""

    purpose: Purpose
    verified: bool = False
    statement: str | None = Field(default=None, description="Only in redacted or full mode.")


class AuditLexicalHit(WireModel):
    """A blocklist or allowlist entry that matched (its id, never the matched text)."""

    list: Literal["blocklist", "allowlist"]
    entry_id: str
    category: str


class AuditEvidence(WireModel):
    """Why: what detection found and which policy rules fired (no text, no PII values)."""

    scores: dict[str, float] = Field(default_factory=dict, description="Detector scores.")
    lexical_hits: tuple[AuditLexicalHit, ...] = ()
    pii_kinds: tuple[str, ...] = Field(default=(), description="Kinds of PII found, in order.")
    rules_fired: tuple[RuleFired, ...] = ()
    primary_category: str | None = None


class AuditReceipt(WireModel):
    """Which receipt the user got: enough to reconstruct why the action was applied."""

    reason: str
    policy_ref: str
    locale: str = "en"
    alternatives: int = Field(ge=0, description="How many next steps were offered.")
    rewrite_offered: bool
    appeal_token_id: str = Field(description="SHA-256 hex (first 32) of the appeal token.")
    appeal_expires_at: AwareDatetime


class VerdictAuditEvent(AuditEvent):
    """``kind='verdict'``: one per verdict, in the verdict's own Kafka transaction."""

    kind: Literal["verdict"] = "verdict"
    action: Action
    profile: str
    conversation_id: Identifier | None = None
    role: Literal["user", "assistant"]
    locale: str | None = None
    intent: AuditIntent | None = None
    submitted_at: AwareDatetime
    text_mode: TextMode
    request_hash: str = Field(description="HMAC-SHA256 hex of the NFC text (audit hash key).")
    request_hash_key_id: str = Field(description="Which audit hash key made request_hash.")
    text: str | None = Field(default=None, description="redacted: PII masked; full: as sent.")
    evidence: AuditEvidence | None = Field(
        default=None, description="None only for a cache hit on an entry stored without it."
    )
    categories: tuple[VerdictCategory, ...] = ()
    policy_version: str
    model_version: str
    intent_applied: bool = False
    cache_hit: bool = False
    timings_ms: dict[str, float] = Field(default_factory=dict)
    receipt: AuditReceipt | None = None
    verdict: dict[str, Any] = Field(
        description="The verdict as sent (JSON), less what the text mode withholds."
    )
