"""Audit trail helpers for integration and e2e tests: events, the sink process, clean-up."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row

from shared.audit.chain import canonical_json, indexed_columns
from shared.audit.events import AuditEvent
from shared.audit.store import PendingEvent
from shared.launch import WorkerProcess, start_worker, stop_workers, wait_ready

__all__ = [
    "audit_document",
    "audit_rows",
    "document_of",
    "drop_chains",
    "pending",
    "running_sink",
    "wait_for_rows",
]


def audit_document(i: int, **extra: Any) -> dict[str, Any]:
    """A well-formed audit event (kind ``verdict`` envelope plus a payload field)."""
    return {
        "schema_version": 1,
        "event_id": f"{uuid.uuid4()}",
        "kind": "verdict",
        "source": "test",
        "tenant_id": "t-audit",
        "request_id": f"req-{i}",
        "action": "refuse" if i % 3 == 0 else "allow",
        "profile": "public_assistant",
        "decided_at": "2025-01-02T03:04:05Z",
        "scores": {"violence": round(i / 1000, 3)},
        **extra,
    }


def pending(partition: int, offset: int, document: Mapping[str, Any]) -> PendingEvent:
    """``document`` as the sink would hand it to the store."""
    return PendingEvent(
        partition=partition,
        offset=offset,
        canonical=canonical_json(document),
        columns=indexed_columns(AuditEvent.model_validate(document)),
    )


def audit_rows(url: str, topic: str) -> list[dict[str, Any]]:
    """Every stored row of ``topic``, by partition then seq."""
    with psycopg.connect(url) as conn, conn.cursor(row_factory=dict_row) as cur:
        cur.execute(
            "SELECT kafka_partition, seq, kafka_offset, event_id, request_id, kind, canonical, "
            "event, prev_hash, hash FROM audit_events WHERE topic = %s "
            "ORDER BY kafka_partition, seq",
            (topic,),
        )
        return list(cur.fetchall())


def drop_chains(url: str, topic: str) -> None:
    """Remove ``topic``'s rows and chain heads (a test's clean-up)."""
    with psycopg.connect(url) as conn:
        conn.execute("DELETE FROM audit_events WHERE topic = %s", (topic,))
        conn.execute("DELETE FROM audit_chain_heads WHERE topic = %s", (topic,))


def wait_for_rows(url: str, topic: str, count: int, *, timeout_s: float = 120) -> int:
    """Poll until ``topic`` has at least ``count`` rows (bounded); the count last seen."""
    deadline = time.monotonic() + timeout_s
    seen = 0
    while time.monotonic() < deadline:
        with psycopg.connect(url) as conn:
            row = conn.execute(
                "SELECT count(*) FROM audit_events WHERE topic = %s", (topic,)
            ).fetchone()
        seen = int(row[0]) if row else 0
        if seen >= count:
            return seen
        time.sleep(0.3)
    return seen


@contextmanager
def running_sink(env: Mapping[str, str], log_dir: Path) -> Iterator[WorkerProcess]:
    """The audit sink as a process (``env`` names Kafka, PostgreSQL and the topic suffix)."""
    worker = start_worker("audit", env=env, log_dir=log_dir)
    try:
        wait_ready([worker])
        yield worker
    finally:
        stop_workers([worker])


def document_of(row: Mapping[str, Any]) -> dict[str, Any]:
    """A stored row's hashed event."""
    parsed: dict[str, Any] = json.loads(row["canonical"])
    return parsed
