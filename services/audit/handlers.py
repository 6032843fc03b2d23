"""Audit sink handler: decode a batch of audit events, chain and store it, dead-letter poison.

Each record is checked against the envelope (:class:`~shared.audit.events.AuditEvent`) and
stored whole, unknown fields included, as canonical JSON. Poison (not JSON, not an audit
event, text PostgreSQL cannot hold) goes to the dead-letter topic like every stage's. The
batch is stored in one database transaction *inside* the loop's Kafka transaction: the
offsets are committed only after the database committed, and a redelivered batch is skipped
by the store (see :mod:`shared.audit.store`). A database that stays down fails the batch
after a few tries: the worker exits and its restart resumes from the committed offsets.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Protocol

from services.audit.metrics import AuditMetrics
from shared.audit.chain import canonical_json, indexed_columns
from shared.audit.events import AuditEvent
from shared.audit.store import AppendResult, PendingEvent
from shared.broker import BatchHandler, Incoming, Outgoing
from shared.errors import DatabaseError, InvalidJSON, SchemaViolation
from shared.schemas import MAX_TEXT_BYTES, decode
from shared.stage import StageContext

__all__ = ["Appender", "AuditDeps", "build_handler", "pending_event"]

log = logging.getLogger("clearpath.audit")

#: Text in an event may exceed the request limit a little (masks, replaced characters).
MAX_EVENT_TEXT_BYTES: Final = 4 * MAX_TEXT_BYTES
_ATTEMPTS: Final = 5


class Appender(Protocol):
    """Where the batch goes: :class:`~shared.audit.store.AuditStore` (a fake in tests)."""

    def append(self, events: Sequence[PendingEvent], *, recorded_at: datetime) -> AppendResult: ...


@dataclass(frozen=True)
class AuditDeps:
    """What the sink's handler needs."""

    store: Appender
    ctx: StageContext
    metrics: AuditMetrics
    sleep: Callable[[float], None] = time.sleep


def _refuse_constant(constant: str) -> float:
    raise InvalidJSON(f"not valid JSON: {constant} is not a number")


def _check_storable(value: Any) -> None:
    """PostgreSQL keeps neither NUL nor lone surrogates in text or jsonb."""
    if isinstance(value, str):
        if "\x00" in value or any("\ud800" <= c <= "\udfff" for c in value):
            raise SchemaViolation("event holds a NUL or a lone surrogate, which cannot be stored")
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_storable(key)
            _check_storable(item)
    elif isinstance(value, list):
        for item in value:
            _check_storable(item)


def pending_event(record: Incoming) -> PendingEvent:
    """``record`` as an event to store; a PoisonMessage when it cannot be one."""
    event = decode(record.value, AuditEvent, max_text_bytes=MAX_EVENT_TEXT_BYTES)
    assert record.value is not None  # decode refuses a tombstone
    document = json.loads(record.value, parse_constant=_refuse_constant)
    _check_storable(document)
    return PendingEvent(
        partition=record.partition,
        offset=record.offset,
        canonical=canonical_json(document),
        columns=indexed_columns(event),
    )


def build_handler(deps: AuditDeps) -> BatchHandler:
    ctx, metrics = deps.ctx, deps.metrics

    def store(events: Sequence[PendingEvent]) -> AppendResult:
        """Append, retrying a failed transaction a few times (it rolled back: safe to redo)."""
        attempt = 0
        while True:
            try:
                return deps.store.append(events, recorded_at=ctx.clock())
            except DatabaseError as exc:
                attempt += 1
                if attempt >= _ATTEMPTS:
                    raise
                log.warning("audit append failed (try %d): %s", attempt, exc)
                deps.sleep(min(0.2 * 2**attempt, 3.0))

    def handle(batch: Sequence[Incoming]) -> list[Outgoing]:
        ctx.dead_lettered = []
        outputs: list[Outgoing] = []
        events: list[PendingEvent] = []
        for record in batch:
            try:
                events.append(pending_event(record))
            except Exception as exc:
                outputs.append(ctx.dead(record, exc))
        if events:
            result = store(events)
            for kind, count in result.recorded.items():
                metrics.recorded.labels(metrics.kind_label(kind)).inc(count)
            for reason, count in result.skipped.items():
                metrics.skipped.labels(reason).inc(count)
        return outputs

    return handle
