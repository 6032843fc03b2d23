"""The audit sink's own series, registered beside the worker series in one registry."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter

from shared.audit.events import AUDIT_KINDS

__all__ = ["AuditMetrics"]


@dataclass(frozen=True)
class AuditMetrics:
    """Events recorded and skipped, retention, and the sink's own chain verification."""

    recorded: Counter
    skipped: Counter
    expired: Counter
    verified_rows: Counter
    verification_failures: Counter

    @classmethod
    def create(cls, registry: CollectorRegistry) -> AuditMetrics:
        return cls(
            recorded=Counter(
                "clearpath_audit_events_recorded_total",
                "Audit events appended to a chain.",
                ["kind"],
                registry=registry,
            ),
            skipped=Counter(
                "clearpath_audit_events_skipped_total",
                "Audit records not appended: already stored (redelivered, duplicate_event).",
                ["reason"],
                registry=registry,
            ),
            expired=Counter(
                "clearpath_audit_rows_expired_total",
                "Stored audit rows deleted by retention.",
                registry=registry,
            ),
            verified_rows=Counter(
                "clearpath_audit_rows_verified_total",
                "Stored audit rows the sink re-verified after writing them.",
                registry=registry,
            ),
            verification_failures=Counter(
                "clearpath_audit_chain_verification_failures_total",
                "Verification passes that found a broken chain (modified, deleted, reordered).",
                ["reason"],
                registry=registry,
            ),
        )

    def kind_label(self, kind: str) -> str:
        """``kind`` as a label: known kinds by name, anything else as ``other`` (bounded)."""
        return kind if kind in AUDIT_KINDS else "other"
