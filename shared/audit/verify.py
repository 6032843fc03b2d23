"""Verifying stored chains: read each partition's rows and run :func:`verify_chain` over them.

Each partition is read in one repeatable-read, read-only transaction, so the chain head and
the rows are one consistent snapshot while the sink keeps appending. The full range runs
from the retention anchor (the oldest retained row: rows before it were deleted by
retention and are outside what can be proven) to the chain head. A narrower range (seq or
recorded_at bounds) links its first row to the row before it.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import psycopg

from shared.audit.chain import ChainBreak, ChainStart, StoredRow, Verification, verify_chain
from shared.audit.store import describe
from shared.errors import DatabaseError

__all__ = ["PartitionReport", "VerifiedLink", "partitions_of", "verify_partition", "verify_topic"]

_FETCH: Final = 2000
_COLUMNS: Final = (
    "seq, kafka_offset, prev_hash, hash, canonical, event, "
    "event_id, kind, tenant_id, request_id, action, profile, decided_at"
)
_INDEXED: Final = ("event_id", "kind", "tenant_id", "request_id", "action", "profile", "decided_at")


@dataclass(frozen=True, slots=True)
class VerifiedLink:
    """A row known good: verification of later rows may start after it (the sink's watermark)."""

    seq: int
    hash: bytes
    offset: int


@dataclass(frozen=True, slots=True)
class PartitionReport:
    """One partition's verification: the chain's bounds, the range checked, the outcome."""

    topic: str
    partition: int
    head_seq: int | None
    anchor_seq: int | None
    from_seq: int | None
    to_seq: int | None
    result: Verification

    @property
    def intact(self) -> bool:
        return self.result.intact

    @property
    def verified_through(self) -> VerifiedLink | None:
        """The last row checked, when the range verified intact and held rows."""
        result = self.result
        if (
            not result.intact
            or result.last_seq is None
            or result.last_hash is None
            or result.last_offset is None
        ):
            return None
        return VerifiedLink(result.last_seq, result.last_hash, result.last_offset)

    def to_dict(self) -> dict[str, Any]:
        broken = self.result.broken
        return {
            "topic": self.topic,
            "partition": self.partition,
            "intact": self.intact,
            "anchor_seq": self.anchor_seq,
            "head_seq": self.head_seq,
            "from_seq": self.from_seq,
            "to_seq": self.to_seq,
            "rows_checked": self.result.checked,
            "broken": None
            if broken is None
            else {"seq": broken.seq, "reason": broken.reason, "detail": broken.detail},
        }


def partitions_of(conn: psycopg.Connection, topic: str) -> list[int]:
    """Partitions with a chain head or with rows (a head deleted by hand still shows)."""
    heads = conn.execute(
        "SELECT kafka_partition FROM audit_chain_heads WHERE topic = %s", (topic,)
    ).fetchall()
    # A loose index scan over the primary key: distinct partitions without reading every row.
    rows = conn.execute(
        """
        WITH RECURSIVE p AS (
            (SELECT kafka_partition FROM audit_events WHERE topic = %(t)s
             ORDER BY kafka_partition LIMIT 1)
            UNION ALL
            SELECT (SELECT e.kafka_partition FROM audit_events e
                    WHERE e.topic = %(t)s AND e.kafka_partition > p.kafka_partition
                    ORDER BY e.kafka_partition LIMIT 1)
            FROM p WHERE p.kafka_partition IS NOT NULL
        )
        SELECT kafka_partition FROM p WHERE kafka_partition IS NOT NULL
        """,
        {"t": topic},
    ).fetchall()
    return sorted({int(r[0]) for r in heads} | {int(r[0]) for r in rows})


def verify_topic(
    conn: psycopg.Connection,
    topic: str,
    *,
    partitions: list[int] | None = None,
    from_seq: int | None = None,
    to_seq: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    after: Mapping[int, VerifiedLink] | None = None,
) -> list[PartitionReport]:
    """Verify every chain of ``topic`` (or ``partitions``), within the bounds given."""
    try:
        chosen = partitions if partitions is not None else partitions_of(conn, topic)
        conn.commit()
        return [
            verify_partition(
                conn,
                topic,
                partition,
                from_seq=from_seq,
                to_seq=to_seq,
                since=since,
                until=until,
                after=(after or {}).get(partition),
            )
            for partition in chosen
        ]
    except psycopg.Error as exc:
        raise DatabaseError(f"audit verification failed: {describe(exc)}") from exc


def verify_partition(
    conn: psycopg.Connection,
    topic: str,
    partition: int,
    *,
    from_seq: int | None = None,
    to_seq: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    after: VerifiedLink | None = None,
) -> PartitionReport:
    """Verify one chain; ``after``: start past a row already verified (incremental checks)."""
    conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    conn.read_only = True
    try:
        with conn.transaction():
            return _verify(conn, topic, partition, from_seq, to_seq, since, until, after)
    finally:
        conn.isolation_level = None
        conn.read_only = None


def _verify(
    conn: psycopg.Connection,
    topic: str,
    partition: int,
    from_seq: int | None,
    to_seq: int | None,
    since: datetime | None,
    until: datetime | None,
    after: VerifiedLink | None,
) -> PartitionReport:
    head = conn.execute(
        "SELECT seq, hash, anchor_seq, anchor_prev_hash FROM audit_chain_heads "
        "WHERE topic = %s AND kafka_partition = %s",
        (topic, partition),
    ).fetchone()

    def report(lo: int | None, hi: int | None, result: Verification) -> PartitionReport:
        head_seq, anchor_seq = (int(head[0]), int(head[2])) if head is not None else (None, None)
        return PartitionReport(topic, partition, head_seq, anchor_seq, lo, hi, result)

    if head is None:
        stray = conn.execute(
            "SELECT 1 FROM audit_events WHERE topic = %s AND kafka_partition = %s LIMIT 1",
            (topic, partition),
        ).fetchone()
        if stray is None:  # no chain here (yet): nothing to prove
            return report(None, None, Verification(partition, 0, None, None, None))
        broken = ChainBreak(0, "deleted", "the chain head is missing (rows without a head)")
        return report(None, None, _broken(partition, broken))
    head_seq, head_hash, anchor_seq = int(head[0]), bytes(head[1]), int(head[2])
    anchor_prev = bytes(head[3])
    outside = conn.execute(
        "SELECT min(seq) FROM audit_events WHERE topic = %s AND kafka_partition = %s "
        "AND (seq > %s OR seq < %s)",
        (topic, partition, head_seq, anchor_seq),
    ).fetchone()
    if outside is not None and outside[0] is not None:
        detail = "row outside the chain (before its anchor or after its head): inserted"
        broken = ChainBreak(int(outside[0]), "modified", detail)
        return report(None, None, _broken(partition, broken))

    lo, hi = anchor_seq, head_seq
    if from_seq is not None:
        lo = max(lo, from_seq)
    if to_seq is not None:
        hi = min(hi, to_seq)
    if since is not None:
        lo = max(lo, _bound(conn, "min", ">=", topic, partition, since, default=head_seq + 1))
    if until is not None:
        hi = min(hi, _bound(conn, "max", "<=", topic, partition, until, default=anchor_seq - 1))
    if after is not None and after.seq + 1 > lo and after.seq >= anchor_seq:
        lo = after.seq + 1
    if lo > hi and not (lo == anchor_seq and hi == head_seq):
        return report(lo, hi, Verification(partition, 0, None, None, None))  # empty range

    if lo == anchor_seq:
        start = ChainStart(anchor_seq, anchor_prev, anchor=True)
    elif after is not None and after.seq == lo - 1:
        start = ChainStart(lo, after.hash, after.offset)
    else:
        before = conn.execute(
            "SELECT hash, kafka_offset FROM audit_events WHERE topic = %s "
            "AND kafka_partition = %s AND seq = %s",
            (topic, partition, lo - 1),
        ).fetchone()
        if before is None:
            broken = ChainBreak(lo - 1, "deleted", f"seq {lo - 1} missing (gap in the chain)")
            return report(lo, hi, _broken(partition, broken))
        start = ChainStart(lo, bytes(before[0]), int(before[1]))
    rows = _rows(conn, topic, partition, lo, hi)
    try:
        result = verify_chain(
            partition,
            rows,
            start=start,
            end_seq=hi,
            end_hash=head_hash if hi == head_seq else None,
        )
    finally:
        rows.close()  # closes the server-side cursor while its transaction is open
    return report(lo, hi, result)


def _broken(partition: int, broken: ChainBreak) -> Verification:
    return Verification(partition, 0, None, None, None, None, broken)


def _bound(
    conn: psycopg.Connection,
    agg: str,
    op: str,
    topic: str,
    partition: int,
    moment: datetime,
    *,
    default: int,
) -> int:
    """The first (``min``, ``>=``) or last (``max``, ``<=``) seq recorded around ``moment``."""
    query = (
        f"SELECT {agg}(seq) FROM audit_events WHERE topic = %s AND kafka_partition = %s "
        f"AND recorded_at {op} %s"
    )
    row = conn.execute(query.encode(), (topic, partition, moment)).fetchone()
    return default if row is None or row[0] is None else int(row[0])


def _rows(
    conn: psycopg.Connection, topic: str, partition: int, lo: int, hi: int
) -> Generator[StoredRow, None, None]:
    """Rows ``lo..hi`` in seq order, streamed through a server-side cursor."""
    query = (
        f"SELECT {_COLUMNS} FROM audit_events WHERE topic = %s AND kafka_partition = %s "
        "AND seq BETWEEN %s AND %s ORDER BY seq"
    )
    with conn.cursor(name="audit_verify") as cursor:
        cursor.itersize = _FETCH
        cursor.execute(query.encode(), (topic, partition, lo, hi))
        for row in cursor:
            yield StoredRow(
                seq=int(row[0]),
                kafka_offset=int(row[1]),
                prev_hash=bytes(row[2]),
                hash=bytes(row[3]),
                canonical=str(row[4]),
                event=row[5],
                columns=dict(zip(_INDEXED, row[6:], strict=True)),
            )
