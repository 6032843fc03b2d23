"""The ``appeals`` table (migration 0002): appeals, the review queue and the outcome outbox."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from datetime import datetime
from typing import Any, Literal, Protocol

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from shared.core.appeals import AppealOutcome, OutcomeReason, ReviewOutcome
from shared.errors import DatabaseError
from shared.schemas import Action, Purpose

__all__ = ["AppealRecord", "AppealStore", "PostgresAppealStore", "ReviewOutcome"]


@dataclass(frozen=True, slots=True)
class AppealRecord:
    """One appeal as stored: its automatic outcome and, once decided, the review."""

    appeal_id: str
    tenant_id: str
    request_id: str
    token_id: str
    profile: str
    category: str | None
    policy_ref: str | None
    purpose: Purpose | None
    statement: str | None
    original_action: Action
    reconsidered_action: Action | None
    outcome: AppealOutcome
    reason: OutcomeReason
    request_text: str | None
    created_at: datetime
    review_outcome: ReviewOutcome | None = None
    review_note: str | None = None
    reviewer: str | None = None
    reviewed_at: datetime | None = None
    outcome_published_at: datetime | None = None
    review_published_at: datetime | None = None

    @property
    def status(self) -> Literal["decided", "queued"]:
        """``queued`` while a reviewer still has to decide, else ``decided``."""
        return "queued" if self.outcome == "queued" and self.review_outcome is None else "decided"

    @property
    def final_outcome(self) -> AppealOutcome:
        """The reviewer's outcome when there is one, else the automatic one."""
        return self.review_outcome or self.outcome


_COLUMNS = tuple(f.name for f in fields(AppealRecord))
_SELECT = ", ".join(_COLUMNS)


def _record(row: dict[str, Any]) -> AppealRecord:
    return AppealRecord(**{name: row[name] for name in _COLUMNS})


class AppealStore(Protocol):
    """What the appeal service needs from storage (PostgreSQL in production)."""

    def insert(self, record: AppealRecord) -> tuple[AppealRecord, bool]: ...
    def get(self, *, tenant_id: str, appeal_id: str) -> AppealRecord | None: ...
    def queue(
        self, *, tenant_id: str, limit: int, after: str | None = None
    ) -> list[AppealRecord]: ...
    def review(
        self,
        *,
        tenant_id: str,
        appeal_id: str,
        outcome: ReviewOutcome,
        note: str | None,
        reviewer: str,
        now: datetime,
    ) -> AppealRecord | None: ...
    def mark_published(
        self, appeal_id: str, *, which: Literal["outcome", "review"], now: datetime
    ) -> None: ...
    def unpublished(self, *, limit: int) -> list[AppealRecord]: ...


class PostgresAppealStore:
    """:class:`AppealStore` on a psycopg connection pool."""

    def __init__(self, pool: ConnectionPool) -> None:
        self._pool = pool

    def insert(self, record: AppealRecord) -> tuple[AppealRecord, bool]:
        """Store ``record``; ``(stored, True)``, or the existing appeal with that id and False."""
        values = [getattr(record, name) for name in _COLUMNS]
        placeholders = ", ".join(["%s"] * len(_COLUMNS))
        rows = self._run(
            f"INSERT INTO appeals ({_SELECT}) VALUES ({placeholders}) "
            f"ON CONFLICT (appeal_id) DO NOTHING RETURNING {_SELECT}",
            values,
        )
        if rows:
            return _record(rows[0]), True
        existing = self._run(
            f"SELECT {_SELECT} FROM appeals WHERE appeal_id = %s", [record.appeal_id]
        )
        if not existing:
            raise DatabaseError(f"appeal {record.appeal_id} neither inserted nor found")
        return _record(existing[0]), False

    def get(self, *, tenant_id: str, appeal_id: str) -> AppealRecord | None:
        rows = self._run(
            f"SELECT {_SELECT} FROM appeals WHERE tenant_id = %s AND appeal_id = %s",
            [tenant_id, appeal_id],
        )
        return _record(rows[0]) if rows else None

    def queue(self, *, tenant_id: str, limit: int, after: str | None = None) -> list[AppealRecord]:
        """Appeals waiting for review, oldest first; ``after`` an appeal id (keyset paging)."""
        where = "tenant_id = %s AND outcome = 'queued' AND review_outcome IS NULL"
        params: list[object] = [tenant_id]
        if after is not None:
            where += (
                " AND (created_at, appeal_id) > (SELECT created_at, appeal_id FROM appeals"
                " WHERE appeal_id = %s AND tenant_id = %s)"
            )
            params += [after, tenant_id]
        rows = self._run(
            f"SELECT {_SELECT} FROM appeals WHERE {where} ORDER BY created_at, appeal_id LIMIT %s",
            [*params, limit],
        )
        return [_record(r) for r in rows]

    def review(
        self,
        *,
        tenant_id: str,
        appeal_id: str,
        outcome: ReviewOutcome,
        note: str | None,
        reviewer: str,
        now: datetime,
    ) -> AppealRecord | None:
        """Decide a queued appeal (once); the decided record, or None if it is not waiting.

        The request text is erased with the decision: only the review needed it.
        """
        rows = self._run(
            "UPDATE appeals SET review_outcome = %s, review_note = %s, reviewer = %s, "
            "reviewed_at = %s, request_text = NULL "
            "WHERE tenant_id = %s AND appeal_id = %s AND outcome = 'queued' "
            f"AND review_outcome IS NULL RETURNING {_SELECT}",
            [outcome, note, reviewer, now, tenant_id, appeal_id],
        )
        return _record(rows[0]) if rows else None

    def mark_published(
        self, appeal_id: str, *, which: Literal["outcome", "review"], now: datetime
    ) -> None:
        column = "outcome_published_at" if which == "outcome" else "review_published_at"
        self._run(
            f"UPDATE appeals SET {column} = COALESCE({column}, %s) WHERE appeal_id = %s "
            f"RETURNING appeal_id",
            [now, appeal_id],
        )

    def unpublished(self, *, limit: int) -> list[AppealRecord]:
        """Outcomes not yet on Kafka, oldest first (the outbox relay's work)."""
        rows = self._run(
            f"SELECT {_SELECT} FROM appeals WHERE outcome_published_at IS NULL "
            "OR (review_outcome IS NOT NULL AND review_published_at IS NULL) "
            "ORDER BY created_at LIMIT %s",
            [limit],
        )
        return [_record(r) for r in rows]

    def _run(self, sql: str, params: Sequence[object]) -> list[dict[str, Any]]:
        try:
            with self._pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
                cur.execute(sql.encode(), params)
                return cur.fetchall() if cur.description is not None else []
        except psycopg.Error as exc:
            raise DatabaseError(f"appeal store: {exc}") from exc


def without_text(record: AppealRecord) -> AppealRecord:
    """``record`` less the request text (what leaves for anyone but a reviewer)."""
    return replace(record, request_text=None)
