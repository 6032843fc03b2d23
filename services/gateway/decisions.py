"""Decisions as the audit trail recorded them: the verdict a tenant's request received."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from shared.errors import DatabaseError

__all__ = ["DecisionStore"]

_LATEST_VERDICT = (
    "SELECT event -> 'verdict' FROM audit_events "
    "WHERE tenant_id = %s AND request_id = %s AND kind = 'verdict' AND topic = %s "
    "ORDER BY decided_at DESC, recorded_at DESC LIMIT 1"
)


class DecisionStore:
    """Reads ``audit_events`` (written only by the audit sink) for one audit topic."""

    def __init__(self, pool: ConnectionPool, *, topic: str) -> None:
        self._pool = pool
        self._topic = topic

    def latest_verdict(self, *, tenant_id: str, request_id: str) -> dict[str, Any] | None:
        """The verdict of ``tenant_id``'s latest recorded decision on ``request_id``, or None
        (never another tenant's: the tenant is part of the lookup)."""
        try:
            with self._pool.connection() as conn:
                row = conn.execute(_LATEST_VERDICT, (tenant_id, request_id, self._topic)).fetchone()
        except psycopg.Error as exc:
            raise DatabaseError(f"decision lookup: {exc}") from exc
        if row is None or not isinstance(row[0], dict):
            return None
        verdict: dict[str, Any] = row[0]
        return verdict
