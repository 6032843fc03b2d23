"""The audit sink's handler over a fake store: canonical text, poison, retries, metrics."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

import pytest
from prometheus_client import CollectorRegistry

from services.audit.handlers import AuditDeps, build_handler, pending_event
from services.audit.metrics import AuditMetrics
from shared.audit.chain import canonical_json
from shared.audit.store import AppendResult, PendingEvent
from shared.broker import BatchHandler, Incoming
from shared.errors import DatabaseError
from shared.schemas import DeadLetter, decode
from shared.stage import StageContext
from tests.support.factories import NOW

TOPIC = "clearpath.audit.v1.test"
DEADLETTER = "clearpath.deadletter.v1.test"


def _event(i: int, **extra: object) -> bytes:
    document = {
        "event_id": f"ev-{i}",
        "kind": "verdict",
        "source": "response",
        "tenant_id": "t1",
        "request_id": f"r-{i}",
        "action": "allow",
        "profile": "public_assistant",
        "decided_at": "2025-01-02T03:04:05Z",
        "zeta": "kept",
        **extra,
    }
    return json.dumps(document, indent=1).encode()


def _record(offset: int, value: bytes | None) -> Incoming:
    return Incoming(TOPIC, 1, offset, b"k", value, 0)


class FakeStore:
    def __init__(self, *, failures: int = 0) -> None:
        self.failures = failures
        self.batches: list[list[PendingEvent]] = []

    def append(self, events: Sequence[PendingEvent], *, recorded_at: datetime) -> AppendResult:
        if self.failures:
            self.failures -= 1
            raise DatabaseError("connection lost")
        self.batches.append(list(events))
        result = AppendResult()
        result.recorded.update(str(e.columns["kind"]) for e in events)
        return result


def _handler(store: FakeStore) -> tuple[StageContext, AuditMetrics, BatchHandler]:
    ctx = StageContext(stage="audit", deadletter_topic=DEADLETTER, clock=lambda: NOW)
    metrics = AuditMetrics.create(CollectorRegistry())
    handler = build_handler(AuditDeps(store=store, ctx=ctx, metrics=metrics, sleep=lambda _s: None))
    return ctx, metrics, handler


def test_events_are_stored_whole_as_canonical_json_with_their_columns() -> None:
    event = pending_event(_record(7, _event(1)))
    assert event.canonical == canonical_json(json.loads(_event(1)))
    assert '"zeta":"kept"' in event.canonical  # unknown fields are kept and hashed
    assert (event.partition, event.offset, event.event_id) == (1, 7, "ev-1")
    assert event.columns["decided_at"].tzinfo is not None


def test_poison_is_dead_lettered_and_the_rest_stored() -> None:
    store = FakeStore()
    ctx, metrics, handle = _handler(store)
    batch = [
        _record(0, _event(0)),
        _record(1, b"{not json"),
        _record(2, _event(2, kind="Bad Kind")),
        _record(3, _event(3, request_id="nul\u0000inside")),
        _record(4, _event(4).replace(b'"kept"', b"NaN")),
        _record(5, _event(5)),
        _record(6, None),
    ]
    outputs = handle(batch)
    assert [e.offset for e in store.batches[0]] == [0, 5]
    letters = [decode(o.value, DeadLetter) for o in outputs]
    assert all(o.topic == DEADLETTER for o in outputs)
    assert [(d.offset, d.error_type) for d in letters] == [
        (1, "invalid_json"),
        (2, "schema_violation"),
        (3, "schema_violation"),
        (4, "invalid_json"),
        (6, "invalid_json"),
    ]
    assert ctx.dead_lettered == [d.error_type for d in letters]
    assert metrics.recorded.labels("verdict")._value.get() == 2


def test_a_failing_database_is_retried_then_surfaces() -> None:
    store = FakeStore(failures=2)
    _, _, handle = _handler(store)
    assert handle([_record(0, _event(0))]) == []
    assert len(store.batches) == 1
    _, _, handle = _handler(FakeStore(failures=99))
    with pytest.raises(DatabaseError):
        handle([_record(0, _event(0))])
