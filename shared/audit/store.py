"""The audit store (PostgreSQL): append a batch to the per-partition chains, apply retention.

Appending is idempotent and safe with several sink replicas. One database transaction per
batch; per partition, in ascending order (so two replicas never deadlock), it locks the
chain head row (``SELECT ... FOR UPDATE``), skips what is already stored — records at or
below the head's ``last_offset`` (a redelivered batch) and events whose ``event_id`` is
stored (a producer's retry) — and chains the rest after the head. The offset skip relies on
what Kafka guarantees a consumer group: a partition's records are handed out in offset order,
from the committed offset, and the sink commits offsets only after storing; so every record
at or below ``last_offset`` was stored or dead-lettered before. The sink commits its Kafka
offsets only after this transaction commits, so a crash in between redelivers a batch that
this skip makes harmless, and a replica that lost the partition in a rebalance can never
fork the chain: it waits on the lock, then finds the rows stored.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

import psycopg
from psycopg_pool import ConnectionPool

from shared.audit.chain import GENESIS, extend_chain
from shared.errors import DatabaseError, InfrastructureError

__all__ = ["AppendResult", "AuditStore", "OffsetReuse", "PendingEvent", "describe"]

#: Rows one retention transaction deletes at most (appends wait on the head lock meanwhile).
_DELETE_CHUNK: Final = 5000


class OffsetReuse(InfrastructureError):
    """A redelivered offset holds another event than the one stored for it: the topic was
    recreated (offsets restarted) while the database kept its chains. Not retried."""


def describe(exc: psycopg.Error) -> str:
    """A database error without its DETAIL (which can quote a failing row, text and all)."""
    primary = exc.diag.message_primary or type(exc).__name__
    return f"{primary} (SQLSTATE {exc.sqlstate})" if exc.sqlstate else primary


@dataclass(frozen=True, slots=True)
class PendingEvent:
    """A decoded audit record ready to store: where it came from and what gets hashed."""

    partition: int
    offset: int
    canonical: str
    columns: dict[str, Any]

    @property
    def event_id(self) -> str:
        return str(self.columns["event_id"])


@dataclass
class AppendResult:
    """What one append did: kinds recorded, and records skipped by reason."""

    recorded: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)

    def add(self, other: AppendResult) -> None:
        self.recorded.update(other.recorded)
        self.skipped.update(other.skipped)


_INSERT_HEAD = """
INSERT INTO audit_chain_heads
    (topic, kafka_partition, seq, hash, last_offset, anchor_seq, anchor_prev_hash, updated_at)
VALUES (%s, %s, 0, %s, -1, 1, %s, %s)
ON CONFLICT DO NOTHING
"""
_LOCK_HEAD = """
SELECT seq, hash, last_offset, anchor_seq FROM audit_chain_heads
WHERE topic = %s AND kafka_partition = %s FOR UPDATE
"""
_INSERT_ROW = """
INSERT INTO audit_events
    (topic, kafka_partition, seq, kafka_offset, event_id, kind, tenant_id, request_id, action,
     profile, decided_at, recorded_at, prev_hash, hash, canonical, event)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb)
"""


class AuditStore:
    """The chains of one audit topic in PostgreSQL (see the module docstring)."""

    def __init__(self, pool: ConnectionPool, *, topic: str) -> None:
        self.pool = pool
        self.topic = topic

    def append(self, events: Sequence[PendingEvent], *, recorded_at: datetime) -> AppendResult:
        """Store ``events`` (any partitions, offset order within each) in one transaction."""
        by_partition: dict[int, list[PendingEvent]] = {}
        for event in events:
            by_partition.setdefault(event.partition, []).append(event)
        result = AppendResult()
        try:
            with self.pool.connection() as conn, conn.transaction():
                for partition in sorted(by_partition):
                    ordered = sorted(by_partition[partition], key=lambda e: e.offset)
                    result.add(self._append(conn, partition, ordered, recorded_at))
        except psycopg.Error as exc:
            raise DatabaseError(f"audit append failed: {describe(exc)}") from exc
        return result

    def _append(
        self,
        conn: psycopg.Connection,
        partition: int,
        events: list[PendingEvent],
        recorded_at: datetime,
    ) -> AppendResult:
        conn.execute(_INSERT_HEAD, (self.topic, partition, GENESIS, GENESIS, recorded_at))
        head = conn.execute(_LOCK_HEAD, (self.topic, partition)).fetchone()
        assert head is not None  # inserted above or already there; rows are never deleted
        head_seq, head_hash, last_offset = int(head[0]), bytes(head[1]), int(head[2])
        result = AppendResult()
        stale = [e for e in events if e.offset <= last_offset]
        if stale:
            self._check_redelivered(conn, partition, stale)
            result.skipped["redelivered"] += len(stale)
        fresh = [e for e in events if e.offset > last_offset]
        stored = self._stored_event_ids(conn, [e.event_id for e in fresh])
        chained: list[PendingEvent] = []
        for event in fresh:
            if event.event_id in stored:
                result.skipped["duplicate_event"] += 1
                continue
            stored.add(event.event_id)
            chained.append(event)
        links = extend_chain(partition, head_seq, head_hash, [e.canonical for e in chained])
        with conn.cursor() as cursor:
            cursor.executemany(
                _INSERT_ROW,
                [
                    (
                        self.topic,
                        partition,
                        link.seq,
                        event.offset,
                        event.event_id,
                        event.columns["kind"],
                        event.columns["tenant_id"],
                        event.columns["request_id"],
                        event.columns["action"],
                        event.columns["profile"],
                        event.columns["decided_at"],
                        recorded_at,
                        link.prev_hash,
                        link.hash,
                        event.canonical,
                        event.canonical,
                    )
                    for event, link in zip(chained, links, strict=True)
                ],
            )
        if links:
            head_seq, head_hash = links[-1].seq, links[-1].hash
        if fresh:
            conn.execute(
                "UPDATE audit_chain_heads SET seq = %s, hash = %s, last_offset = %s, "
                "updated_at = %s WHERE topic = %s AND kafka_partition = %s",
                (head_seq, head_hash, fresh[-1].offset, recorded_at, self.topic, partition),
            )
        result.recorded.update(str(e.columns["kind"]) for e in chained)
        return result

    def _check_redelivered(
        self, conn: psycopg.Connection, partition: int, stale: list[PendingEvent]
    ) -> None:
        rows = conn.execute(
            "SELECT kafka_offset, event_id FROM audit_events WHERE topic = %s "
            "AND kafka_partition = %s AND kafka_offset = ANY(%s)",
            (self.topic, partition, [e.offset for e in stale]),
        ).fetchall()
        stored = {int(offset): str(event_id) for offset, event_id in rows}
        for event in stale:
            held = stored.get(event.offset)
            if held is not None and held != event.event_id:
                raise OffsetReuse(
                    f"{self.topic}[{partition}] offset {event.offset} is stored with another "
                    "event: the topic was recreated; refusing to skip or fork the chain"
                )

    def _stored_event_ids(self, conn: psycopg.Connection, ids: list[str]) -> set[str]:
        if not ids:
            return set()
        rows = conn.execute(
            "SELECT event_id FROM audit_events WHERE event_id = ANY(%s)", (ids,)
        ).fetchall()
        return {str(row[0]) for row in rows}

    def delete_expired(self, *, before: datetime) -> int:
        """Delete each chain's oldest rows recorded before ``before``; the rows deleted.

        Always a prefix of the chain: the head's anchor moves to the first row kept and
        remembers the hash that row links to, so verification starts there.
        """
        deleted = 0
        try:
            with self.pool.connection() as conn:
                partitions = [
                    int(row[0])
                    for row in conn.execute(
                        "SELECT kafka_partition FROM audit_chain_heads WHERE topic = %s",
                        (self.topic,),
                    ).fetchall()
                ]
                for partition in partitions:
                    while True:
                        with conn.transaction():
                            count = self._delete_chunk(conn, partition, before)
                        deleted += count
                        if count < _DELETE_CHUNK:
                            break
        except psycopg.Error as exc:
            raise DatabaseError(f"audit retention failed: {describe(exc)}") from exc
        return deleted

    def _delete_chunk(self, conn: psycopg.Connection, partition: int, before: datetime) -> int:
        head = conn.execute(_LOCK_HEAD, (self.topic, partition)).fetchone()
        if head is None:
            return 0
        anchor_seq = int(head[3])
        expired = conn.execute(
            "SELECT max(seq) FROM audit_events WHERE topic = %s AND kafka_partition = %s "
            "AND recorded_at < %s",
            (self.topic, partition, before),
        ).fetchone()
        if expired is None or expired[0] is None:
            return 0
        cut = min(int(expired[0]), anchor_seq + _DELETE_CHUNK - 1)
        row = conn.execute(
            "SELECT hash FROM audit_events WHERE topic = %s AND kafka_partition = %s AND seq = %s",
            (self.topic, partition, cut),
        ).fetchone()
        if row is None:
            return 0  # a gap where the cut falls: leave it for verification to report
        removed = conn.execute(
            "DELETE FROM audit_events WHERE topic = %s AND kafka_partition = %s AND seq <= %s",
            (self.topic, partition, cut),
        ).rowcount
        conn.execute(
            "UPDATE audit_chain_heads SET anchor_seq = %s, anchor_prev_hash = %s "
            "WHERE topic = %s AND kafka_partition = %s",
            (cut + 1, bytes(row[0]), self.topic, partition),
        )
        return max(0, removed)
