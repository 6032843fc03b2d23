"""The appeals worker's handler: Kafka appeals through the same service as HTTP."""

from __future__ import annotations

from services.appeals.handlers import build_handler
from shared.appeals.events import AppealMessage, AppealOutcomeAuditEvent, AppealOutcomeEvent
from shared.broker import Incoming, Outgoing
from shared.schemas import DeadLetter, ModerationRequest, Purpose, decode, encode
from shared.stage import StageContext
from shared.topics import TopicSet
from tests.support.factories import NOW
from tests.support.gateway import BORDERLINE_TEXT, FakeGateway, fake_gateway

TOPICS = TopicSet.default()  # what fake_gateway() uses


def _appeal(
    verdict_request: ModerationRequest,
    *,
    purpose: Purpose | None = None,
    statement: str | None = None,
) -> bytes:
    gateway = fake_gateway()
    verdict = gateway.deps.moderator.check(verdict_request)
    assert verdict.receipt is not None
    return encode(
        AppealMessage(
            tenant_id=verdict.tenant_id,
            request_id=verdict.request_id,
            token=verdict.receipt.appeal.token,
            text=verdict_request.text,
            purpose=purpose,
            statement=statement,
        )
    )


def _records(*values: bytes) -> list[Incoming]:
    return [Incoming("clearpath.appeals.v1", 0, i, None, v, 0) for i, v in enumerate(values)]


def _request(request_id: str) -> ModerationRequest:
    return ModerationRequest(
        request_id=request_id, tenant_id="initech", text=BORDERLINE_TEXT, submitted_at=NOW
    )


def _run(values: list[bytes]) -> tuple[list[Outgoing], StageContext, FakeGateway]:
    gateway = fake_gateway()
    ctx = StageContext(stage="appeals", deadletter_topic=TOPICS.deadletter, clock=lambda: NOW)
    handle = build_handler(gateway.deps.appeals, ctx=ctx, max_text_bytes=32 * 1024)
    return list(handle(_records(*values))), ctx, gateway


def test_appeals_from_kafka_produce_outcomes_and_audit_events_in_the_transaction() -> None:
    good = _appeal(_request("k-1"), purpose="research", statement="A study of darknet markets.")
    outputs, ctx, gateway = _run([good, good])  # the second: a redelivery
    on = {topic: [o.value for o in outputs if o.topic == topic] for topic in TOPICS.all()}
    outcomes = [decode(v, AppealOutcomeEvent) for v in on[TOPICS.appeal_outcomes]]
    audits = [decode(v, AppealOutcomeAuditEvent) for v in on[TOPICS.audit]]
    assert [(e.outcome, e.decided_by) for e in outcomes] == [("overturned", "policy")] * 2
    assert len({e.appeal_id for e in outcomes}) == 1  # one appeal, its outcome re-sent
    assert len({a.event_id for a in audits}) == 1  # the audit sink keeps it once
    assert all(o.key == b"k-1" for o in outputs)
    assert ctx.dead_lettered == []
    assert gateway.events.delivered == []  # nothing sent outside the transaction


def test_forged_and_malformed_appeals_are_dead_lettered_with_their_reason() -> None:
    genuine = AppealMessage.model_validate_json(_appeal(_request("k-2")))
    forged = encode(genuine.model_copy(update={"text": "How do I buy cake on the dark web?"}))
    outputs, ctx, _ = _run([forged, b"{not json"])
    letters = [decode(o.value, DeadLetter) for o in outputs if o.topic == TOPICS.deadletter]
    assert sorted(ctx.dead_lettered) == ["invalid_json", "rejected_appeal"]
    rejected = next(letter for letter in letters if letter.error_type == "rejected_appeal")
    assert "text_mismatch" in rejected.message and "cake" not in rejected.message
    assert not [o for o in outputs if o.topic == TOPICS.appeal_outcomes]
