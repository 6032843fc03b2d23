"""The tamper-evident audit trail: audit events, their hash chain, the store and verification.

Pure parts are importable from here (events, building, the chain). The PostgreSQL adapters
live in :mod:`shared.audit.store` and :mod:`shared.audit.verify`; import them explicitly.
"""

from shared.audit.build import evidence_of, request_hash, verdict_event, verdict_snapshot
from shared.audit.chain import (
    GENESIS,
    ChainBreak,
    StoredRow,
    Verification,
    canonical_json,
    chain_hash,
    extend_chain,
    verify_chain,
)
from shared.audit.events import (
    AUDIT_KINDS,
    TEXT_MODES,
    AuditEvent,
    AuditEvidence,
    TextMode,
    VerdictAuditEvent,
)

__all__ = [
    "AUDIT_KINDS",
    "GENESIS",
    "TEXT_MODES",
    "AuditEvent",
    "AuditEvidence",
    "ChainBreak",
    "StoredRow",
    "TextMode",
    "VerdictAuditEvent",
    "Verification",
    "canonical_json",
    "chain_hash",
    "evidence_of",
    "extend_chain",
    "request_hash",
    "verdict_event",
    "verdict_snapshot",
    "verify_chain",
]
